"""Audio processor: decode, resample, log-mel (or MFCC) features, per-utterance normalisation.

``AudioProcessor(...)(audio, train=False)`` -> float features (T, F), T = one frame per ``hop_ms``.
The work is split in two: ``spectrum`` (decode, resample, the log mel spectrum (T, num_mel_bins))
and ``from_spectrum`` (MFCC, normalisation, and in training the augmentation). Training augments
on the mel spectrum (``frequency_warp``: the speaker's vocal tract longer or shorter;
``noise_snr_db``: a white-noise floor) and on the finished features (tempo, edge crop, and
SpecAugment: ``freq_masks`` bands of up to ``freq_mask_width`` feature bins and ``time_masks``
spans of up to ``time_mask_width`` frames set to zero, the normalised mean), all drawn from the
given generator. With ``cache_features`` (the default) the spectrum is computed once, when the
data is prepared, and only ``from_spectrum`` runs per access: decoding and resampling every
utterance every epoch cost three times the model's own step. The settings are saved as JSON with
the model and are part of every preprocessing cache key.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from seq2seq.media import MediaError, load_audio
from seq2seq.processors.padding import pad_in_time
from seq2seq.processors.settings import JsonSettings

FEATURES = ("log_mel", "mfcc")


@functools.lru_cache(maxsize=8)
def _feature_transform(features: str, sampling_rate: int, n_fft: int, hop: int, num_mel_bins: int,
                       num_mfcc: int) -> torch.nn.Module:
    import torchaudio

    mel = dict(n_fft=n_fft, win_length=n_fft, hop_length=hop, n_mels=num_mel_bins)
    if features == "mfcc":
        return torchaudio.transforms.MFCC(sample_rate=sampling_rate, n_mfcc=num_mfcc, melkwargs=mel)
    return torchaudio.transforms.MelSpectrogram(sample_rate=sampling_rate, **mel)


@functools.lru_cache(maxsize=1024)
def _warp_matrix(num_mel_bins: int, f_min: float, f_max: float, factor: float) -> torch.Tensor:
    """(num_mel_bins, num_mel_bins): column k interpolates the (HTK) mel bins around the frequency
    f_k / ``factor``, f_k being bin k's centre."""
    mel_min, mel_max = (2595.0 * math.log10(1.0 + f / 700.0) for f in (f_min, f_max))
    step = (mel_max - mel_min) / (num_mel_bins + 1)
    centres = 700.0 * (10.0 ** ((mel_min + step * torch.arange(1, num_mel_bins + 1, dtype=torch.float64)) / 2595.0)
                       - 1.0)
    source = 2595.0 * torch.log10(1.0 + centres / factor / 700.0)
    position = ((source - mel_min) / step - 1.0).clamp(0, num_mel_bins - 1)
    below = position.floor().long()
    above = (below + 1).clamp(max=num_mel_bins - 1)
    matrix = torch.zeros(num_mel_bins, num_mel_bins, dtype=torch.float64)
    columns = torch.arange(num_mel_bins)
    matrix[below, columns] += 1.0 - (position - below)
    matrix[above, columns] += position - below
    return matrix.float()


@functools.lru_cache(maxsize=8)
def _white_noise_share(mel_scale: torch.nn.Module) -> torch.Tensor:
    """(num_mel_bins,) summing to 1: the share of white noise's power in each mel band."""
    band = mel_scale.fb.sum(dim=0)
    return band / band.sum()


