"""Text encoder: token embeddings followed by a (bi)directional RNN over packed sequences."""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.encoders.base import EncoderOutput
from seq2seq.rnn import last_layer_final, make_rnn, run_rnn


class TextEncoder(nn.Module):
    def __init__(
        self,
        *,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        rnn_type: str = "gru",
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        embedding_dropout: float = 0.0,
        padding_idx: int = 0,
    ):
        super().__init__()
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_idx)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.rnn = make_rnn(
            rnn_type=rnn_type,
            input_size=embedding_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
        )
        self.output_dropout = nn.Dropout(dropout)

    def forward(self, src_ids: torch.Tensor, src_mask: torch.Tensor) -> EncoderOutput:
        """Encode ``src_ids`` (B, S) with ``src_mask`` (B, S) True at real tokens.

        Returns states (B, S, D*H), the mask, and the top layer's final state (B, D*H).
        """
        lengths = src_mask.sum(dim=1)
        embedded = self.embedding_dropout(self.embedding(src_ids))  # (B, S, E)
        states, final = run_rnn(self.rnn, embedded, lengths)  # (B, S, D*H)
        final = last_layer_final(final, num_layers=self.num_layers, bidirectional=self.bidirectional)
        return EncoderOutput(self.output_dropout(states), src_mask, final)
