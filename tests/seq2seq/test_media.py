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
