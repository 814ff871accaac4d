"""Cache keys for prepared data: everything that determines ``data.prepare_dataset``'s output.

Prepared data outlives runs and code versions (``~/.cache/seq2seq/prepared``, or ``datasets``'
cache next to the files), so its key covers the rows, the files they name, the tokenizer, the
processors, the task's row mapping, the filters and the version of the preparation code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets

from seq2seq.tokenization import Tokenizer

# Raised whenever prepare_dataset's output changes: caches outlive runs (and code versions).
PREPARED_VERSION = 4


def media_files_digest(dataset: datasets.Dataset) -> str:
    """A digest of the size and modification time of every file the dataset's text columns name.

    Rows of media often hold only paths (generated corpora, class folders, FSDD, a user's CSV), so
    the rows' own fingerprint stays the same when the files behind them are replaced or rendered
    anew: the files must be part of the cache key, or stale features would be read. A column
    counts as paths when its first value is an existing file; a stat per file is cheap."""
    digest = hashlib.sha256()
    for name, feature in dataset.features.items():
        if not (isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")) \
                or len(dataset) == 0:
            continue
        column = dataset.select_columns([name])
        first = column[0][name]
        if not (isinstance(first, str) and len(first) < 4096 and Path(first).is_file()):
            continue
        for path in column[name]:
            try:
                stat = Path(path).stat()
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            except (OSError, TypeError, ValueError):
                digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:16]


def preprocessing_fingerprint(dataset: datasets.Dataset, tokenizer: Tokenizer, processors: dict[str, Any],
                              to_example: Callable[[dict[str, Any]], dict[str, Any]], *settings: Any) -> str:
    """A cache key covering everything that determines the prepared output.

    That is the rows (the dataset's own fingerprint), the files they name (size and modification
    time, :func:`media_files_digest`), the tokenizer's models, every input's
    processor, the task's row mapping (hashed by ``datasets`` the way it hashes any ``map``
    function: its code and the values it closes over, such as the column names) and the other
    ``settings``. SentencePiece processors cannot be hashed that way, so the tokenizer and the
    processors contribute their own fingerprints.
    """
    from datasets.fingerprint import Hasher

    parts = [f"v{PREPARED_VERSION}", dataset._fingerprint, media_files_digest(dataset), tokenizer.fingerprint,
             *(f"{name}={processor.fingerprint}" for name, processor in processors.items()),
             Hasher.hash(to_example), *map(repr, settings)]
    return hashlib.sha256("-".join(parts).encode()).hexdigest()[:16]
