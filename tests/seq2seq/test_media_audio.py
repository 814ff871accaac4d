import math

import numpy as np
import pytest
import torch
from torchcodec.decoders import AudioDecoder

from seq2seq.media import MediaError, load_audio, write_audio


def tone(rate: int = 8000, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(rate * seconds)) / rate
    return 0.5 * torch.sin(2 * math.pi * 440 * t)


def test_every_audio_input_kind_gives_the_waveform(tmp_path):
    wave = tone()
    write_audio(tmp_path / "a.wav", wave, sampling_rate=8000)
    from_file, rate = load_audio(tmp_path / "a.wav")
    assert rate == 8000 and from_file.shape == (4000,) and (from_file - wave).abs().max() < 1e-3
    for value in (AudioDecoder(str(tmp_path / "a.wav")), {"path": str(tmp_path / "a.wav")},
                  {"bytes": (tmp_path / "a.wav").read_bytes()}, {"array": wave.numpy(), "sampling_rate": 8000},
                  {"array": np.stack([wave.numpy(), wave.numpy()]), "sampling_rate": 8000}):
        waveform, rate = load_audio(value)
        assert rate == 8000 and (waveform - wave).abs().max() < 1e-3


def test_other_rates_are_resampled_not_refused(tmp_path):
    waveform, rate = load_audio({"array": tone(8000).numpy(), "sampling_rate": 8000}, sampling_rate=16000)
    assert rate == 16000 and waveform.shape == (8000,)
    spectrum = torch.fft.rfft(waveform).abs()
    assert abs(float(torch.fft.rfftfreq(8000, 1 / 16000)[spectrum.argmax()]) - 440) < 5  # same pitch


def test_bad_audio_is_an_error_naming_the_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav", "clip 3")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MediaError, match="empty.wav.*empty"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really audio")
    with pytest.raises(MediaError, match="broken.wav"):
        load_audio(tmp_path / "broken.wav")
    with pytest.raises(MediaError, match="needs its sampling rate"):
        load_audio(np.zeros(100, np.float32), "clip 3")
    with pytest.raises(MediaError, match="no 'sampling_rate'"):
        load_audio({"array": np.zeros(100)})
    with pytest.raises(MediaError, match="the audio is empty"):
        load_audio({"array": np.zeros(0), "sampling_rate": 8000})
    with pytest.raises(MediaError, match="expected an audio file"):
        load_audio(42, "clip 3")
