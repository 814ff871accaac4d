"""The Free Spoken Digit Dataset (FSDD) as isolated digits, and connected digits made from it.

FSDD recordings are ``{digit}_{speaker}_{index}.wav`` (8 kHz). Its README leaves indices 0-4 as
the test set; indices 5-9 serve as validation and 10-49 as training (``split_of``). The test
split exists only when those files are present.

``make_connected_digits`` joins 2-6 recordings of one split with random gaps and levels over
background noise into one utterance whose transcription is the digit string ("4071"): a real
sequence task, and no recording appears in two splits.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from seq2seq.corpus_files import corpus_directory
from seq2seq.media import load_audio, write_audio

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SAMPLING_RATE = 8000
GENERATOR_VERSION = 1  # raised whenever rendering changes, so older files are never reused
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def split_of(index: int) -> str:
    return "test" if index < 5 else "validation" if index < 10 else "train"


def recordings_folder(path: str | Path) -> Path:
    """``path`` itself or its ``recordings/`` folder, whichever holds the .wav files."""
    root = Path(path)
    for folder in (root / "recordings", root):
        if folder.is_dir() and any(_NAME.match(p.name) for p in folder.iterdir()):
            return folder
    raise FileNotFoundError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {root} or {root}/recordings")


def list_recordings(path: str | Path) -> dict[str, list[tuple[Path, int]]]:
    """split -> sorted [(file, digit)], by the file names' recording index."""
    splits: dict[str, list[tuple[Path, int]]] = {}
    for file in sorted(recordings_folder(path).iterdir()):
        match = _NAME.match(file.name)
        if match:
            splits.setdefault(split_of(int(match.group(3))), []).append((file, int(match.group(1))))
    return splits


def read_fsdd(path: str | Path) -> DatasetDict:
    """One row per recording: ``audio`` (the file), ``label`` (the digit word), ``digit``, ``speaker``."""
    splits = {}
    for split, recordings in list_recordings(path).items():
        splits[split] = Dataset.from_dict({
            "audio": [str(file) for file, _ in recordings],
            "label": [DIGIT_WORDS[digit] for _, digit in recordings],
            "digit": [str(digit) for _, digit in recordings],
            "speaker": [file.name.split("_")[1] for file, _ in recordings],
        })
    return DatasetDict(splits)


def _join(parts: list[torch.Tensor], rng: random.Random) -> torch.Tensor:
    """Recordings at random levels with 50-400 ms gaps (and 50-200 ms at the ends), over noise."""
    pieces = [torch.zeros(round(rng.uniform(0.05, 0.2) * SAMPLING_RATE))]
    for index, part in enumerate(parts):
        if index:
            pieces.append(torch.zeros(round(rng.uniform(0.05, 0.4) * SAMPLING_RATE)))
        pieces.append(part / part.abs().max().clamp(min=1e-3) * rng.uniform(0.2, 0.9))
    pieces.append(torch.zeros(round(rng.uniform(0.05, 0.2) * SAMPLING_RATE)))
    waveform = torch.cat(pieces)
    noise = torch.randn(waveform.shape, generator=torch.Generator().manual_seed(rng.getrandbits(62)))
    return (waveform + rng.uniform(0.0, 0.01) * noise).clamp(-1.0, 1.0)


def make_connected_digits(fsdd: str | Path, directory: str | Path, sizes: dict[str, int], *, seed: int = 1234,
                          min_digits: int = 2, max_digits: int = 6) -> DatasetDict:
    """Write ``sizes[split]`` utterances of ``min_digits``-``max_digits`` recordings drawn from that
    split only, as ``directory/<split>/<index>.wav``; a DatasetDict with ``audio`` and ``text`` (the
    digit string). Splits the FSDD copy lacks (test) are skipped. A directory written with the same
    settings and source is reused."""
    available = list_recordings(fsdd)
    directory = Path(directory)
    settings = {"version": GENERATOR_VERSION, "sizes": sizes, "seed": seed, "digits": [min_digits, max_digits],
                "source": str(recordings_folder(fsdd).resolve()),
                "recordings": {split: len(files) for split, files in available.items()}}
    if not set(sizes) & set(available):
        raise ValueError(f"none of the splits {', '.join(sizes)} has FSDD recordings in {fsdd}")
    splits = {}
    with corpus_directory(directory, settings, key="utterances") as corpus:
        for split, size in sizes.items():
            if split not in available:
                continue
            rng = random.Random(f"{seed}:{split}")
            chosen = [rng.choices(available[split], k=rng.randint(min_digits, max_digits)) for _ in range(size)]
            texts = ["".join(str(digit) for _, digit in utterance) for utterance in chosen]
            paths = [directory / split / f"{index:05d}.wav" for index in range(size)]
            if not corpus.complete(paths):
                for path, utterance in tqdm(zip(paths, chosen, strict=True), total=size, desc=f"writing {split}"):
                    parts = [load_audio(file, sampling_rate=SAMPLING_RATE)[0] for file, _ in utterance]
                    write_audio(path, _join(parts, rng), sampling_rate=SAMPLING_RATE)
            splits[split] = Dataset.from_dict({"audio": [str(p) for p in paths], "text": texts})
            corpus.contents[split] = [[file.name for file, _ in utterance] for utterance in chosen]
    return DatasetDict(splits)
