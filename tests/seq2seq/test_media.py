import pytest
import torch

from seq2seq.media import MediaError, read_video, write_video


def test_a_written_video_decodes_to_its_frames(tmp_path):
    frames = torch.zeros(12, 3, 32, 48, dtype=torch.uint8)
    for t in range(12):
        frames[t, 1, 8:24, 2 + 2 * t : 14 + 2 * t] = 255  # a green block moving right
    write_video(tmp_path / "clip.mp4", frames, fps=6)
    decoded, fps = read_video(tmp_path / "clip.mp4")
    assert decoded.shape == (12, 3, 32, 48) and decoded.dtype == torch.uint8 and fps == 6
    assert (decoded.float() - frames.float()).abs().mean() < 3  # lossy, but close


def test_bad_video_files_are_errors_that_name_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="video file not found: .*missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty.mp4 is empty"):
        read_video(tmp_path / "empty.mp4")
    (tmp_path / "garbage.mp4").write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="cannot decode video .*garbage.mp4"):
        read_video(tmp_path / "garbage.mp4")
    with pytest.raises(MediaError, match=r"uint8 \(T, 3, H, W\)"):
        write_video(tmp_path / "x.mp4", torch.zeros(4, 32, 32, 3), fps=4)


def test_a_file_replaced_under_the_same_name_is_decoded_again(tmp_path):
    """Decoded files are cached in memory; the cache must never hand back stale or shared frames."""
    import os

    from PIL import Image

    from seq2seq.media import load_video_and_fps

    def write_png(image, path):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(path, format="PNG")

    path = tmp_path / "strip.png"
    first = torch.randint(0, 255, (3, 8, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    write_png(first, str(path))
    frames, _ = load_video_and_fps(path)
    assert frames.shape == (3, 3, 8, 8) and torch.equal(frames[1], first[:, :, 8:16])
    frames.zero_()  # the caller's copy: the cache keeps its own
    assert torch.equal(load_video_and_fps(path)[0][1], first[:, :, 8:16])
    second = 255 - first
    write_png(second, str(path))
    os.utime(path, ns=(1, 1))  # even if the size and the old timestamp were the same
    assert torch.equal(load_video_and_fps(path)[0][2], second[:, :, 16:24])
