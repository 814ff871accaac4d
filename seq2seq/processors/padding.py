"""Padding shared by the media processors."""

from __future__ import annotations

import torch


def pad_in_time(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences (T_i, ...) -> values (B, T, ...) zero-padded in time, mask (B, T) True at real steps."""
    longest = max(sequence.size(0) for sequence in sequences)
    values = sequences[0].new_zeros(len(sequences), longest, *sequences[0].shape[1:])
    mask = torch.zeros(len(sequences), longest, dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        values[row, : sequence.size(0)] = sequence
        mask[row, : sequence.size(0)] = True
    return values, mask
