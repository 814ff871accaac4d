"""Reading a user's text files (parallel text, bAbI stories, predict's input) line by line.

A file that is not UTF-8 is an error naming the file, the line and the column of the first
undecodable byte, not a bare ``UnicodeDecodeError`` with a byte offset.
"""

from __future__ import annotations

from pathlib import Path


def decode_lines(data: bytes, name: str) -> list[str]:
    """UTF-8 ``data`` -> its lines without line endings (``\\n``, ``\\r\\n`` or ``\\r``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line, column = data.count(b"\n", 0, error.start) + 1, error.start - line_start + 1
        raise ValueError(f"{name}: line {line} is not UTF-8 text (byte 0x{data[error.start]:02x} at column "
                         f"{column}); convert it, e.g. iconv -f latin1 -t utf-8") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def read_lines(path: str | Path, what: str = "file") -> list[str]:
    """The lines of a UTF-8 text file; ``what`` names it in the not-found error."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{what} not found: {file}")
    return decode_lines(file.read_bytes(), str(file))
