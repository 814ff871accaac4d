"""Sampled decoding: temperature, top-k and nucleus (top-p) filtering, reproducible for a seed.

Each step draws the next token from the model's distribution reshaped by the settings: logits
divided by ``temperature``, then only the ``top_k`` most likely tokens (0: all), then only the
smallest set of most likely tokens whose probability reaches ``top_p`` (1.0: all). The draws come
from a ``torch.Generator`` seeded with ``seed``, so a seed gives the same text on every call and
never disturbs the global RNG. ``top_k=1`` (or a tiny ``top_p``) is greedy search.

A sample's score, as in greedy and beam search, is the model's own log-probability of its tokens
(untempered, unfiltered) divided by the length penalty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from seq2seq.greedy import one_path_search
from seq2seq.search import SearchOutput, StepDecoder


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    top_k: int = 0  # keep the k most likely tokens; 0 keeps all
    top_p: float = 1.0  # keep the most likely tokens until their probability reaches p; 1.0 keeps all
    seed: int | None = None  # None: a fresh random seed
    # Draws from this generator when given (one stream across several searches), else from a new
    # one seeded with ``seed``.
    generator: torch.Generator | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not self.temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {self.temperature!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top_k must be a whole number >= 0 (0 keeps every token), got {self.top_k!r}")
        if isinstance(self.top_p, bool) or not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be a number in (0, 1], got {self.top_p!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"seed must be a whole number or None, got {self.seed!r}")

    def make_generator(self, device: torch.device) -> torch.Generator:
        """A generator seeded with ``seed``, or with a fresh seed (the global RNG is left alone)."""
        generator = torch.Generator(device=device)
        if self.seed is None:
            generator.seed()
        else:
            generator.manual_seed(self.seed)
        return generator


def filtered_logits(log_probs: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Log-probabilities (B, V) -> the logits sampling draws from: tempered, with the tokens that
    top-k and top-p leave out at -inf (the most likely token always stays)."""
    logits = log_probs / sampling.temperature
    if sampling.top_k and sampling.top_k < logits.size(-1):
        kth = logits.topk(sampling.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        before = ordered.softmax(dim=-1).cumsum(dim=-1) - ordered.softmax(dim=-1)  # mass of the tokens ahead
        drop = before >= sampling.top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


Pick = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def sampling_pick(sampling: Sampling, device: torch.device) -> Pick:
    """``pick`` for ``search.one_path_steps``: a draw from the filtered distribution, and its log-probability."""
    generator = sampling.generator or sampling.make_generator(device)

    def pick(log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = filtered_logits(log_probs, sampling).softmax(dim=-1)
        tokens = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
        return log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1), tokens

    return pick


@torch.no_grad()
def sample_search(decoder: StepDecoder, state, memory, *, max_length: int | torch.Tensor, bos_id: int, eos_id: int,
                  pad_id: int, alpha: float = 1.0, sampling: Sampling,
                  first_tokens: torch.Tensor | None = None) -> SearchOutput:
    """One sampled output per input (tokens (B, 1, L), scores (B, 1), attention (B, 1, L, S))."""
    return one_path_search(decoder, state, memory, max_length=max_length, bos_id=bos_id, eos_id=eos_id,
                           pad_id=pad_id, alpha=alpha, pick=sampling_pick(sampling, memory.states.device),
                           first_tokens=first_tokens)
