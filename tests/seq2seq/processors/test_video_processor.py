import numpy as np
import pytest
import torch
from torchcodec.decoders import VideoDecoder

from seq2seq.media import MediaError, load_video, write_video
from seq2seq.processors import VideoProcessor


def write_png(image, path):
    """(3, H, W) uint8 -> a PNG file (torchcodec's encoder, as media.py decodes with torchcodec)."""
    from torchcodec.encoders import PngEncoder

    PngEncoder(image).to_file(path)


def clip(frames=12, height=24, width=32, seed=0):
    """uint8 (T, H, W, C): what users hand over as an array."""
    return torch.randint(0, 256, (frames, height, width, 3), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


def test_every_input_kind_gives_the_same_frames(tmp_path):
    frames = clip()
    expected = frames.permute(0, 3, 1, 2)  # (T, 3, H, W)
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(expected):
        write_png(frame, str(folder / f"{index:03d}.png"))
    square = clip(width=24)  # a strip needs square frames
    strip = torch.cat(list(square.permute(0, 3, 1, 2)), dim=2)  # (3, H, T * H)
    write_png(strip, str(tmp_path / "strip.jpg"))  # a PNG despite the suffix, as in Weizmann
    assert torch.equal(load_video(frames), expected)
    assert torch.equal(load_video(frames.numpy()), expected)
    assert torch.equal(load_video(folder), expected)
    assert torch.equal(load_video(tmp_path / "strip.jpg"), square.permute(0, 3, 1, 2))
    write_video(tmp_path / "clip.mp4", expected, fps=4)
    decoded = load_video(tmp_path / "clip.mp4")
    assert decoded.shape == expected.shape and decoded.dtype == torch.uint8
    assert torch.equal(load_video(VideoDecoder(str(tmp_path / "clip.mp4"))), decoded)  # a datasets Video value
    assert torch.equal(load_video({"bytes": (tmp_path / "clip.mp4").read_bytes()}), decoded)
    assert torch.equal(load_video({"path": str(tmp_path / "clip.mp4"), "bytes": None}), decoded)


def test_bad_inputs_are_errors_naming_the_input(tmp_path):
    processor = VideoProcessor(num_frames=4, frame_size=16)
    with pytest.raises(MediaError, match=r"clip 3: a video array must be shaped \(T, H, W, C\).*\(12, 24\)"):
        processor(torch.zeros(12, 24, dtype=torch.uint8), name="clip 3")
    with pytest.raises(MediaError, match="clip 3: a video array must be uint8.*float32"):
        processor(np.zeros((4, 8, 8, 3), dtype=np.float32), name="clip 3")
    with pytest.raises(MediaError, match="1 frame\\(s\\), fewer than min_frames=2"):
        processor(clip(frames=1))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="holds no frame images"):
        processor(tmp_path / "empty")
    write_png(torch.zeros(3, 10, 25, dtype=torch.uint8), str(tmp_path / "odd.png"))
    with pytest.raises(MediaError, match="25x10, not a strip of square frames"):
        processor(tmp_path / "odd.png")
    with pytest.raises(MediaError, match="expected a video file or folder path.*got int"):
        processor(42)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        processor(tmp_path / "missing.mp4")


def test_the_eval_preset_is_deterministic_and_normalised():
    processor = VideoProcessor(num_frames=8, frame_size=16)
    assert processor.sample_indices(32) == [2, 6, 10, 14, 18, 22, 26, 30]  # segment middles
    assert processor.sample_indices(3) == [0, 0, 0, 1, 1, 2, 2, 2]  # short clips repeat frames
    frames = clip(frames=20)
    first, second = processor(frames), processor(frames)
    assert first.shape == (8, 3, 16, 16) and first.dtype == torch.float32
    assert torch.equal(first, second)
    gray = processor(torch.full((5, 20, 30, 3), 128, dtype=torch.uint8))
    torch.testing.assert_close(gray, torch.full_like(gray, (128 / 255 - 0.5) / 0.25))


def test_training_augments_and_keeps_one_crop_per_clip():
    processor = VideoProcessor(num_frames=8, frame_size=16, crop_scale=(0.3, 0.5), horizontal_flip=True)
    draws = {tuple(processor.sample_indices(64, train=True, generator=torch.Generator().manual_seed(s)))
             for s in range(5)}
    assert len(draws) == 5  # temporal jitter
    again = processor.sample_indices(64, train=True, generator=torch.Generator().manual_seed(0))
    assert again == processor.sample_indices(64, train=True, generator=torch.Generator().manual_seed(0))
    still = clip(frames=1, height=40, width=40).repeat(6, 1, 1, 1)  # the same frame six times
    torch.manual_seed(0)
    augmented = processor(still, train=True)
    assert all(torch.equal(frame, augmented[0]) for frame in augmented)  # one crop and flip for all frames
    assert not torch.equal(augmented, processor(still))  # and not the eval preset


def test_settings_round_trip_and_define_the_fingerprint(tmp_path):
    processor = VideoProcessor(num_frames=10, frame_size=32, horizontal_flip=True)
    processor.save(tmp_path / "video.json")
    loaded = VideoProcessor.load(tmp_path / "video.json")
    assert loaded == processor and loaded.fingerprint == processor.fingerprint
    assert VideoProcessor(num_frames=11, frame_size=32, horizontal_flip=True).fingerprint != processor.fingerprint
    with pytest.raises(ValueError, match="unknown video processor setting\\(s\\): frame_rate"):
        VideoProcessor.from_dict({**processor.to_dict(), "frame_rate": 3})
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        VideoProcessor.load(tmp_path / "nothing.json")


def numbered_frames(count: int, size: int = 16) -> np.ndarray:
    """(T, H, W, 3) uint8 frames whose brightness is 8 x their index, to read back which were sampled."""
    return np.repeat((np.arange(count, dtype=np.uint8) * 8)[:, None, None, None], size * size * 3).reshape(
        count, size, size, 3)


def sampled(processor: VideoProcessor, video, **options) -> list[int]:
    clip = processor(video, **options)  # mean 0, std 1: values are brightness / 255
    return (clip.mean(dim=(1, 2, 3)) * 255 / 8).round().long().tolist()


def test_frames_at_a_target_fps_from_the_middle_or_anywhere_in_training(tmp_path):
    processor = VideoProcessor(num_frames=4, frame_size=16, mean=(0, 0, 0), std=(1, 1, 1), fps=4, source_fps=8)
    frames = numbered_frames(32)  # 4 s at 8 fps: an array has no frame rate, source_fps says it
    assert sampled(processor, frames) == [13, 15, 17, 19]  # every 2nd frame, a 1 s window in the middle
    windows = {tuple(sampled(processor, frames, train=True, generator=torch.Generator().manual_seed(seed)))
               for seed in range(6)}
    assert len(windows) > 1 and all(b - a == 2 for window in windows for a, b in zip(window, window[1:], strict=False))
    # A file carries its own rate: at 16 fps every 4th frame, whatever source_fps says.
    write_video(tmp_path / "clip.mp4", torch.from_numpy(frames).permute(0, 3, 1, 2), fps=16)
    assert sampled(processor, str(tmp_path / "clip.mp4")) == [10, 14, 18, 22]
    # A clip shorter than the window is spread over, as without fps.
    assert sampled(processor, numbered_frames(6)) == sampled(VideoProcessor(
        num_frames=4, frame_size=16, mean=(0, 0, 0), std=(1, 1, 1)), numbered_frames(6))
    with pytest.raises(ValueError, match="fps must be >= 0"):
        VideoProcessor(fps=-1)
