"""Numeric-series encoder: an RNN (Elman, GRU or LSTM) over the values of a series, (B, T, F).

A forecaster reads the final state (the origin spec's ``SimpleRNN(50)`` read by a ``Dense``
layer); the states are there for an attention decoder like every encoder's. Variable-length
histories are packed, so padding never changes the result.
"""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.encoders.base import EncoderOutput
from seq2seq.rnn import last_layer_final, make_rnn, run_rnn


class SeriesEncoder(nn.Module):
    def __init__(self, *, num_features: int, hidden_size: int, rnn_type: str = "gru", num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__()
        self.num_features, self.num_layers, self.bidirectional = num_features, num_layers, bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.rnn = make_rnn(rnn_type=rnn_type, input_size=num_features, hidden_size=hidden_size,
                            num_layers=num_layers, bidirectional=bidirectional, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> EncoderOutput:
        """values (B, T, F), mask (B, T) True at real steps (each row's first steps) -> states
        (B, T, D*H), mask, and the top layer's final state (B, D*H) at each row's last real step."""
        if values.dim() != 3 or values.size(-1) != self.num_features:
            raise ValueError(f"series input must be values (B, T, {self.num_features}), got shape "
                             f"{tuple(values.shape)}")
        lengths = mask.sum(dim=1)
        if bool((lengths == 0).any()):
            raise ValueError(f"series input has no values in batch rows {(lengths == 0).nonzero().squeeze(1).tolist()}")
        states, final = run_rnn(self.rnn, values, lengths)
        final = last_layer_final(final, num_layers=self.num_layers, bidirectional=self.bidirectional)
        return EncoderOutput(self.dropout(states), mask, self.dropout(final))
