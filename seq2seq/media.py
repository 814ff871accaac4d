"""Reading media files with torchcodec (FFmpeg), with errors that name the file.

Video processors sample, resize and normalise what ``read_video`` returns; this module only
decodes, so every way a file can be bad is reported in one place.
"""

from __future__ import annotations

from pathlib import Path

import torch


class MediaError(ValueError):
    """A media file is unreadable, corrupt, empty or not what was expected."""


def read_video(path: str | Path) -> tuple[torch.Tensor, float]:
    """All frames of a video file as uint8 (T, C, H, W) RGB, and its average frame rate."""
    from torchcodec.decoders import VideoDecoder

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    if path.stat().st_size == 0:
        raise MediaError(f"video file {path} is empty (0 bytes)")
    try:
        decoder = VideoDecoder(str(path))
        frames = decoder.get_frames_in_range(0, len(decoder)).data
    except (RuntimeError, ValueError) as error:
        raise MediaError(f"cannot decode video {path}: {error}") from error
    if frames.size(0) == 0:
        raise MediaError(f"video {path} has no frames")
    return frames, float(decoder.metadata.average_fps or 0.0)


def write_video(path: str | Path, frames: torch.Tensor, *, fps: float, crf: int = 18) -> None:
    """Encode uint8 (T, C, H, W) RGB frames as H.264 into ``path`` (.mp4, .mkv, ...)."""
    from torchcodec.encoders import VideoEncoder

    if frames.dtype != torch.uint8 or frames.dim() != 4 or frames.size(1) != 3:
        raise MediaError(f"frames must be uint8 (T, 3, H, W), got {tuple(frames.shape)} {frames.dtype}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # x264's macroblock-tree rate control gave different files for the same frames when encoding
    # many clips in one process (measured: up to 8 distinct files in 8 encodes); without it the
    # output is reproducible, so a seeded generated dataset is the same on every run.
    VideoEncoder(frames.contiguous(), frame_rate=fps).to_file(
        str(path), codec="libx264", crf=crf, extra_options={"x264-params": "no-mbtree=1"})
