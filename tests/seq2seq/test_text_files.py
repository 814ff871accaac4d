import pytest

from seq2seq.text_files import decode_lines, read_lines


def test_lines_come_without_their_endings_whatever_the_convention():
    assert decode_lines(b"eins\nzwei\r\ndrei\rvier\n", "f") == ["eins", "zwei", "drei", "vier"]
    assert decode_lines(b"a\n\nb", "f") == ["a", "", "b"]  # blank lines stay: files are line-aligned
    assert decode_lines("über\u2028alles\n".encode(), "f") == ["über\u2028alles"]  # no split inside a line
    assert decode_lines(b"", "f") == []


def test_a_file_that_is_not_utf8_is_named_with_its_line_and_column(tmp_path):
    path = tmp_path / "train.de"
    path.write_bytes("Hallo\nSchöne Grüße\n".encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^{path}: line 2 is not UTF-8 text \(byte 0xf6 at column 4\)"):
        read_lines(path)
    with pytest.raises(FileNotFoundError, match="data file not found: .*missing.de"):
        read_lines(tmp_path / "missing.de", "data file")
