"""Inputs the demo offers to try at once, made by the project's own generators (nothing is
downloaded): a clip of each generated action, DTMF key strings, and a generated story. They are
what the default configs train on, so a model trained on them gets them right."""

from __future__ import annotations

import random
from pathlib import Path

from seq2seq.media import write_audio, write_video
from seq2seq.synthetic_audio import render_utterance, sample_utterance
from seq2seq.synthetic_qa import sample_questions
from seq2seq.synthetic_video import ACTIONS, render_clip, sample_clip

CLIP_FRAMES, CLIP_SIZE, CLIP_FPS = 16, 64, 8.0  # as configs/action_recognition.yaml's clips


def example_clips(directory: Path, seed: int = 0) -> list[str]:
    """One clip of each generated action, ``directory/<action>.mp4`` (written once, then reused)."""
    rng, paths = random.Random(seed), []
    for action in ACTIONS:
        path = directory / f"{action.replace(' ', '_')}.mp4"
        spec = sample_clip(rng, action, frames=CLIP_FRAMES, frame_size=CLIP_SIZE)
        if not path.is_file():
            write_video(path, render_clip(spec, frames=CLIP_FRAMES, frame_size=CLIP_SIZE), fps=CLIP_FPS)
        paths.append(str(path))
    return paths


def example_utterances(directory: Path, count: int = 4, seed: int = 0) -> list[str]:
    """``count`` generated DTMF key strings, ``directory/keys_<keys>.wav``: the keys are the transcript."""
    rng, paths = random.Random(seed), []
    for _ in range(count):
        spec = sample_utterance(rng, min_keys=2, max_keys=6)
        path = directory / f"keys_{spec.keys.replace('*', 'star').replace('#', 'hash')}.wav"
        if not path.is_file():
            write_audio(path, render_utterance(spec), sampling_rate=spec.sampling_rate)
        paths.append(str(path))
    return paths


def example_stories(count: int = 3, seed: int = 0) -> list[list[str]]:
    """``count`` (story, question) pairs of the generated question answering task, a sentence a line."""
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < count:
        row = sample_questions(rng, min_statements=3, max_statements=8, per_story=1)[0]
        pairs.append(["\n".join(row["context_sentences"]), row["question"]])
    return pairs