@dataclass
class AudioProcessor(JsonSettings):
    sampling_rate: int = 16000
    features: str = "log_mel"  # or "mfcc"
    num_mel_bins: int = 80
    num_mfcc: int = 13  # mfcc only
    window_ms: float = 25.0
    hop_ms: float = 10.0
    normalize: bool = True  # per utterance: zero mean, unit variance per feature
    freq_masks: int = 2  # SpecAugment, training only
    freq_mask_width: int = 10
    time_masks: int = 2
    time_mask_width: int = 20
    # Training only: the features stretched or squeezed in time by a factor drawn from
    # [1 - p, 1 + p], as speakers say a word faster or slower (tempo perturbation).
    tempo_perturbation: float = 0.0
    # Training only: up to this fraction of the frames cut from each end, as recordings are
    # trimmed more or less tightly around the word.
    edge_crop: float = 0.0
    # Training only: the mel spectrum warped in frequency by a factor drawn from [1 - p, 1 + p]
    # (vocal tract length perturbation): one speaker's formants moved toward another's.
    frequency_warp: float = 0.0
    # Training only: [low, high] dB; white noise mixed in at a signal-to-noise ratio drawn from
    # this range (in the power spectrum: the noise floor of another microphone or room).
    noise_snr_db: tuple[float, float] | None = None
    cache_features: bool = True  # spectra stored with the prepared data; the rest runs per access
    kind: str = field(default="audio", init=False)
    cached = False  # processed per access: SpecAugment differs each epoch

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {', '.join(FEATURES)}, got {self.features!r}")
        if self.sampling_rate < 1 or self.window_ms <= 0 or self.hop_ms <= 0:
            raise ValueError(f"sampling_rate, window_ms and hop_ms must be positive, got {self.to_dict()}")
        if not 0.0 <= self.tempo_perturbation < 1.0:
            raise ValueError(f"tempo_perturbation must be in [0, 1), got {self.tempo_perturbation}")
        if not 0.0 <= self.edge_crop < 0.5:
            raise ValueError(f"edge_crop must be in [0, 0.5), got {self.edge_crop}")
        if not 0.0 <= self.frequency_warp < 0.5:
            raise ValueError(f"frequency_warp must be in [0, 0.5), got {self.frequency_warp}")
        if self.noise_snr_db is not None:
            if len(self.noise_snr_db) != 2 or self.noise_snr_db[0] > self.noise_snr_db[1]:
                raise ValueError(f"noise_snr_db must be [low, high] with low <= high, got {self.noise_snr_db}")
            self.noise_snr_db = (float(self.noise_snr_db[0]), float(self.noise_snr_db[1]))

    @property
    def feature_size(self) -> int:
        return self.num_mfcc if self.features == "mfcc" else self.num_mel_bins

    def _transform(self) -> torch.nn.Module:
        n_fft = round(self.window_ms * self.sampling_rate / 1000)
        return _feature_transform(self.features, self.sampling_rate, n_fft, self.hop, self.num_mel_bins,
                                  self.num_mfcc)

    @property
    def hop(self) -> int:
        return round(self.hop_ms * self.sampling_rate / 1000)

    def spectrum_of(self, waveform: torch.Tensor) -> torch.Tensor:
        """A waveform (N,) at ``sampling_rate`` -> log mel spectrum (T, num_mel_bins): natural log
        for log-mel features, dB (floored 80 dB below the peak, as torchaudio's MFCC) for MFCC."""
        transform = self._transform()
        if self.features == "mfcc":
            return transform.amplitude_to_DB(transform.MelSpectrogram(waveform)).transpose(0, 1)
        return torch.log(transform(waveform) + 1e-6).transpose(0, 1)

    def finish(self, spectrum: torch.Tensor) -> torch.Tensor:
        """Log mel spectrum (T, num_mel_bins) -> features (T, F): MFCC if asked, then normalised."""
        features = spectrum @ self._transform().dct_mat if self.features == "mfcc" else spectrum
        if self.normalize:
            features = (features - features.mean(dim=0)) / (features.std(dim=0, unbiased=False) + 1e-5)
        return features

    def features_of(self, waveform: torch.Tensor) -> torch.Tensor:
        """A waveform (N,) at ``sampling_rate`` -> features (T, F)."""
        return self.finish(self.spectrum_of(waveform))

    def from_spectrum(self, spectrum: torch.Tensor, *, train: bool = False,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """A (stored) log mel spectrum (T, num_mel_bins) -> features (T, F), augmented in training."""
        if not train:
            return self.finish(spectrum)
        if self.frequency_warp:
            factor = 1.0 + (2.0 * float(torch.rand((), generator=generator)) - 1.0) * self.frequency_warp
            spectrum = self._warped(spectrum, factor)
        if self.noise_snr_db:
            low, high = self.noise_snr_db
            snr_db = low + float(torch.rand((), generator=generator)) * (high - low)
            spectrum = self._with_noise(spectrum, snr_db)
        return self.augment_features(self.finish(spectrum), generator)

    def _mel_scale(self) -> torch.nn.Module:
        transform = self._transform()
        return (transform.MelSpectrogram if self.features == "mfcc" else transform).mel_scale

    def _warped(self, spectrum: torch.Tensor, factor: float) -> torch.Tensor:
        """Mel bin k takes the spectrum at its centre frequency f_k / ``factor``, interpolated
        between bins (the end bins repeat beyond the range): formants move by ``factor``."""
        scale = self._mel_scale()
        f_max = scale.f_max if scale.f_max is not None else self.sampling_rate / 2
        # Factors in steps of 0.001 share one cached matrix: one product per utterance.
        return spectrum @ _warp_matrix(self.num_mel_bins, float(scale.f_min), float(f_max), round(factor, 3))

    def _with_noise(self, spectrum: torch.Tensor, snr_db: float) -> torch.Tensor:
        """The spectrum with white noise's expected power added, ``snr_db`` below the utterance's
        mean power: a steady noise floor under the speech."""
        mfcc = self.features == "mfcc"
        power = (spectrum * (math.log(10.0) / 10.0)).exp() if mfcc else spectrum.exp()
        band = _white_noise_share(self._mel_scale())
        power = power + band * (power.sum(dim=1).mean() * 10.0 ** (-snr_db / 10.0))
        return self._transform().amplitude_to_DB(power) if mfcc else torch.log(power)

    @property
    def augments(self) -> bool:
        """Whether training changes the features (any of the augmentations above)."""
        return bool(self.tempo_perturbation or self.edge_crop or self.freq_masks or self.time_masks
                    or self.frequency_warp or self.noise_snr_db)

    def augment_features(self, features: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.tempo_perturbation:
            factor = 1.0 + (2.0 * float(torch.rand((), generator=generator)) - 1.0) * self.tempo_perturbation
            features = _resample_in_time(features, max(1, round(features.size(0) / factor)))
        else:
            features = features.clone()
        if self.edge_crop:
            most = int(self.edge_crop * features.size(0))
            start, cut = (int(torch.randint(0, most + 1, (1,), generator=generator)) for _ in range(2))
            features = features[start:features.size(0) - cut]  # a view of the copy made above
        masks = ((self.freq_masks, self.freq_mask_width, 1), (self.time_masks, self.time_mask_width, 0))
        for count, width, axis in masks:
            size = features.size(axis)
            for _ in range(count):
                span = int(torch.randint(0, min(width, size) + 1, (1,), generator=generator))
                start = int(torch.randint(0, size - span + 1, (1,), generator=generator))
                features.narrow(axis, start, span).zero_()
        return features

    def spectrum(self, audio: Any, name: str = "audio") -> torch.Tensor:
        """One utterance -> its log mel spectrum (T, num_mel_bins), what a cache stores."""
        waveform, _ = load_audio(audio, name, sampling_rate=self.sampling_rate)
        if waveform.numel() < self.hop:
            raise MediaError(f"{name}: {waveform.numel()} samples, shorter than one {self.hop_ms:g} ms frame")
        return self.spectrum_of(waveform)

    def __call__(self, audio: Any, *, train: bool = False, generator: torch.Generator | None = None,
                 name: str = "audio") -> torch.Tensor:
        """One utterance -> float features (T, F); ``name`` labels errors."""
        return self.from_spectrum(self.spectrum(audio, name), train=train, generator=generator)

    def check(self, audio: Any, name: str = "audio") -> int:
        """The number of feature frames, or a MediaError naming ``name`` if the audio cannot be used."""
        return self.spectrum(audio, name).size(0)

    def collate(self, utterances: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (T_i, F) -> values (B, T, F) zero-padded in time, mask (B, T) True at real frames."""
        return pad_in_time(utterances)


def _resample_in_time(features: torch.Tensor, length: int) -> torch.Tensor:
    """Features (T, F) -> (length, F), linearly interpolated between frames (ends kept)."""
    stretched = torch.nn.functional.interpolate(features.t().unsqueeze(0), size=length, mode="linear",
                                                align_corners=True)
    return stretched.squeeze(0).t().contiguous()
