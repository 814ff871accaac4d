"""Generated action-recognition clips: a shape that moves, grows, shrinks or circles.

Each clip shows one shape on a textured, noisy background; its label is what the shape does.
A single frame cannot tell the eight actions apart, only the motion across frames can:
``moving left/right/up/down``, ``growing``, ``shrinking``, ``circling clockwise/anticlockwise``
(along a circular path, as seen on screen). Shapes, colours, sizes, speeds, start positions,
orientations and backgrounds are random.

Why circling and not spinning in place: a shape spinning clockwise or anticlockwise about its own
centre was tried first, and the small CNN + GRU encoder could not learn the direction at all (50 %
on those two classes, with or without frame differences or a marker on the shape).

``make_video_corpus`` writes the clips as real H.264 .mp4 files, so training and tests exercise
video decoding as users' data would.
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

ACTIONS = ("moving left", "moving right", "moving up", "moving down", "growing", "shrinking",
           "circling clockwise", "circling anticlockwise")
# Corners of a regular polygon (or none: a circle).
SHAPES = {"circle": 0, "triangle": 3, "square": 4, "pentagon": 5, "bar": 4}
# Raised whenever rendering changes, so that clips written by older code are never reused.
GENERATOR_VERSION = 3


@dataclass
class ClipSpec:
    """Everything that determines a clip; positions and sizes in pixels, angles in degrees."""

    action: str
    shape: str
    colour: tuple[int, int, int]
    background: tuple[int, int, int]
    x: float  # centre in the first frame
    y: float
    size: float  # radius in the first frame
    angle: float  # orientation (and, circling, the position on the circle) in the first frame
    rate: float  # pixels, scale factor or degrees per frame, by action
    noise_seed: int
    orbit: float = 0.0  # circling: the radius of the path around (x, y)


def _contrasting_colours(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    while True:
        colour = tuple(rng.randrange(256) for _ in range(3))
        background = tuple(rng.randrange(256) for _ in range(3))
        if math.dist(colour, background) > 150:
            return colour, background


def sample_clip(rng: random.Random, action: str, *, frames: int, frame_size: int) -> ClipSpec:
    """A random clip of ``action`` whose shape stays inside the frame throughout."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
    shape = rng.choice(tuple(SHAPES))
    colour, background = _contrasting_colours(rng)
    steps = frames - 1
    size = rng.uniform(0.10, 0.18) * frame_size
    rate, orbit = 0.0, 0.0
    if action.startswith("moving"):
        rate = rng.uniform(0.3, 0.5) * frame_size / steps  # travel a third to half the frame
    elif action == "growing":
        size = rng.uniform(0.07, 0.10) * frame_size
        rate = (rng.uniform(0.30, 0.38) * frame_size / size) ** (1 / steps)
    elif action == "shrinking":
        size = rng.uniform(0.30, 0.38) * frame_size
        rate = (rng.uniform(0.07, 0.10) * frame_size / size) ** (1 / steps)
    else:  # circling: half to five sixths of a turn, along a path of radius 15-22 % of the frame
        size = rng.uniform(0.10, 0.14) * frame_size
        orbit = rng.uniform(0.15, 0.22) * frame_size
        rate = rng.uniform(180.0, 300.0) / steps
    reach = size * (rate ** steps if action == "growing" else 1.0) + 1 + orbit
    lo, hi = reach, frame_size - reach
    x, y = rng.uniform(lo, hi), rng.uniform(lo, hi)
    travel = rate * steps
    if action == "moving left":
        x = rng.uniform(lo + travel, hi)
    elif action == "moving right":
        x = rng.uniform(lo, hi - travel)
    elif action == "moving up":
        y = rng.uniform(lo + travel, hi)
    elif action == "moving down":
        y = rng.uniform(lo, hi - travel)
    return ClipSpec(action, shape, colour, background, x, y, size, rng.uniform(0, 360), rate, rng.getrandbits(62),
                    orbit)


def _pose(spec: ClipSpec, t: int) -> tuple[float, float, float, float]:
    """Centre, radius and orientation in frame ``t``. Image y points down, so a growing angle
    goes clockwise on screen."""
    x, y, size, angle = spec.x, spec.y, spec.size, spec.angle
    step = {"moving left": (-1, 0), "moving right": (1, 0), "moving up": (0, -1), "moving down": (0, 1)}
    if spec.action in step:
        dx, dy = step[spec.action]
        x, y = x + dx * spec.rate * t, y + dy * spec.rate * t
    elif spec.action in ("growing", "shrinking"):
        size = size * spec.rate**t
    else:
        phase = math.radians(angle + (1 if spec.action == "circling clockwise" else -1) * spec.rate * t)
        x, y = x + spec.orbit * math.cos(phase), y + spec.orbit * math.sin(phase)
    return x, y, size, angle


