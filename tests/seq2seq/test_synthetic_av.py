"""The generated audio-visual clips: one .mp4 with both streams, and a label that needs both."""

import json
import random

import torch

from seq2seq.media import load_audio, read_video
from seq2seq.synthetic_av import LABELS, make_audio_visual_corpus, render_soundtrack, sample_soundtrack


def _beeps(waveform: torch.Tensor, rate: int) -> int:
    """Bursts of energy (20 ms frames well above the noise floor), counted."""
    frames = waveform[: len(waveform) // 160 * 160].view(-1, 160).pow(2).mean(dim=1).sqrt()
    loud = (frames > 0.05).int().tolist()
    return sum(1 for a, b in zip([0, *loud], loud[:], strict=False) if b and not a)


def test_a_soundtrack_has_its_number_of_separate_beeps():
    rng = random.Random(0)
    for beeps in (1, 2, 3) * 5:
        spec = sample_soundtrack(rng, beeps, 2.0)
        assert _beeps(render_soundtrack(spec, seconds=2.0, sampling_rate=8000), 8000) == beeps
        ends = [s + d for s, d in zip(spec.starts, spec.durations, strict=True)]
        assert all(next_start - end >= 0.08 - 1e-9 for end, next_start in zip(ends, spec.starts[1:], strict=False))


def test_clips_carry_the_motion_in_the_video_and_the_count_in_the_soundtrack(tmp_path):
    dataset = make_audio_visual_corpus(tmp_path, {"train": 24, "validation": 12}, frames=8, frame_size=32)
    assert sorted(set(dataset["train"]["label"])) == sorted(LABELS)  # balanced: every label twice
    manifest = json.loads((tmp_path / "manifest.json").read_text())["clips"]["train"]
    for row, spec in list(zip(dataset["train"], manifest, strict=True))[:6]:
        frames, fps = read_video(row["video"])
        assert frames.shape == (8, 3, 32, 32) and fps == 8.0
        waveform, rate = load_audio(row["video"], sampling_rate=16000)  # the file's own soundtrack
        direction, count = row["label"].split()
        assert spec["clip"]["action"] == f"moving {direction}"
        assert _beeps(waveform, rate) == ("one", "two", "three").index(count) + 1
