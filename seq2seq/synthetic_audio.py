"""Generated speech-recognition-style audio: DTMF keypad tones (ITU-T Q.23) for random key strings.

Each key is the sum of one low ("row") and one high ("column") sine tone. An utterance is 1-12
random keys with random tone and gap durations (Q.24 asks receivers to accept tones from 40 ms),
levels, background noise and sampling rate; its transcription is the key string. ``make_dtmf_corpus``
writes the utterances as real .wav files, so training exercises audio decoding as users' data would.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict
from tqdm.auto import tqdm

from seq2seq.corpus_files import corpus_directory
from seq2seq.media import write_audio

ROWS = (697, 770, 852, 941)  # Hz, ITU-T Q.23
COLUMNS = (1209, 1336, 1477, 1633)
KEYPAD = ("123A", "456B", "789C", "*0#D")
FREQUENCIES = {key: (ROWS[r], COLUMNS[c]) for r, row in enumerate(KEYPAD) for c, key in enumerate(row)}
SAMPLING_RATES = (8000, 11025, 16000)
GENERATOR_VERSION = 1  # raised whenever rendering changes, so older files are never reused


@dataclass
class UtteranceSpec:
    """Everything that determines an utterance; durations in seconds, levels in [0, 1]."""

    keys: str
    tones: list[float]
    gaps: list[float]  # before each key, and one after the last
    levels: list[float]
    noise: float
    sampling_rate: int
    noise_seed: int


def sample_utterance(rng: random.Random, *, min_keys: int = 1, max_keys: int = 12) -> UtteranceSpec:
    count = rng.randint(min_keys, max_keys)
    return UtteranceSpec(
        keys="".join(rng.choice(list(FREQUENCIES)) for _ in range(count)),
        tones=[rng.uniform(0.04, 0.12) for _ in range(count)],
        gaps=[rng.uniform(0.04, 0.15) for _ in range(count + 1)],
        levels=[rng.uniform(0.1, 0.45) for _ in range(count)],
        noise=rng.uniform(0.0, 0.03),
        sampling_rate=rng.choice(SAMPLING_RATES),
        noise_seed=rng.getrandbits(62),
    )


def render_utterance(spec: UtteranceSpec) -> torch.Tensor:
    """The waveform (N,) in [-1, 1]: silence, key, silence, ..., with white noise throughout."""
    rate, parts = spec.sampling_rate, []
    for key, tone, gap, level in zip(spec.keys, spec.tones, spec.gaps[:-1], spec.levels, strict=True):
        parts.append(torch.zeros(round(gap * rate)))
        t = torch.arange(round(tone * rate)) / rate
        low, high = FREQUENCIES[key]
        parts.append(level * (torch.sin(2 * math.pi * low * t) + torch.sin(2 * math.pi * high * t)) / 2)
    parts.append(torch.zeros(round(spec.gaps[-1] * rate)))
    waveform = torch.cat(parts)
    noise = torch.randn(waveform.shape, generator=torch.Generator().manual_seed(spec.noise_seed))
    return (waveform + spec.noise * noise).clamp(-1.0, 1.0)


def make_dtmf_corpus(directory: str | Path, sizes: dict[str, int], *, seed: int = 1234, min_keys: int = 1,
                     max_keys: int = 12) -> DatasetDict:
    """Write utterances of ``min_keys``-``max_keys`` keys as ``directory/<split>/<index>.wav``; a
    DatasetDict with ``audio`` (the file path) and ``text`` (the key string) per split. A directory
    written with the same settings is reused (its ``manifest.json`` says so)."""
    directory = Path(directory)
    settings = {"version": GENERATOR_VERSION, "sizes": sizes, "seed": seed}
    if (min_keys, max_keys) != (1, 12):  # the default's settings stay as before, so its files are reused
        settings["keys"] = [min_keys, max_keys]
    splits = {}
    with corpus_directory(directory, settings, key="utterances") as corpus:
        for split, size in sizes.items():
            rng = random.Random(f"{seed}:{split}")
            specs = [sample_utterance(rng, min_keys=min_keys, max_keys=max_keys) for _ in range(size)]
            paths = [directory / split / f"{index:05d}.wav" for index in range(size)]
            if not corpus.complete(paths):
                for path, spec in tqdm(zip(paths, specs, strict=True), total=size, desc=f"writing {split}"):
                    write_audio(path, render_utterance(spec), sampling_rate=spec.sampling_rate)
            splits[split] = Dataset.from_dict({"audio": [str(p) for p in paths], "text": [s.keys for s in specs]})
            corpus.contents[split] = [asdict(spec) for spec in specs]
    return DatasetDict(splits)
