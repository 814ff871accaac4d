"""Generated audio-visual clips whose label needs both streams: the motion and the beeps.

Each .mp4 shows a shape moving left, right, up or down (``synthetic_video``'s clips) and has a
soundtrack of one, two or three beeps at random times, pitches and levels over noise. The label
names both, e.g. ``left two``: the video alone can tell the direction but not the count, the audio
the count but not the direction. With classes balanced, a video-only model can score at most a
third and an audio-only model at most a quarter; a model that fuses both can score 100 %.
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
from seq2seq.media import write_video
from seq2seq.synthetic_video import ClipSpec, render_clip, sample_clip

DIRECTIONS = ("left", "right", "up", "down")
COUNTS = ("one", "two", "three")
LABELS = tuple(f"{direction} {count}" for direction in DIRECTIONS for count in COUNTS)
GENERATOR_VERSION = 1  # raised whenever rendering changes, so older files are never reused


@dataclass
class SoundtrackSpec:
    """Beeps: start times and durations in seconds, pitches in Hz, levels in [0, 1]."""

    starts: list[float]
    durations: list[float]
    pitches: list[float]
    levels: list[float]
    noise: float
    noise_seed: int


def sample_soundtrack(rng: random.Random, beeps: int, seconds: float) -> SoundtrackSpec:
    """``beeps`` non-overlapping beeps of 80-200 ms with at least 80 ms of silence between them."""
    durations = [rng.uniform(0.08, 0.2) for _ in range(beeps)]
    slack = seconds - sum(durations) - 0.08 * (beeps + 1)
    cuts = sorted(rng.uniform(0, slack) for _ in range(beeps))
    starts, time = [], 0.08
    for index, duration in enumerate(durations):
        starts.append(time + cuts[index])
        time += duration + 0.08
    return SoundtrackSpec(starts=starts, durations=durations, pitches=[rng.uniform(400, 2000) for _ in range(beeps)],
                          levels=[rng.uniform(0.2, 0.6) for _ in range(beeps)], noise=rng.uniform(0.0, 0.03),
                          noise_seed=rng.getrandbits(62))


def render_soundtrack(spec: SoundtrackSpec, *, seconds: float, sampling_rate: int) -> torch.Tensor:
    """The waveform (N,): sine beeps with 5 ms ramps (no clicks) over white noise."""
    waveform = torch.zeros(round(seconds * sampling_rate))
    ramp = max(1, round(0.005 * sampling_rate))
    for start, duration, pitch, level in zip(spec.starts, spec.durations, spec.pitches, spec.levels, strict=True):
        first, count = round(start * sampling_rate), round(duration * sampling_rate)
        t = torch.arange(count) / sampling_rate
        envelope = torch.ones(count)
        envelope[:ramp] = torch.linspace(0, 1, ramp)
        envelope[-ramp:] = torch.linspace(1, 0, ramp)
        waveform[first : first + count] += level * envelope * torch.sin(2 * math.pi * pitch * t)
    noise = torch.randn(waveform.shape, generator=torch.Generator().manual_seed(spec.noise_seed))
    return (waveform + spec.noise * noise).clamp(-1.0, 1.0)


def make_audio_visual_corpus(directory: str | Path, sizes: dict[str, int], *, seed: int = 1234, frames: int = 16,
                             frame_size: int = 32, fps: float = 8.0, sampling_rate: int = 16000) -> DatasetDict:
    """Write balanced clips of every label as ``directory/<split>/<index>.mp4`` (video + soundtrack).

    Returns a DatasetDict with ``video`` (the file path; its audio track is the soundtrack) and
    ``label`` columns per split. A directory written with the same settings is reused.
    """
    directory = Path(directory)
    settings = {"version": GENERATOR_VERSION, "sizes": sizes, "seed": seed, "frames": frames,
                "frame_size": frame_size, "fps": fps, "sampling_rate": sampling_rate}
    seconds = frames / fps
    splits = {}
    with corpus_directory(directory, settings, key="clips") as corpus:
        for split, size in sizes.items():
            rng = random.Random(f"{seed}:{split}")
            labels = [LABELS[i % len(LABELS)] for i in range(size)]
            rng.shuffle(labels)
            specs: list[tuple[ClipSpec, SoundtrackSpec]] = []
            for label in labels:
                direction, count = label.split()
                specs.append((sample_clip(rng, f"moving {direction}", frames=frames, frame_size=frame_size),
                              sample_soundtrack(rng, COUNTS.index(count) + 1, seconds)))
            paths = [directory / split / f"{index:05d}.mp4" for index in range(size)]
            if not corpus.complete(paths):
                for path, (clip, sound) in tqdm(zip(paths, specs, strict=True), total=size, desc=f"writing {split}"):
                    write_video(path, render_clip(clip, frames=frames, frame_size=frame_size), fps=fps,
                                audio=render_soundtrack(sound, seconds=seconds, sampling_rate=sampling_rate),
                                sampling_rate=sampling_rate)
            splits[split] = Dataset.from_dict({"video": [str(p) for p in paths], "label": labels})
            corpus.contents[split] = [{"clip": asdict(clip), "soundtrack": asdict(sound)} for clip, sound in specs]
    return DatasetDict(splits)
