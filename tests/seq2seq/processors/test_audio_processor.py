import math

import numpy as np
import pytest
import torch

from seq2seq.media import MediaError, write_audio
from seq2seq.processors import AudioProcessor, build_processor


def chirp(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * math.pi * (300 + 400 * t) * t)).astype(np.float32)


def test_log_mel_features_have_one_frame_per_hop_and_are_normalised():
    processor = AudioProcessor(sampling_rate=16000, num_mel_bins=40)
    features = processor({"array": chirp(16000), "sampling_rate": 16000})
    assert features.shape == (101, 40)  # 1 s at 10 ms hops (centred frames: N / hop + 1)
    assert features.mean(dim=0).abs().max() < 1e-4 and (features.std(dim=0, unbiased=False) - 1).abs().max() < 1e-2
    mfcc = AudioProcessor(sampling_rate=16000, features="mfcc", num_mfcc=13)
    assert mfcc({"array": chirp(16000), "sampling_rate": 16000}).shape == (101, 13) and mfcc.feature_size == 13


def test_other_sampling_rates_and_files_give_the_same_frames(tmp_path):
    processor = AudioProcessor(sampling_rate=16000, num_mel_bins=40)
    native = processor({"array": chirp(16000), "sampling_rate": 16000})
    resampled = processor({"array": chirp(8000), "sampling_rate": 8000})
    assert resampled.shape == native.shape
    assert torch.nn.functional.cosine_similarity(resampled.flatten(), native.flatten(), dim=0) > 0.9
    write_audio(tmp_path / "chirp.wav", torch.from_numpy(chirp(16000)), sampling_rate=16000)
    from_file = processor(str(tmp_path / "chirp.wav"))  # the file stores quantised samples: close, not equal
    assert from_file.shape == native.shape
    assert torch.nn.functional.cosine_similarity(from_file.flatten(), native.flatten(), dim=0) > 0.99


