"""Reading media files with torchcodec (FFmpeg), with errors that name the file.

Video processors sample, resize and normalise what ``read_video`` returns; this module only
decodes, so every way a file can be bad is reported in one place.
"""

from __future__ import annotations

from collections import OrderedDict
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


def write_video(path: str | Path, frames: torch.Tensor, *, fps: float, crf: int = 18,
                audio: torch.Tensor | None = None, sampling_rate: int | None = None) -> None:
    """Encode uint8 (T, C, H, W) RGB frames as H.264 into ``path`` (.mp4, .mkv, ...), with
    ``audio`` (N,) in [-1, 1] at ``sampling_rate`` as the file's soundtrack (AAC in .mp4) if given."""
    from torchcodec.encoders import Encoder, VideoEncoder

    if frames.dtype != torch.uint8 or frames.dim() != 4 or frames.size(1) != 3:
        raise MediaError(f"frames must be uint8 (T, 3, H, W), got {tuple(frames.shape)} {frames.dtype}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # x264's macroblock-tree rate control gave different files for the same frames when encoding
    # many clips in one process (measured: up to 8 distinct files in 8 encodes); without it the
    # output is reproducible, so a seeded generated dataset is the same on every run.
    options = {"x264-params": "no-mbtree=1"}
    if audio is None:
        VideoEncoder(frames.contiguous(), frame_rate=fps).to_file(str(path), codec="libx264", crf=crf,
                                                                  extra_options=options)
        return
    if not sampling_rate:
        raise MediaError("write_video: a soundtrack needs its sampling_rate")
    encoder = Encoder()
    video = encoder.add_video(height=frames.size(2), width=frames.size(3), frame_rate=fps, codec="libx264",
                              crf=crf, extra_options=options)
    sound = encoder.add_audio(sample_rate=sampling_rate, num_channels=1)
    with encoder.open_file(str(path)):
        video.add_frames(frames.contiguous())
        sound.add_samples(audio.reshape(1, -1).float().contiguous())


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _read_image(path: Path) -> torch.Tensor:
    from torchcodec.decoders import decode_image

    try:
        return decode_image(path, mode="RGB")  # (3, H, W); the format is read from the content, not the suffix
    except (RuntimeError, ValueError) as error:
        raise MediaError(f"cannot decode image {path}: {error}") from error


def _frames_from_array(value, name: str) -> torch.Tensor:
    frames = torch.as_tensor(value)
    if frames.dim() != 4 or frames.size(-1) not in (3, 4):
        raise MediaError(f"{name}: a video array must be shaped (T, H, W, C) with C = 3 or 4, "
                         f"got {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        raise MediaError(f"{name}: a video array must be uint8 (0-255), got {frames.dtype}")
    return frames[..., :3].permute(0, 3, 1, 2).contiguous()


def load_video(value, name: str = "video") -> torch.Tensor:
    """Frames uint8 (T, 3, H, W) RGB from any supported input, or an error naming ``name``
    (``load_video_and_fps`` also gives the frame rate)."""
    return load_video_and_fps(value, name)[0]


# Recently decoded video files, keyed on path, size and modification time: a small dataset is then
# decoded once per run instead of once per epoch (decoding cost more than the model's step).
DECODED_CACHE_BYTES = 512 * 2**20
_decoded: OrderedDict[tuple[str, int, int], tuple[torch.Tensor, float | None]] = OrderedDict()
_decoded_bytes = 0


def _decode_file_cached(path: Path, decode) -> tuple[torch.Tensor, float | None]:
    """``decode(path)`` -> (frames, fps), through the cache of recently decoded files (a copy
    comes back). A video larger than a tenth of the cache is decoded every time instead."""
    global _decoded_bytes
    status = path.stat()
    key = (str(path.resolve()), status.st_size, status.st_mtime_ns)
    if key in _decoded:
        _decoded.move_to_end(key)
        frames, fps = _decoded[key]
        return frames.clone(), fps
    frames, fps = decode(path)
    if frames.nbytes <= DECODED_CACHE_BYTES // 10:
        _decoded[key] = frames.clone(), fps
        _decoded_bytes += frames.nbytes
        while _decoded_bytes > DECODED_CACHE_BYTES:
            _decoded_bytes -= _decoded.popitem(last=False)[1][0].nbytes
    return frames, fps


def _read_strip(path: Path, name: str) -> tuple[torch.Tensor, None]:
    strip = _read_image(path)  # (3, H, T * H)
    height, width = strip.shape[1:]
    if width % height:
        raise MediaError(f"{name}: {path} is {width}x{height}, not a strip of square frames side by side")
    return strip.view(3, height, width // height, height).permute(2, 0, 1, 3).contiguous(), None


def load_video_and_fps(value, name: str = "video") -> tuple[torch.Tensor, float | None]:
    """Frames uint8 (T, 3, H, W) RGB and the frame rate (None where the input has none), or an
    error naming ``name``.

    Accepted: a video file (mp4, avi, webm, mkv, ... through torchcodec); a folder of frame
    images (sorted by file name); an image holding square frames side by side (a horizontal strip,
    the Weizmann/MoCoGAN format); a uint8 tensor or array (T, H, W, C); a torchcodec
    ``VideoDecoder`` (what a ``datasets`` Video column gives); a ``{"path"|"bytes"}`` dict.
    """
    from torchcodec.decoders import VideoDecoder

    fps = None
    if isinstance(value, VideoDecoder):
        frames = value.get_frames_in_range(0, len(value)).data
        fps = value.metadata.average_fps
    elif isinstance(value, dict) and value.get("bytes") is not None:
        try:
            decoder = VideoDecoder(value["bytes"])
            frames = decoder.get_frames_in_range(0, len(decoder)).data
            fps = decoder.metadata.average_fps
        except (RuntimeError, ValueError) as error:
            raise MediaError(f"{name}: cannot decode the video bytes: {error}") from error
    elif isinstance(value, (str, Path)) or (isinstance(value, dict) and value.get("path")):
        path = Path(value["path"] if isinstance(value, dict) else value)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise MediaError(f"{name}: folder {path} holds no frame images ({', '.join(IMAGE_SUFFIXES)})")
            frames = torch.stack([_read_image(image) for image in images])
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            if not path.is_file():
                raise FileNotFoundError(f"{name}: image strip not found: {path}")
            frames, fps = _decode_file_cached(path, lambda strip: _read_strip(strip, name))
        else:
            if not path.is_file():
                raise FileNotFoundError(f"video file not found: {path}")
            frames, fps = _decode_file_cached(path, read_video)
    elif isinstance(value, torch.Tensor) or hasattr(value, "__array__"):
        frames = _frames_from_array(value, name)
    else:
        raise MediaError(f"{name}: expected a video file or folder path, an array (T, H, W, C), a VideoDecoder "
                         f"or a {{'path'|'bytes'}} dict, got {type(value).__name__}")
    if frames.size(0) == 0:
        raise MediaError(f"{name}: the video has no frames")
    return frames, float(fps) if fps else None


# ---------------------------------------------------------------------------------------------
# audio


def _decode_audio(source, name: str, sampling_rate: int | None) -> tuple[torch.Tensor, int]:
    from torchcodec.decoders import AudioDecoder

    try:
        decoder = source if isinstance(source, AudioDecoder) else AudioDecoder(source, sample_rate=sampling_rate)
        samples = decoder.get_all_samples()
    except (RuntimeError, ValueError) as error:
        raise MediaError(f"{name}: cannot decode audio (corrupt, or no audio stream): {error}") from error
    return samples.data, int(samples.sample_rate)


def load_audio(value, name: str = "audio", *, sampling_rate: int | None = None) -> tuple[torch.Tensor, int]:
    """A mono float waveform (N,) and its sampling rate, resampled to ``sampling_rate`` when given.

    Accepted: an audio file (wav, flac, mp3, ...) or the audio track of a video file (through
    torchcodec); a torchcodec ``AudioDecoder`` (what a ``datasets`` Audio column gives); a
    ``{"array", "sampling_rate"}`` dict; a ``{"path"|"bytes"}`` dict. A bare array has no sampling
    rate and is refused. Errors name ``name``.
    """
    import numpy as np
    from torchcodec.decoders import AudioDecoder

    if isinstance(value, AudioDecoder):
        waveform, rate = _decode_audio(value, name, None)
    elif isinstance(value, dict) and value.get("array") is not None:
        if not value.get("sampling_rate"):
            raise MediaError(f"{name}: the audio array has no 'sampling_rate'")
        waveform = torch.as_tensor(np.asarray(value["array"]), dtype=torch.float32)
        if waveform.dim() not in (1, 2):
            raise MediaError(f"{name}: expected an audio array (N,) or (C, N), got shape {tuple(waveform.shape)}")
        if waveform.numel() == 0:
            raise MediaError(f"{name}: the audio is empty")
        waveform, rate = waveform.reshape(-1, waveform.size(-1)), int(value["sampling_rate"])
    elif isinstance(value, dict) and value.get("bytes") is not None:
        waveform, rate = _decode_audio(value["bytes"], name, sampling_rate)
    elif isinstance(value, (str, Path)) or (isinstance(value, dict) and value.get("path")):
        path = Path(value["path"] if isinstance(value, dict) else value)
        if not path.is_file():
            raise FileNotFoundError(f"{name}: audio file not found: {path}")
        if path.stat().st_size == 0:
            raise MediaError(f"{name}: audio file {path} is empty (0 bytes)")
        waveform, rate = _decode_audio(str(path), f"{name} {path}", sampling_rate)
    elif isinstance(value, torch.Tensor) or hasattr(value, "__array__"):
        raise MediaError(f"{name}: an audio array needs its sampling rate: pass {{'array': ..., 'sampling_rate': ...}}")
    else:
        raise MediaError(f"{name}: expected an audio file path, an AudioDecoder or an {{'array', 'sampling_rate'}} "
                         f"dict, got {type(value).__name__}")
    waveform = waveform.float().mean(dim=0)  # mono
    if waveform.numel() == 0:
        raise MediaError(f"{name}: the audio is empty")
    if sampling_rate and rate != sampling_rate:
        import torchaudio

        waveform, rate = torchaudio.functional.resample(waveform, rate, sampling_rate), sampling_rate
    return waveform, rate


def write_audio(path: str | Path, waveform: torch.Tensor, *, sampling_rate: int) -> None:
    """Encode a float waveform (N,) or (C, N) in [-1, 1] into ``path`` (.wav, .flac, ...)."""
    from torchcodec.encoders import AudioEncoder

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = waveform.reshape(-1, waveform.size(-1)).float()
    AudioEncoder(samples, sample_rate=sampling_rate).to_file(str(path))
