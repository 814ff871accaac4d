"""Recurrent blocks by name: Elman, GRU and LSTM.

The Elman network is the origin spec's ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)``; PyTorch's
``nn.RNN`` with tanh computes exactly that (its two bias vectors sum to ``b_h``), and shares the
fused oneDNN/cuDNN kernels with GRU and LSTM. The output layer ``o_t = softmax(W_ho h_t + b_o)``
is the decoder's output projection.

Variable-length batches are packed, so padding never changes the outputs or the final state.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

RNN_TYPES = {"elman": nn.RNN, "rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

# An LSTM state is (h, c); the others are h alone. Both have shape (num_layers * D, B, H).
RNNState = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def make_rnn(
    *,
    rnn_type: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
) -> nn.RNNBase:
    """A batch-first recurrent layer; ``dropout`` acts between stacked layers."""
    rnn_class = RNN_TYPES.get(rnn_type.lower())
    if rnn_class is None:
        raise ValueError(f"unknown rnn_type {rnn_type!r}; choose one of elman, gru, lstm")
    kwargs = {"nonlinearity": "tanh"} if rnn_class is nn.RNN else {}
    return rnn_class(
        input_size,
        hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        batch_first=True,
        **kwargs,
    )


def run_rnn(
    rnn: nn.RNNBase,
    inputs: torch.Tensor,
    lengths: torch.Tensor | None = None,
    state: RNNState | None = None,
) -> tuple[torch.Tensor, RNNState]:
    """Run ``rnn`` over ``inputs`` (B, T, I), packing when ``lengths`` (B,) is given.

    Returns outputs (B, T, D*H), zero at padded positions, and the final state taken at each
    sequence's true last step.
    """
    # An exported graph (export.py) takes one unpadded sequence: nothing to pack, and packing's
    # data-dependent shapes cannot be exported.
    if lengths is None or torch.compiler.is_exporting():
        return rnn(inputs, state)
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    outputs, final = rnn(packed, state)
    outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=inputs.size(1))
    return outputs, final


def last_layer_final(final: RNNState, *, num_layers: int, bidirectional: bool) -> torch.Tensor:
    """The top layer's final hidden state (B, D*H), directions concatenated."""
    hidden = final[0] if isinstance(final, tuple) else final
    num_directions = 2 if bidirectional else 1
    hidden = hidden.view(num_layers, num_directions, hidden.size(1), hidden.size(2))[-1]
    return torch.cat(list(hidden), dim=-1)
