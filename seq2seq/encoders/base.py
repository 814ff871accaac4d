"""The contract every encoder meets, whatever its modality."""

from __future__ import annotations

from typing import NamedTuple

import torch


class EncoderOutput(NamedTuple):
    """What the decoder attends over.

    states: (B, S, D) memory, D the model's memory size, zero at padding
    mask:   (B, S) bool, True at real positions
    final:  (B, D) a summary of each sequence, used to initialise the decoder
    segments: with several inputs joined along time, each input's number of positions (its
              padded length); empty for one input
    """

    states: torch.Tensor
    mask: torch.Tensor
    final: torch.Tensor
    segments: tuple[int, ...] = ()
