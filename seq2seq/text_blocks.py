"""Text for language modelling: a plain-text file split by characters, and texts cut into blocks.

A language model trains on blocks of ``block_size`` characters: every document (a row's text
column) is cut into consecutive blocks, each a training example. A block that a later one continues
ends without eos (``continues``); a document's last block ends with eos, so the model learns
where texts end. Blocks are cut on characters, before tokenization, so a block is never split
inside a character and its tokens are at most ``block_size``.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from seq2seq.text_files import decode_lines

TEXT_COLUMN = "text"


def read_text_file(path: str | Path, *, valid_fraction: float) -> datasets.DatasetDict:
    """One UTF-8 text file as a ``train`` and a ``validation`` split (column ``text``, one row
    each): the first ``1 - valid_fraction`` of its characters and the rest, the usual split of
    a single-text corpus (char-rnn, nanoGPT's shakespeare_char)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"data.path: text file not found: {file}")
    if not 0 < valid_fraction < 1:
        raise ValueError(f"data.valid_fraction must be in (0, 1) (the share of the text held out), "
                         f"got {valid_fraction}")
    data = file.read_bytes()
    decode_lines(data, str(file))  # a file that is not UTF-8: an error naming the line
    text = data.decode("utf-8").replace("\r\n", "\n")
    split = int(len(text) * (1 - valid_fraction))
    if split == 0 or split == len(text):
        raise ValueError(f"{file}: {len(text)} characters are too few to hold out {valid_fraction:g} of them")
    return datasets.DatasetDict({"train": datasets.Dataset.from_dict({TEXT_COLUMN: [text[:split]]}),
                                 "validation": datasets.Dataset.from_dict({TEXT_COLUMN: [text[split:]]})})


def cut_texts(texts: list[str], block_size: int) -> tuple[list[str], list[bool]]:
    """Each text cut into blocks of ``block_size`` characters (0: kept whole), and for each block
    whether the next one continues its text."""
    blocks, continues = [], []
    for text in texts:
        if not text:
            continue
        size = block_size or len(text)
        starts = range(0, len(text), size)
        blocks.extend(text[start : start + size] for start in starts)
        continues.extend(start + size < len(text) for start in starts)
    return blocks, continues


def cut_into_blocks(rows: datasets.Dataset | datasets.IterableDataset, column: str,
                    block_size: int) -> datasets.Dataset | datasets.IterableDataset:
    """``rows`` as blocks (columns ``text`` and ``continues``) of the text in ``column``."""
    if column not in (rows.column_names or [column]):
        raise KeyError(f"the data has no text column {column!r} (it has {', '.join(rows.column_names)}); "
                       f"map it with data.columns.target")

    def cut(batch: dict[str, list]) -> dict[str, list]:
        texts = batch[column]
        if any(not isinstance(text, str) for text in texts):
            bad = next(text for text in texts if not isinstance(text, str))
            raise TypeError(f"column {column!r} must hold text; a row holds {type(bad).__name__}")
        blocks, continues = cut_texts(texts, block_size)
        return {TEXT_COLUMN: blocks, "continues": continues}

    return rows.map(cut, batched=True, remove_columns=rows.column_names)
