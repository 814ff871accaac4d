"""Reading the bAbI question-answering format (Weston et al., 2015).

Each line is ``ID text``; IDs restart at 1 where a new story starts. A question line is
``ID question<TAB>answer<TAB>supporting fact IDs`` and is answered from the story's statements up
to that point (questions are not statements). Answers may be several words joined by commas
(``apple,football``); they stay text. Supporting fact IDs are turned into positions in the
question's list of context sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict

from seq2seq.text_files import read_lines

_LINE = re.compile(r"^(\d+) (.*)$")
_FILE = re.compile(r"^qa(\d+)_(?:.*_)?(train|valid|test)\.txt$")
SPLITS = {"train": "train", "valid": "validation", "test": "test"}


def parse_babi(lines: Iterable[str], source: str = "bAbI") -> list[dict[str, Any]]:
    """One row per question: ``context_sentences`` (the story so far), ``context`` (them joined by
    spaces), ``question``, ``answer``, ``supporting_facts`` (positions in ``context_sentences``)
    and ``story`` (the story's number in the file, from 0). Malformed lines are errors naming
    ``source`` and the line number."""
    rows: list[dict[str, Any]] = []
    sentences: list[str] = []
    position_of: dict[int, int] = {}  # statement ID -> its position in ``sentences``
    previous, story = 0, -1
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{source}:{number}: expected 'ID text', got {line[:60]!r}")
        line_id, text = int(match.group(1)), match.group(2)
        if line_id == 1:
            sentences, position_of, story = [], {}, story + 1
        elif line_id != previous + 1:
            raise ValueError(f"{source}:{number}: line ID {line_id} follows {previous} (IDs count up from 1 per story)")
        previous = line_id
        if "\t" not in text:
            position_of[line_id] = len(sentences)
            sentences.append(text.strip())
            continue
        fields = text.split("\t")
        if len(fields) < 2 or not fields[1].strip():
            raise ValueError(f"{source}:{number}: a question line needs 'question<TAB>answer<TAB>fact IDs'")
        facts = fields[2].split() if len(fields) > 2 else []
        try:
            supporting = [position_of[int(fact)] for fact in facts]
        except (KeyError, ValueError):
            raise ValueError(f"{source}:{number}: supporting facts {facts} are not statements of this story") from None
        rows.append({"context_sentences": list(sentences), "context": " ".join(sentences),
                     "question": fields[0].strip(), "answer": fields[1].strip(), "supporting_facts": supporting,
                     "story": story})
    return rows


def held_out(story: int, fraction: float) -> bool:
    """Whether story number ``story`` goes to the held-out split: ``fraction`` of the stories,
    spread evenly through the file (with 0.1, every tenth), the same on every machine."""
    return int((story + 1) * fraction) > int(story * fraction)


def read_babi(path: str | Path, tasks: Iterable[int] = (), valid_fraction: float = 0.0) -> DatasetDict:
    """A folder of ``qaN_..._{train,valid,test}.txt`` files, or one such file, -> a DatasetDict
    (train/validation/test) over its tasks (``tasks``: these numbers only; empty: all), with a
    ``task`` column (N). One file gives the split its name says (``train`` when it says none).

    ``valid_fraction``: a task with a training file and no validation file (en-10k, or one
    training file) gives that fraction of its training stories, whole stories, to the validation
    split (``held_out``)."""
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"the bAbI validation fraction must be in [0, 1), got {valid_fraction}")
    path, tasks = Path(path), set(tasks)
    if not path.exists():
        raise FileNotFoundError(f"bAbI file or folder not found: {path}")
    splits: dict[str, list[dict[str, Any]]] = {}
    files = {}
    if path.is_file():
        match = _FILE.match(path.name)
        files[int(match.group(1)) if match else 0, SPLITS[match.group(2)] if match else "train"] = path
    for file in sorted(path.iterdir(), key=lambda f: (len(f.name), f.name)) if path.is_dir() else []:
        match = _FILE.match(file.name)
        if match and (not tasks or int(match.group(1)) in tasks):
            files[int(match.group(1)), SPLITS[match.group(2)]] = file
    for (task, split), file in files.items():
        rows = [{**row, "task": task} for row in parse_babi(read_lines(file), str(file))]
        if split == "train" and valid_fraction and (task, "validation") not in files:
            splits.setdefault("validation", []).extend(row for row in rows if held_out(row["story"], valid_fraction))
            rows = [row for row in rows if not held_out(row["story"], valid_fraction)]
        splits.setdefault(split, []).extend(rows)
    if not splits:
        wanted = f" for tasks {sorted(tasks)}" if tasks else ""
        raise ValueError(f"{path} has no bAbI files{wanted} named qaN_..._train.txt / _valid.txt / _test.txt")
    return DatasetDict({split: Dataset.from_list(rows) for split, rows in splits.items()})
