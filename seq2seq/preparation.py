"""Row -> example rules shared by map-style (``data.py``) and streamed (``streaming.py``) data.

The two prepare examples at different times (map-style once, with a cached ``Dataset.map``; a
stream as it is read), but by the same rules, written here once so that they cannot drift:
which inputs a row must give, the length and duration limits, what counts as an unreadable
media file, the bucketing cost, and how an example's augmentation is seeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

# A media file that cannot be used: a broken one (ValueError from the decoders), or one that is
# missing or unreadable (OSError). With data.skip_bad_examples such an example is dropped and
# counted; without, the error names the file.
UNREADABLE = (ValueError, OSError)

NO_LABEL = "no label"  # why an example whose target is None (a ClassLabel's -1) is dropped
# Why examples are dropped, the names under which both kinds of data count them.
DROP_REASONS = {"unreadable": "unreadable media (data.skip_bad_examples)",
                "unlabelled": "no label (a ClassLabel's -1, or an empty target)",
                "length": "longer than data.max_source_length / max_target_length tokens",
                "duration": "outside data.min_duration_seconds / max_duration_seconds"}


def check_inputs_present(example: dict[str, Any], processors: dict[str, Any], columns: Iterable[str]) -> None:
    """Every input the model reads is in the example, or an error says which column to map."""
    missing = [name for name in processors if name not in example]
    if missing:
        raise KeyError(f"the dataset rows have no column for the input '{missing[0]}' (columns: "
                       f"{', '.join(columns)}); map one with data.columns.{missing[0]}")


def fits_length_limits(example: dict[str, Any], text_inputs: list[str], processors: dict[str, Any], *,
                       max_source_length: int = 0, max_target_length: int = 0) -> bool:
    """Whether an example's text inputs and target (eos included) are within the token limits
    (0 = no limit): longer training pairs are dropped, never truncated."""
    if max_source_length and any(processors[name].num_tokens(example[name]) > max_source_length
                                 for name in text_inputs):
        return False
    return not max_target_length or len(example.get("tgt_ids") or ()) + 1 <= max_target_length


def drop_reason(row: dict[str, Any], text_inputs: list[str], processors: dict[str, Any], *,
                max_source_length: int, max_target_length: int, timed: list[str],
                durations: tuple[float, float]) -> str:
    """Why a prepared map-style row is dropped (a ``DROP_REASONS`` key), or "" when it is kept.
    ``bad`` holds its preparation message; ``timed`` inputs have their ``<name>_seconds``."""
    if row["bad"]:
        return "unlabelled" if row["bad"] == NO_LABEL else "unreadable"
    if not fits_length_limits(row, text_inputs, processors, max_source_length=max_source_length,
                              max_target_length=max_target_length):
        return "length"
    return "" if all(within(row[f"{name}_seconds"], *durations) for name in timed) else "duration"


def within(seconds: float, minimum: float, maximum: float) -> bool:
    """Whether a duration is inside the limits (0 = no limit)."""
    return (not minimum or seconds >= minimum) and (not maximum or seconds <= maximum)


def media_seconds(processor: Any, value: Any, name: str) -> float:
    """How long an audio or video input lasts, in seconds (a video without a frame rate: at the
    processor's ``source_fps``)."""
    from seq2seq.media import load_audio, load_video_and_fps

    if processor.kind == "audio":
        waveform, rate = load_audio(value, name)
        return waveform.numel() / rate
    frames, fps = load_video_and_fps(value, name)
    return frames.size(0) / (fps or processor.source_fps)


def describe_input(value: Any, name: str, index: int) -> str:
    """How an error names a media input: its file when it has one, else the input and row."""
    path = value.get("path") if isinstance(value, dict) else value if isinstance(value, (str, Path)) else None
    return f"{name} {path}" if path else f"{name} of row {index}"


def bucketing_cost(text_sizes: list[int], target_length: int | None) -> int:
    """An example's cost for length bucketing: its longest text input or target (eos included),
    in tokens. Examples without a text input (a clip: every one has the processor's frame count)
    all cost 1, and their targets are not used either: batches sorted by target length would hold
    only some of the classes (all one-word labels, say), which stalls training."""
    if not text_sizes:
        return 1
    return max(text_sizes + ([target_length + 1] if target_length is not None else []))


def augmentation_generator(*key: int) -> torch.Generator:
    """The generator an example's augmentation draws from, seeded by ``key`` (seed, epoch, the
    example's position...), so that a resumed run draws what an uninterrupted one did."""
    return torch.Generator().manual_seed(hash(key) % 2**63)