def test_spec_augment_only_in_training_and_reproducible():
    processor = AudioProcessor(sampling_rate=8000, num_mel_bins=20, freq_masks=1, freq_mask_width=5, time_masks=1,
                               time_mask_width=10)
    audio = {"array": chirp(8000), "sampling_rate": 8000}
    plain = processor(audio)
    assert torch.equal(processor(audio), plain)
    one = processor(audio, train=True, generator=torch.Generator().manual_seed(1))
    two = processor(audio, train=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(one, two) and not torch.equal(one, plain)
    changed = (one != plain)
    assert torch.all(one[changed] == 0)  # masked to the normalised mean


def test_settings_round_trip_and_errors(tmp_path):
    processor = AudioProcessor(sampling_rate=8000, num_mel_bins=32)
    processor.save(tmp_path / "audio.json")
    loaded = AudioProcessor.load(tmp_path / "audio.json")
    assert loaded == processor and loaded.fingerprint == processor.fingerprint
    assert build_processor("audio", {"sampling_rate": 8000, "num_mel_bins": 32}, None, "audio") == processor
    with pytest.raises(ValueError, match="inputs.speech.processor: unknown audio processor setting"):
        build_processor("audio", {"sample_rate": 8000}, None, "speech")
    with pytest.raises(ValueError, match="features must be one of"):
        AudioProcessor(features="spectrogram")
    with pytest.raises(MediaError, match="utterance 2.*shorter than one"):
        processor({"array": np.zeros(10, np.float32), "sampling_rate": 8000}, name="utterance 2")
    values, mask = processor.collate([torch.ones(5, 3), torch.ones(2, 3)])
    assert values.shape == (2, 5, 3) and mask.sum(dim=1).tolist() == [5, 2] and values[1, 2:].abs().sum() == 0


def test_tempo_perturbation_stretches_in_time_reproducibly_and_only_in_training():
    processor = AudioProcessor(sampling_rate=8000, num_mel_bins=20, freq_masks=0, time_masks=0,
                               tempo_perturbation=0.2)
    audio = {"array": chirp(8000), "sampling_rate": 8000}
    plain = processor(audio)
    assert torch.equal(processor(audio), plain) and processor.augments
    lengths = set()
    for seed in range(20):
        one = processor(audio, train=True, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(one, processor(audio, train=True, generator=torch.Generator().manual_seed(seed)))
        # A factor in [0.8, 1.2] divides the frame count; the ends stay where they were.
        assert round(plain.size(0) / 1.2) <= one.size(0) <= round(plain.size(0) / 0.8)
        assert torch.allclose(one[0], plain[0], atol=1e-5) and torch.allclose(one[-1], plain[-1], atol=1e-5)
        lengths.add(one.size(0))
    assert len(lengths) > 5


def test_tempo_perturbation_interpolates_between_frames():
    processor = AudioProcessor(freq_masks=0, time_masks=0, tempo_perturbation=0.5)
    ramp = torch.arange(11, dtype=torch.float32).unsqueeze(1).repeat(1, 3)  # frame t holds t
    for seed in range(5):
        stretched = processor.augment_features(ramp, torch.Generator().manual_seed(seed))
        expected = torch.linspace(0, 10, stretched.size(0)).unsqueeze(1).expand(-1, 3)
        assert torch.allclose(stretched, expected, atol=1e-5)
    with pytest.raises(ValueError, match="tempo_perturbation must be in"):
        AudioProcessor(tempo_perturbation=1.0)


def test_edge_crop_cuts_at_most_the_fraction_from_each_end():
    processor = AudioProcessor(freq_masks=0, time_masks=0, edge_crop=0.2)
    frames = torch.arange(50, dtype=torch.float32).unsqueeze(1).repeat(1, 4)  # frame t holds t
    starts, ends = set(), set()
    for seed in range(30):
        cropped = processor.augment_features(frames, torch.Generator().manual_seed(seed))
        first, last = int(cropped[0, 0]), int(cropped[-1, 0])
        assert torch.equal(cropped, frames[first:last + 1])  # one contiguous stretch, unchanged
        assert first <= 10 and last >= 39
        starts.add(first), ends.add(last)
    assert len(starts) > 3 and len(ends) > 3
    assert torch.equal(processor.augment_features(frames[:1], torch.Generator().manual_seed(0)), frames[:1])
    with pytest.raises(ValueError, match="edge_crop must be in"):
        AudioProcessor(edge_crop=0.5)


def tone(rate: int, hertz: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * math.pi * hertz * t)).astype(np.float32)


def peak_hertz(processor: AudioProcessor, spectrum: torch.Tensor) -> float:
    """The centre frequency of the mel band holding most of the spectrum's energy."""
    import torchaudio

    points = torchaudio.functional.melscale_fbanks(201, 0.0, processor.sampling_rate / 2, processor.num_mel_bins,
                                                   processor.sampling_rate)
    band = int(spectrum.mean(dim=0).argmax())
    return float((points[:, band] * torch.linspace(0, processor.sampling_rate / 2, 201)).sum() / points[:, band].sum())


def test_frequency_warp_moves_a_tone_by_the_drawn_factor_only_in_training():
    processor = AudioProcessor(sampling_rate=8000, num_mel_bins=64, normalize=False, freq_masks=0, time_masks=0,
                               frequency_warp=0.2)
    audio = {"array": tone(8000, 1000.0), "sampling_rate": 8000}
    plain = processor(audio)
    assert torch.equal(processor(audio), plain) and processor.augments
    assert 900 < peak_hertz(processor, plain) < 1100
    peaks = set()
    for seed in range(12):
        warped = processor(audio, train=True, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(warped, processor(audio, train=True, generator=torch.Generator().manual_seed(seed)))
        assert warped.shape == plain.shape
        peak = peak_hertz(processor, warped)
        assert 1000 * 0.8 * 0.9 < peak < 1000 * 1.2 * 1.1  # a factor in [0.8, 1.2], one band of slack
        peaks.add(round(peak))
    assert len(peaks) >= 4  # the factor is drawn, not fixed
    with pytest.raises(ValueError, match="frequency_warp must be in"):
        AudioProcessor(frequency_warp=0.5)


def test_noise_fills_silence_at_the_drawn_signal_to_noise_ratio():
    """White noise's power enters every frame: at 0 dB a silent frame holds the utterance's mean power;
    at 40 dB the loud frames barely change."""
    silence = np.zeros(2000, dtype=np.float32)
    audio = {"array": np.concatenate([tone(8000, 700.0), silence]), "sampling_rate": 8000}
    settings = dict(sampling_rate=8000, features="log_mel", num_mel_bins=40, normalize=False, freq_masks=0,
                    time_masks=0)
    plain = AudioProcessor(**settings)(audio)
    mean_power = plain.exp().sum(dim=1).mean()
    loud = AudioProcessor(**settings, noise_snr_db=(0.0, 0.0))(audio, train=True)
    silent_power = loud[-10:].exp().sum(dim=1)
    assert plain[-10:].exp().sum(dim=1).max() < 1e-3 * mean_power
    torch.testing.assert_close(silent_power, mean_power.expand(10), rtol=0.01, atol=0)
    quiet = AudioProcessor(**settings, noise_snr_db=(40.0, 40.0))(audio, train=True)
    torch.testing.assert_close(quiet[:20].exp().sum(dim=1), plain[:20].exp().sum(dim=1), rtol=1e-3, atol=0)
    assert (quiet[-10:] - plain[-10:]).min() > 1.0  # the silence is filled
    mfcc = AudioProcessor(sampling_rate=8000, features="mfcc", num_mfcc=13, num_mel_bins=40, freq_masks=0,
                          time_masks=0, noise_snr_db=[10, 30])
    noisy = mfcc(audio, train=True, generator=torch.Generator().manual_seed(0))
    assert noisy.shape == mfcc(audio).shape and not torch.equal(noisy, mfcc(audio))
    assert mfcc.noise_snr_db == (10.0, 30.0)  # YAML gives a list
    with pytest.raises(ValueError, match="noise_snr_db must be"):
        AudioProcessor(noise_snr_db=(30.0, 10.0))


@pytest.mark.parametrize("chunk", [1, 77, 800, 100_000])
def test_the_spectrum_of_audio_streamed_in_chunks_equals_the_whole_ones(chunk):
    from seq2seq.processors.audio_stream import SpectrumStream

    processor = AudioProcessor(sampling_rate=8000, num_mel_bins=20, normalize=False)
    waveform = torch.randn(8000 + 123, generator=torch.Generator().manual_seed(0)) * 0.1
    stream = SpectrumStream(processor)
    streamed = torch.cat([stream.feed(part) for part in waveform.split(chunk)] + [stream.finish()])
    torch.testing.assert_close(streamed, processor.spectrum_of(waveform), atol=1e-5, rtol=1e-5)


def test_features_that_need_the_whole_utterance_cannot_stream():
    from seq2seq.processors.audio_stream import SpectrumStream

    with pytest.raises(ValueError, match="normalize: false"):
        SpectrumStream(AudioProcessor())
    with pytest.raises(ValueError, match="log_mel"):
        SpectrumStream(AudioProcessor(features="mfcc", normalize=False))
    stream = SpectrumStream(AudioProcessor(normalize=False))
    stream.feed(torch.zeros(50))
    with pytest.raises(MediaError, match="too short"):
        stream.finish()
