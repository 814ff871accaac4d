"""The directory of a generated corpus: written once, reused by every run with the same settings.

Each generator (``synthetic_audio``, ``synthetic_video``, ``synthetic_av``, ``spoken_digits``)
writes its files under a directory with a ``manifest.json`` that records the settings they were
made with (and what each file holds). Several processes of one launch, or several runs, may ask
for the same corpus at once: an exclusive lock on the directory lets one write while the others
wait and then reuse its files, and the manifest is replaced atomically, so it is never read half
written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
LOCK = ".lock"


class CorpusDirectory:
    """Inside ``corpus_directory``: whether the files may be reused, and what to record."""

    def __init__(self, directory: Path, settings: dict[str, Any], reuse: bool):
        self.directory, self.settings, self.reuse = directory, settings, reuse
        self.contents: dict[str, list] = {}  # split -> what each of its files holds

    def complete(self, paths: list[Path]) -> bool:
        """Whether these files were written with the same settings and are all there."""
        return self.reuse and all(path.is_file() for path in paths)


@contextlib.contextmanager
def corpus_directory(directory: str | Path, settings: dict[str, Any], *, key: str) -> Iterator[CorpusDirectory]:
    """Hold ``directory`` exclusively while a corpus is checked or written; on leaving, record
    ``settings`` and ``corpus.contents`` (under ``key``) in the manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
        manifest = directory / MANIFEST
        try:
            reuse = json.loads(manifest.read_text())["settings"] == settings
        except (OSError, ValueError, KeyError, TypeError):
            reuse = False
        if not reuse:
            manifest.unlink(missing_ok=True)  # files half rewritten must not pass for the old ones
        corpus = CorpusDirectory(directory, settings, reuse)
        yield corpus
        staging = directory / f".{MANIFEST}.{os.getpid()}"
        staging.write_text(json.dumps({"settings": settings, key: corpus.contents}))
        os.replace(staging, manifest)
