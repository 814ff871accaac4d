"""Training losses beyond plain cross-entropy: label smoothing over what the decoder can emit, and CTC."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from seq2seq.tokenization import BOS_ID, PAD_ID


def smoothed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Summed cross-entropy of logits (N, V) against targets (N,) with label smoothing.

    The target distribution puts ``1 - smoothing`` on the reference token and spreads
    ``smoothing`` uniformly over the tokens the decoder can emit: not pad or bos, which search
    never generates (``F.cross_entropy``'s smoothing would spread it over the whole vocabulary).
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (N,)
    emittable = log_probs.sum(dim=-1) - log_probs[:, PAD_ID] - log_probs[:, BOS_ID]
    uniform = -emittable / (log_probs.size(-1) - 2)
    return ((1.0 - smoothing) * nll + smoothing * uniform).sum()


def ctc_loss_sum(logits: torch.Tensor, mask: torch.Tensor, batch) -> torch.Tensor:
    """CTC negative log-likelihood of the target tokens (no bos/eos), summed over the batch, from
    per-position logits (B, S, V) over the encoder states (mask (B, S)); blank = the padding id."""
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (S, B, V)
    targets = batch.tgt_in[:, 1:]  # tokens, then padding
    target_lengths = (batch.tgt_out != PAD_ID).sum(dim=1) - 1
    # zero_infinity: a target longer than its subsampled input has no alignment; skip it, not NaN.
    return F.ctc_loss(log_probs, targets, mask.sum(dim=1), target_lengths, blank=PAD_ID,
                      reduction="sum", zero_infinity=True)
