"""Video processor: decode, sample frames (spread over the clip, or at a target fps), resize/crop,
normalise.

``VideoProcessor(...)(video, train=False)`` -> float (num_frames, 3, frame_size, frame_size).
Evaluation is deterministic: the centre frame of each of ``num_frames`` equal segments, resized
(short side) and centre-cropped. Training draws a random frame within each segment (temporal
jitter), a random resized crop, and optionally a horizontal flip: only for labels that do not
depend on left and right (not for the generated "moving left/right" or "circling" clips).
The settings are saved as JSON with the model and are part of every preprocessing cache key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from seq2seq.media import MediaError, load_video, load_video_and_fps
from seq2seq.processors.padding import pad_in_time
from seq2seq.processors.settings import JsonSettings


@dataclass
class VideoProcessor(JsonSettings):
    num_frames: int = 16
    frame_size: int = 64
    min_frames: int = 2  # shorter clips are an error: motion needs at least two frames
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)
    crop_scale: tuple[float, float] = (0.7, 1.0)  # training: area kept by the random resized crop
    horizontal_flip: bool = False  # training only
    # 0: spread num_frames over the whole clip. > 0: take num_frames at this rate, a window of
    # num_frames / fps seconds (centred for evaluation, anywhere for training); clips shorter than
    # the window are spread over instead.
    fps: float = 0.0
    source_fps: float = 25.0  # the frame rate assumed for inputs without one (frame folders, strips, arrays)
    kind: str = field(default="video", init=False)
    cached = False  # decoded and sampled per access (train-time augmentation differs each epoch)

    def __post_init__(self) -> None:
        self.mean, self.std, self.crop_scale = tuple(self.mean), tuple(self.std), tuple(self.crop_scale)
        if self.num_frames < 1 or self.frame_size < 1 or self.min_frames < 1:
            raise ValueError(f"num_frames, frame_size and min_frames must be >= 1, got {self.to_dict()}")
        if self.fps < 0 or self.source_fps <= 0:
            raise ValueError(f"fps must be >= 0 and source_fps > 0, got fps={self.fps}, source_fps={self.source_fps}")

    # -- frames --------------------------------------------------------------------------------

    def sample_indices(self, length: int, *, train: bool = False, generator: torch.Generator | None = None,
                       source_fps: float | None = None) -> list[int]:
        """``num_frames`` indices into a clip of ``length`` frames recorded at ``source_fps``.

        Without ``fps``: spread evenly (repeating for short clips), the middle of each equal
        segment, or (training) a random point in it. With ``fps``: every ``source_fps / fps``-th
        frame of a window in the middle of the clip, or (training) at a random place."""
        step = (source_fps or self.source_fps) / self.fps if self.fps > 0 else 0.0
        if step and step * self.num_frames < length:
            room = length - step * self.num_frames
            start = float(torch.rand((), generator=generator)) * room if train else room / 2
            positions = start + step * (torch.arange(self.num_frames) + 0.5)
            return positions.floor().long().clamp(0, length - 1).tolist()
        bounds = torch.linspace(0, length, self.num_frames + 1)
        middle = torch.full((self.num_frames,), 0.5)
        offsets = torch.rand(self.num_frames, generator=generator) if train else middle
        positions = bounds[:-1] + offsets * (bounds[1:] - bounds[:-1])
        return positions.floor().long().clamp(0, length - 1).tolist()

    def _transform(self, train: bool):
        # Imported when a clip is transformed: a 2-second import that runs without video skip.
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        if train:
            spatial = [v2.RandomResizedCrop(self.frame_size, scale=self.crop_scale, antialias=True)]
            if self.horizontal_flip:
                spatial.append(v2.RandomHorizontalFlip())
        else:
            spatial = [v2.Resize(self.frame_size, antialias=True), v2.CenterCrop(self.frame_size)]
        transform = v2.Compose([*spatial, v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.mean, self.std)])
        return lambda frames: transform(tv_tensors.Video(frames))

    def __call__(self, video: Any, *, train: bool = False, generator: torch.Generator | None = None,
                 name: str = "video") -> torch.Tensor:
        """One clip -> float (num_frames, 3, frame_size, frame_size); ``name`` labels errors."""
        frames, fps = load_video_and_fps(video, name)
        if frames.size(0) < self.min_frames:
            raise MediaError(f"{name}: {frames.size(0)} frame(s), fewer than min_frames={self.min_frames}")
        frames = frames[self.sample_indices(frames.size(0), train=train, generator=generator, source_fps=fps)]
        # One set of random crop/flip parameters for the whole clip: the motion stays intact.
        # torchvision draws them from the global RNG: seed it from ``generator`` inside a fork, so
        # augmentation neither depends on nor disturbs the training RNG (dropout, resumption).
        with torch.random.fork_rng(devices=[]):
            if train and generator is not None:
                torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            return self._transform(train)(frames).as_subclass(torch.Tensor)

    def check(self, video: Any, name: str = "video") -> int:
        """The clip's frame count, or a MediaError naming ``name`` if it cannot be used."""
        frames = load_video(video, name)
        if frames.size(0) < self.min_frames:
            raise MediaError(f"{name}: {frames.size(0)} frame(s), fewer than min_frames={self.min_frames}")
        return frames.size(0)

    def collate(self, clips: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips (T_i, ...) -> values (B, T, ...) zero-padded in time, mask (B, T) True at real frames.

        Works for frames (T, 3, H, W) and cached per-frame features (T, F) alike."""
        return pad_in_time(clips)
