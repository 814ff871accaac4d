"""Stateful encoders: input fed in chunks, memory out as soon as it is determined.

A unidirectional RNN's output at t depends on the input up to t only: carrying its state from
chunk to chunk gives the states an encoder computes over the whole input at once. What comes
before the RNN must be causal too, up to a bounded look-ahead that the stream holds back:

- audio: each stride-2 convolution (kernel 3) reads one frame ahead, so its output j waits for
  input frame 2j + 1 (or the end, where the convolution's zero padding stands in for it);
- video: the CNN reads each frame alone, except with ``frame_differences``, where frame t also
  reads frame t + 1 (one frame of look-ahead).

A bidirectional encoder reads the input backwards from its end: nothing can be streamed, and
making a stream of one is an error. Streams run in inference mode (dropout off).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from seq2seq.encoders.audio import AudioEncoder
from seq2seq.encoders.video import VideoEncoder
from seq2seq.rnn import RNNState, last_layer_final


class _RecurrentStream:
    """The RNN part: states (T, H) for new inputs, the state carried across chunks."""

    def __init__(self, encoder: nn.Module):
        if encoder.bidirectional:
            raise ValueError("a bidirectional encoder reads its input backwards from the end, so it cannot stream: "
                             "train the input's encoder with bidirectional: false (configs/*_streaming.yaml)")
        self.encoder = encoder
        # Any parameter tells the device (a quantized RNN has none of its own).
        self.device = next(encoder.parameters(), torch.zeros(0)).device
        self.hidden: RNNState | None = None
        self.finished = False

    def _run(self, values: torch.Tensor) -> torch.Tensor:
        """values (T, I) -> states (T, H), advancing the carried state."""
        if values.size(0) == 0:
            return values.new_zeros(0, self.encoder.output_size)
        states, self.hidden = self.encoder.rnn(values.unsqueeze(0), self.hidden)
        return states.squeeze(0)

    @property
    def final(self) -> torch.Tensor:
        """The top layer's state after the last input (1, H), what ``forward`` returns as ``final``."""
        if self.hidden is None:
            raise ValueError("the stream has no input yet: nothing is encoded")
        return last_layer_final(self.hidden, num_layers=self.encoder.num_layers, bidirectional=False)

    def _check_open(self) -> None:
        if self.finished:
            raise RuntimeError("this stream has finished: start a new one")


class AudioEncoderStream(_RecurrentStream):
    """``feed(features (T, F)) -> states (T', H)``; ``finish()`` -> the states the end releases."""

    def __init__(self, encoder: AudioEncoder):
        super().__init__(encoder)
        # Per convolution: its input frames from 2j - 1 on, j its next output (frame -1 = zero padding).
        self.pending = [None] * encoder.num_convs

    def feed(self, features: torch.Tensor) -> torch.Tensor:
        self._check_open()
        if features.dim() != 2 or features.size(-1) != self.encoder.feature_size:
            raise ValueError(f"audio features must be (T, {self.encoder.feature_size}), got {tuple(features.shape)}")
        return self._run(self._convolve(features, end=False))

    def finish(self) -> torch.Tensor:
        self._check_open()
        self.finished = True
        return self._run(self._convolve(None, end=True))

    def _convolve(self, values: torch.Tensor | None, *, end: bool) -> torch.Tensor:
        if values is None:
            values = torch.zeros(0, self.encoder.feature_size, device=self.device)
        for index, conv in enumerate(self.encoder.convs):
            pending = self.pending[index]
            if pending is None:
                pending = values.new_zeros(1, conv.in_channels)
            parts = [pending, values]
            if end:
                parts.append(values.new_zeros(1, conv.in_channels))  # the zero padding after the last frame
            pending = torch.cat(parts)
            count = (pending.size(0) - 3) // 2 + 1 if pending.size(0) >= 3 else 0
            if count:
                window = pending[: 2 * (count - 1) + 3].t().unsqueeze(0)  # (1, C, frames)
                values = torch.relu(F.conv1d(window, conv.weight, conv.bias, stride=2)).squeeze(0).t()
            else:
                values = values.new_zeros(0, conv.out_channels)
            self.pending[index] = pending[2 * count :]
        return values


class VideoEncoderStream(_RecurrentStream):
    """``feed(frames (T, C, H, W)) -> states (T', H)``; ``finish()`` -> the states the end releases.

    Frames are the processor's output (normalised floats). With ``frame_differences`` the last
    frame fed is held back until the next one (or the end) shows how it moved.
    """

    def __init__(self, encoder: VideoEncoder):
        super().__init__(encoder)
        self.held: torch.Tensor | None = None

    def feed(self, frames: torch.Tensor) -> torch.Tensor:
        self._check_open()
        if frames.dim() != 4:
            raise ValueError(f"video frames must be (T, C, H, W), got {tuple(frames.shape)}")
        if not self.encoder.frame_differences:
            return self._run(self._features(frames))
        if self.held is not None:
            frames = torch.cat([self.held, frames])
        if frames.size(0) == 0:
            return frames.new_zeros(0, self.encoder.output_size)
        self.held = frames[-1:]
        return self._run(self._features(frames)[:-1])  # the last one's difference is not known yet

    def finish(self) -> torch.Tensor:
        self._check_open()
        self.finished = True
        if self.held is None:
            return torch.zeros(0, self.encoder.output_size, device=self.device)
        return self._run(self._features(self.held))  # the last frame: a zero difference, as offline

    def _features(self, frames: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(1, frames.size(0), dtype=torch.bool, device=frames.device)
        return self.encoder.frame_features(frames.unsqueeze(0), mask).squeeze(0)


def encoder_stream(encoder: nn.Module) -> AudioEncoderStream | VideoEncoderStream:
    """The stream of an audio or video encoder; other encoders cannot stream."""
    if isinstance(encoder, AudioEncoder):
        return AudioEncoderStream(encoder)
    if isinstance(encoder, VideoEncoder):
        return VideoEncoderStream(encoder)
    raise ValueError(f"{type(encoder).__name__} cannot stream: audio and video encoders can")
