"""Attention over encoder memory: Bahdanau (additive) and Luong (dot, general).

Attention modules are stateless: ``project_keys`` turns the memory into keys once per source,
and the caller passes those keys to every call. Queries may cover one step (B, 1, Q) or a whole
target (B, T, Q); padded memory positions get exactly zero weight.
"""

from __future__ import annotations

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of ``scores`` (B, T, S) with ``mask`` (B, S) False at padding."""
    scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
    return torch.softmax(scores, dim=-1)


class BahdanauAttention(nn.Module):
    """``score(q, m) = v^T tanh(W_q q + W_k m)`` (Bahdanau et al., 2015)."""

    def __init__(self, *, query_size: int, memory_size: int, attention_size: int):
        super().__init__()
        self.key_layer = nn.Linear(memory_size, attention_size, bias=False)
        self.query_layer = nn.Linear(query_size, attention_size, bias=False)
        self.energy_layer = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        """Keys (B, S, A) from memory (B, S, M)."""
        return self.key_layer(memory)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores (B, T, S) for query (B, T, Q)."""
        projected = self.query_layer(query)  # (B, T, A)
        energies = torch.tanh(projected.unsqueeze(2) + keys.unsqueeze(1))  # (B, T, S, A)
        return self.energy_layer(energies).squeeze(-1)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context (B, T, M) and weights (B, T, S) for query (B, T, Q)."""
        weights = masked_softmax(self.scores(query, keys), mask)
        return torch.bmm(weights, memory), weights


class LuongAttention(nn.Module):
    """``score(q, m) = q^T m`` ("dot") or ``q^T W m`` ("general") (Luong et al., 2015)."""

    def __init__(self, *, query_size: int, memory_size: int, score: str = "general"):
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"Luong score must be 'dot' or 'general', got {score!r}")
        if score == "dot" and query_size != memory_size:
            raise ValueError(
                f"Luong dot attention needs query size == memory size, got {query_size} and "
                f"{memory_size}; use 'general'"
            )
        self.key_layer = nn.Linear(memory_size, query_size, bias=False) if score == "general" else None

    def project_keys(self, memory: torch.Tensor) -> torch.Tensor:
        """Keys (B, S, Q) from memory (B, S, M)."""
        return memory if self.key_layer is None else self.key_layer(memory)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores (B, T, S) for query (B, T, Q)."""
        return torch.bmm(query, keys.transpose(1, 2))

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context (B, T, M) and weights (B, T, S) for query (B, T, Q)."""
        weights = masked_softmax(self.scores(query, keys), mask)
        return torch.bmm(weights, memory), weights


def make_attention(
    kind: str, *, query_size: int, memory_size: int, attention_size: int
) -> BahdanauAttention | LuongAttention:
    if kind == "bahdanau":
        return BahdanauAttention(
            query_size=query_size, memory_size=memory_size, attention_size=attention_size
        )
    if kind in ("luong_dot", "luong_general"):
        return LuongAttention(
            query_size=query_size, memory_size=memory_size, score=kind.removeprefix("luong_")
        )
    raise ValueError(f"unknown attention {kind!r}; choose bahdanau, luong_dot or luong_general")
