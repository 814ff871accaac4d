"""Reading a memory in several attention hops before decoding (multi-hop reasoning).

A question such as "where is the football?" needs two facts: who picked the football up, then
where that person went. Each hop scores every memory position against the question and against
what the previous hops found, takes the attended context, and updates the query with a GRU cell
(the episodic memory of dynamic memory networks, Kumar et al. 2016 and Xiong et al. 2016). The
score sees element-wise products and distances (``m * q``, ``|m - q|``), so matching a memory
position to the query is built in, not learned from scratch by an additive attention.
"""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.attention import masked_softmax


class MultiHopReader(nn.Module):
    def __init__(self, *, size: int, hidden_size: int, hops: int):
        super().__init__()
        if hops < 1:
            raise ValueError(f"hops must be at least 1, got {hops}")
        self.hops = hops
        # One scorer and one update shared by all hops: few parameters for small data (bAbI 1k).
        self.scorer = nn.Sequential(nn.Linear(4 * size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1))
        self.update = nn.GRUCell(size, size)

    def forward(self, query: torch.Tensor, states: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, D), memory states (B, S, D), mask (B, S) -> read query (B, D), weights (B, hops, S)."""
        question = query.unsqueeze(1)  # (B, 1, D)
        current, weights = query, []
        for _ in range(self.hops):
            found = current.unsqueeze(1)
            features = torch.cat([states * question, states * found, (states - question).abs(),
                                  (states - found).abs()], dim=-1)  # (B, S, 4D)
            hop = masked_softmax(self.scorer(features).transpose(1, 2), mask)  # (B, 1, S)
            current = self.update(torch.bmm(hop, states).squeeze(1), current)
            weights.append(hop)
        return current, torch.cat(weights, dim=1)
