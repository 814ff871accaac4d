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


def join_outputs(outputs: list[EncoderOutput]) -> EncoderOutput:
    """Several inputs' outputs as one memory, joined along time (final: their mean)."""
    if len(outputs) == 1:
        return outputs[0]
    return EncoderOutput(
        torch.cat([o.states for o in outputs], dim=1),
        torch.cat([o.mask for o in outputs], dim=1),
        torch.stack([o.final for o in outputs]).mean(dim=0),
        tuple(o.states.size(1) for o in outputs),
    )


