"""Audio encoder: strided 1-D convolutions over time (subsampling), then a (bi)directional RNN.

Subsampling is not optional in spirit: at 100 feature frames per second, attention over raw
frames costs B x T x S scores per step (Bahdanau: B x T x S x A floats). Each stride-2
convolution halves the frames; the mask follows the subsampled lengths exactly, and padded frames
are zeroed before every convolution, so padding never changes the output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seq2seq.encoders.base import EncoderOutput
from seq2seq.rnn import last_layer_final, make_rnn, run_rnn


def subsampled_lengths(lengths: torch.Tensor, layers: int) -> torch.Tensor:
    """Frames left after ``layers`` stride-2 convolutions (kernel 3, padding 1): ceil(L / 2) each."""
    for _ in range(layers):
        lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
    return lengths


class AudioEncoder(nn.Module):
    def __init__(
        self,
        *,
        feature_size: int,
        hidden_size: int,
        subsampling: int = 4,
        conv_channels: int = 256,
        rnn_type: str = "gru",
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if subsampling < 1 or subsampling & (subsampling - 1):
            raise ValueError(f"subsampling must be a power of two (1, 2, 4, 8, ...), got {subsampling}")
        self.num_convs = int(math.log2(subsampling))
        self.convs = nn.ModuleList(
            nn.Conv1d(feature_size if index == 0 else conv_channels, conv_channels, 3, stride=2, padding=1)
            for index in range(self.num_convs))
        rnn_input = conv_channels if self.num_convs else feature_size
        self.feature_size = feature_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.rnn = make_rnn(rnn_type=rnn_type, input_size=rnn_input, hidden_size=hidden_size, num_layers=num_layers,
                            bidirectional=bidirectional, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> EncoderOutput:
        """Encode features (B, T, F) with ``mask`` (B, T) True at real frames.

        Returns states (B, T', D*H) with T' = T / subsampling (rounded up), the subsampled mask
        (B, T'), and the top layer's final state (B, D*H).
        """
        if features.dim() != 3 or features.size(-1) != self.feature_size:
            raise ValueError(f"audio input must be features (B, T, {self.feature_size}), got shape "
                             f"{tuple(features.shape)}")
        lengths = mask.sum(dim=1)
        if bool((lengths == 0).any()):
            rows = (lengths == 0).nonzero().squeeze(1).tolist()
            raise ValueError(f"audio input has no frames in batch rows {rows}")
        values = features.transpose(1, 2)  # (B, F, T)
        for conv in self.convs:
            values = values * mask.unsqueeze(1)  # padding stays zero, whatever the layer below made of it
            values = torch.relu(conv(values))
            lengths = subsampled_lengths(lengths, 1)
            mask = torch.arange(values.size(-1), device=values.device).unsqueeze(0) < lengths.unsqueeze(1)
        values = (values * mask.unsqueeze(1)).transpose(1, 2)  # (B, T', C)
        states, final = run_rnn(self.rnn, self.dropout(values), lengths)
        final = last_layer_final(final, num_layers=self.num_layers, bidirectional=self.bidirectional)
        return EncoderOutput(self.dropout(states), mask, final)
