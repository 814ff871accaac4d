import math
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from seq2seq.media import read_video
from seq2seq.synthetic_video import ACTIONS, make_video_corpus, render_clip, sample_clip


def shape_pixels(spec, frames=16, frame_size=64):
    """Masks (T, H, W) of the shape's pixels in a clip rendered without texture or noise."""
    clip = render_clip(spec, frames=frames, frame_size=frame_size, noise=0)
    return (clip == torch.tensor(spec.colour, dtype=torch.uint8).view(1, 3, 1, 1)).all(dim=1)


def centroid_and_orientation(mask):
    ys, xs = mask.nonzero(as_tuple=True)
    x, y = xs.float().mean(), ys.float().mean()
    cov_xx, cov_yy = ((xs - x) ** 2).float().mean(), ((ys - y) ** 2).float().mean()
    cov_xy = ((xs - x) * (ys - y)).float().mean()
    return float(x), float(y), math.degrees(0.5 * math.atan2(2 * cov_xy, cov_xx - cov_yy))


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_the_motion_its_label_says(action):
    """Measured on the rendered pixels (image y points down, as on screen)."""
    for seed in range(5):
        spec = sample_clip(random.Random(seed), action, frames=16, frame_size=64)
        masks = shape_pixels(spec)
        assert all(m.sum() > 10 for m in masks), "the shape stays visible"
        first, last = masks[0], masks[-1]
        (x0, y0, _), (x1, y1, _) = centroid_and_orientation(first), centroid_and_orientation(last)
        area0, area1 = int(first.sum()), int(last.sum())
        edges = masks[:, 0, :].any() or masks[:, -1, :].any() or masks[:, :, 0].any() or masks[:, :, -1].any()
        assert not edges, "the shape stays inside the frame"
        expected = {"moving left": x1 < x0 - 15, "moving right": x1 > x0 + 15, "moving up": y1 < y0 - 15,
                    "moving down": y1 > y0 + 15, "growing": area1 > 3 * area0, "shrinking": area1 * 3 < area0}
        if action in expected:
            assert expected[action], (action, seed, x0, x1, y0, y1, area0, area1)
        else:
            # The centroid's path turns one way: the summed angle swept around the path's centre.
            path = torch.tensor([centroid_and_orientation(m)[:2] for m in masks])
            offsets = path - path.mean(dim=0)
            angles = torch.atan2(offsets[:, 1], offsets[:, 0])
            swept = math.degrees(float(((angles[1:] - angles[:-1] + math.pi) % (2 * math.pi) - math.pi).sum()))
            assert (swept > 120) if action == "circling clockwise" else (swept < -120), (seed, swept)


def test_the_corpus_is_balanced_real_mp4_and_reproducible(tmp_path):
    data = make_video_corpus(tmp_path / "a", {"train": 16, "validation": 8}, frames=10, frame_size=48, fps=5)
    assert Counter(data["train"]["label"]) == {action: 2 for action in ACTIONS}
    assert sorted(Counter(data["validation"]["label"]).values()) == [1] * 8
    frames, fps = read_video(data["train"][3]["video"])
    assert frames.shape == (10, 3, 48, 48) and frames.dtype == torch.uint8 and fps == 5
    again = make_video_corpus(tmp_path / "b", {"train": 16, "validation": 8}, frames=10, frame_size=48, fps=5)
    assert again["train"]["label"] == data["train"]["label"]
    for first, second in zip(data["train"]["video"], again["train"]["video"], strict=True):
        assert Path(first).read_bytes() == Path(second).read_bytes()  # the same files, byte for byte
    # A split does not depend on the others: validation is the same without a train split.
    alone = make_video_corpus(tmp_path / "c", {"validation": 8}, frames=10, frame_size=48, fps=5)
    assert alone["validation"]["label"] == data["validation"]["label"]
