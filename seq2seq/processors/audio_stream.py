"""The log mel spectrum of audio that arrives in chunks, equal to the spectrum of the whole.

``AudioProcessor.spectrum_of`` frames the waveform as torch.stft with ``center=True`` does: the
signal is reflected ``n_fft // 2`` samples at both ends, and frame t covers padded samples
``[t * hop, t * hop + n_fft)``. A stream computes every frame as soon as its samples are there: the
start's reflection needs only the first ``n_fft // 2 + 1`` samples; the end's waits for ``finish``.
It keeps only the samples that frames still to come will read.
"""

from __future__ import annotations

import functools

import torch

from seq2seq.media import MediaError


@functools.lru_cache(maxsize=8)
def _framed_transform(sampling_rate: int, n_fft: int, hop: int, num_mel_bins: int) -> torch.nn.Module:
    import torchaudio

    # center=False: the stream pads the ends itself, as center=True would have.
    return torchaudio.transforms.MelSpectrogram(sample_rate=sampling_rate, n_fft=n_fft, win_length=n_fft,
                                                hop_length=hop, n_mels=num_mel_bins, center=False)


def check_streamable(processor) -> None:
    """A ValueError unless the processor's features can be computed before the utterance ends."""
    if processor.features != "log_mel":
        raise ValueError("streaming needs log_mel features: MFCC's dB floor is set by the loudest frame of the "
                         "whole utterance")
    if processor.normalize:
        raise ValueError("streaming needs audio features without per-utterance normalisation (its mean and "
                         "variance need the whole utterance): train with the audio processor's normalize: false, "
                         "as configs/speech_recognition_streaming.yaml does")


class SpectrumStream:
    """``feed(samples (N,)) -> new spectrum frames (T, num_mel_bins)``; ``finish()`` -> the last ones.

    Samples are floats at the processor's sampling rate, mono. All the frames, in order, equal
    ``processor.spectrum_of(all the samples)`` (to float rounding).
    """

    def __init__(self, processor):
        check_streamable(processor)
        self.n_fft = round(processor.window_ms * processor.sampling_rate / 1000)
        self.hop = processor.hop
        self.pad = self.n_fft // 2
        self.transform = _framed_transform(processor.sampling_rate, self.n_fft, self.hop, processor.num_mel_bins)
        self.head = torch.zeros(0)  # the first samples, until there are enough to reflect
        self.padded: torch.Tensor | None = None  # the reflected signal from the next frame's start on
        self.tail = torch.zeros(0)  # the last pad + 1 samples: the end's reflection
        self.num_samples = 0
        self.finished = False

    def feed(self, samples: torch.Tensor) -> torch.Tensor:
        if self.finished:
            raise RuntimeError("this audio stream has finished: start a new one")
        samples = torch.as_tensor(samples, dtype=torch.float32)
        if samples.dim() != 1:
            raise ValueError(f"an audio chunk must be mono samples (N,), got shape {tuple(samples.shape)}")
        self.num_samples += samples.numel()
        self.tail = torch.cat([self.tail, samples])[-(self.pad + 1):]
        if self.padded is None:
            self.head = torch.cat([self.head, samples])
            if self.head.numel() <= self.pad:
                return self._empty()
            samples, self.padded = self.head, self.head[1 : self.pad + 1].flip(0)
        self.padded = torch.cat([self.padded, samples])
        return self._frames()

    def finish(self) -> torch.Tensor:
        """The frames that read the end's reflection; the stream then takes no more samples."""
        if self.finished:
            raise RuntimeError("this audio stream has already finished")
        self.finished = True
        if self.padded is None:
            raise MediaError(f"audio: {self.num_samples} samples, too short to stream (at least {self.pad + 1})")
        self.padded = torch.cat([self.padded, self.tail[:-1].flip(0)])
        return self._frames()

    def _frames(self) -> torch.Tensor:
        count = (self.padded.numel() - self.n_fft) // self.hop + 1
        if count <= 0:
            return self._empty()
        used = self.padded[: (count - 1) * self.hop + self.n_fft]
        spectrum = torch.log(self.transform(used) + 1e-6).transpose(0, 1)  # as AudioProcessor.spectrum_of
        self.padded = self.padded[count * self.hop :]
        return spectrum

    def _empty(self) -> torch.Tensor:
        return torch.zeros(0, self.transform.n_mels)