def _shape_mask(spec: ClipSpec, t: int, grid_x: torch.Tensor, grid_y: torch.Tensor) -> torch.Tensor:
    x, y, size, angle = _pose(spec, t)
    dx, dy = grid_x - x, grid_y - y
    if spec.shape == "circle":
        return dx**2 + dy**2 <= size**2
    theta = math.radians(angle)
    if spec.shape == "bar":
        corners = [(size, 0.35 * size), (-size, 0.35 * size), (-size, -0.35 * size), (size, -0.35 * size)]
    else:
        count = SHAPES[spec.shape]
        corners = [(size * math.cos(2 * math.pi * k / count), size * math.sin(2 * math.pi * k / count))
                   for k in range(count)]
    cos, sin = math.cos(theta), math.sin(theta)
    points = [(cx * cos - cy * sin, cx * sin + cy * cos) for cx, cy in corners]
    # Inside a convex polygon: on the same side of every edge.
    sides = [(bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
             for (ax, ay), (bx, by) in zip(points, points[1:] + points[:1], strict=True)]
    return torch.stack(sides).ge(0).all(dim=0) | torch.stack(sides).le(0).all(dim=0)


def _marker_mask(spec: ClipSpec, t: int, grid_x: torch.Tensor, grid_y: torch.Tensor) -> torch.Tensor:
    """A hole in the shape, off its centre in the direction it faces: the texture a real object has."""
    x, y, size, angle = _pose(spec, t)
    theta = math.radians(angle)
    mark_x, mark_y = x + 0.55 * size * math.cos(theta), y + 0.55 * size * math.sin(theta)
    return (grid_x - mark_x) ** 2 + (grid_y - mark_y) ** 2 <= (0.25 * size) ** 2


def render_clip(spec: ClipSpec, *, frames: int, frame_size: int, noise: float = 8.0) -> torch.Tensor:
    """The clip as uint8 (T, 3, H, W): a static texture, the shape with its marker, and fresh noise
    per frame."""
    generator = torch.Generator().manual_seed(spec.noise_seed)
    coords = torch.arange(frame_size, dtype=torch.float32) + 0.5
    grid_y, grid_x = torch.meshgrid(coords, coords, indexing="ij")
    coarse = torch.rand(1, 3, 6, 6, generator=generator) - 0.5
    texture = torch.nn.functional.interpolate(coarse, size=(frame_size, frame_size), mode="bilinear")[0] * 60
    background = torch.tensor(spec.background, dtype=torch.float32).view(3, 1, 1) + texture * (noise > 0)
    colour = torch.tensor(spec.colour, dtype=torch.float32).view(3, 1, 1)
    clip = []
    for t in range(frames):
        shape = _shape_mask(spec, t, grid_x, grid_y) & ~_marker_mask(spec, t, grid_x, grid_y)
        frame = torch.where(shape, colour, background)
        if noise > 0:
            frame = frame + noise * torch.randn(frame.shape, generator=generator)
        clip.append(frame.round().clamp(0, 255).to(torch.uint8))
    return torch.stack(clip)


def make_video_corpus(directory: str | Path, sizes: dict[str, int], *, seed: int = 1234, frames: int = 16,
                      frame_size: int = 64, fps: float = 8.0) -> DatasetDict:
    """Write balanced clips of every action as ``directory/<split>/<index>.mp4``.

    Returns a DatasetDict with ``video`` (the file path) and ``label`` columns per split. A
    directory already written with the same settings is reused (its ``manifest.json`` says so).
    """
    directory = Path(directory)
    settings = {"version": GENERATOR_VERSION, "sizes": sizes, "seed": seed, "frames": frames,
                "frame_size": frame_size, "fps": fps,
                "actions": list(ACTIONS)}
    splits = {}
    with corpus_directory(directory, settings, key="clips") as corpus:
        for split, size in sizes.items():
            rng = random.Random(f"{seed}:{split}")  # splits do not depend on one another
            actions = [ACTIONS[i % len(ACTIONS)] for i in range(size)]
            rng.shuffle(actions)
            paths = [directory / split / f"{index:05d}.mp4" for index in range(size)]
            specs = [sample_clip(rng, action, frames=frames, frame_size=frame_size) for action in actions]
            if not corpus.complete(paths):
                for path, spec in tqdm(zip(paths, specs, strict=True), total=size, desc=f"writing {split}"):
                    write_video(path, render_clip(spec, frames=frames, frame_size=frame_size), fps=fps)
            splits[split] = Dataset.from_dict({"video": [str(p) for p in paths], "label": actions})
            corpus.contents[split] = [asdict(spec) for spec in specs]
    return DatasetDict(splits)
