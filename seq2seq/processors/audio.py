"""Audio processor: decode, resample, log-mel (or MFCC) features, per-utterance normalisation.

``AudioProcessor(...)(audio, train=False)`` -> float features (T, F), T = one frame per ``hop_ms``.
Training adds SpecAugment: ``freq_masks`` bands of up to ``freq_mask_width`` feature bins and
``time_masks`` spans of up to ``time_mask_width`` frames set to zero (the normalised mean), drawn
from the given generator. With ``cache_features`` (the default) training data is turned into
features once, when it is prepared, and only SpecAugment runs per access: decoding and
resampling every utterance every epoch cost three times the model's own step. The settings are
saved as JSON with the model and are part of every preprocessing cache key.
"""

from __future__ import annotations

import functools
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
    cache_features: bool = True  # features stored with the prepared data; SpecAugment still per access
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

    @property
    def feature_size(self) -> int:
        return self.num_mfcc if self.features == "mfcc" else self.num_mel_bins

    def features_of(self, waveform: torch.Tensor) -> torch.Tensor:
        """A waveform (N,) at ``sampling_rate`` -> features (T, F)."""
        n_fft = round(self.window_ms * self.sampling_rate / 1000)
        hop = round(self.hop_ms * self.sampling_rate / 1000)
        transform = _feature_transform(self.features, self.sampling_rate, n_fft, hop, self.num_mel_bins,
                                       self.num_mfcc)
        features = transform(waveform).transpose(0, 1)  # (T, F)
        if self.features == "log_mel":
            features = torch.log(features + 1e-6)
        if self.normalize:
            features = (features - features.mean(dim=0)) / (features.std(dim=0, unbiased=False) + 1e-5)
        return features

    @property
    def augments(self) -> bool:
        """Whether training changes the features (tempo, edge crop, any SpecAugment mask)."""
        return bool(self.tempo_perturbation or self.edge_crop or self.freq_masks or self.time_masks)

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

    def __call__(self, audio: Any, *, train: bool = False, generator: torch.Generator | None = None,
                 name: str = "audio") -> torch.Tensor:
        """One utterance -> float features (T, F); ``name`` labels errors."""
        waveform, _ = load_audio(audio, name, sampling_rate=self.sampling_rate)
        hop = round(self.hop_ms * self.sampling_rate / 1000)
        if waveform.numel() < hop:
            raise MediaError(f"{name}: {waveform.numel()} samples, shorter than one {self.hop_ms:g} ms frame")
        features = self.features_of(waveform)
        return self.augment_features(features, generator) if train else features

    def check(self, audio: Any, name: str = "audio") -> int:
        """The number of feature frames, or a MediaError naming ``name`` if the audio cannot be used."""
        return self(audio, name=name).size(0)

    def collate(self, utterances: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (T_i, F) -> values (B, T, F) zero-padded in time, mask (B, T) True at real frames."""
        return pad_in_time(utterances)


def _resample_in_time(features: torch.Tensor, length: int) -> torch.Tensor:
    """Features (T, F) -> (length, F), linearly interpolated between frames (ends kept)."""
    stretched = torch.nn.functional.interpolate(features.t().unsqueeze(0), size=length, mode="linear",
                                                align_corners=True)
    return stretched.squeeze(0).t().contiguous()
