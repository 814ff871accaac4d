"""Reading a memory in several hops before decoding (multi-hop reasoning).

A question such as "where is the football?" needs two facts: who picked the football up, then
where that person went. Two readers chain them; both start from the question's summary, read the
story's sentences (``memory_unit: sentences``) and give the query after each hop, which starts
the decoder (and, with ``decoder_memory: reader``, is all the decoder attends over).

- ``MultiHopReader`` (``reader: attention``): each hop scores every memory position against the
  current query, takes the attended memory, and updates the query with a GRU cell (the episodic
  memory of dynamic memory networks, Kumar et al. 2016), so the next hop can look for what the
  last one found ("John"). The score is bilinear, ``m_i . (W_k u + b_k)``, one ``W_k`` per hop,
  as the per-hop embeddings of end-to-end memory networks (Sukhbaatar et al., 2015): matching a
  fact to the query is one product, which small data learns far sooner than a scoring network.
  ``b_k`` lets a hop prefer positions whatever the query (the latest, by their recency vectors).
- ``QueryReductionReader`` (``reader: query_reduction``): query-reduction layers (Seo et al.,
  2017), a recurrent cell run over the sentences in order, forward and backward, whose update
  gate opens where a sentence bears on the query and rewrites it ("where is the apple?" meets
  "Mary got the apple" and becomes "where is Mary?").
- ``CombinedReader`` (``reader: both``): the two side by side from the same question, the
  decoder reading all their queries. Query reduction follows time (where is Mary now?); the
  attention hops chain facts in any order (task 15: "Gertrude is a cat" may come after "Cats
  are afraid of wolves", which a forward pass has already passed).

Each reader also scores its reading weights against bAbI's supporting facts (``fact_loss``), for
the optional strong supervision.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from seq2seq.attention import masked_softmax


class HopsOutput(NamedTuple):
    """final: (B, D) the query after the last hop; queries: (B, hops, D) after each hop;
    weights: (B, hops, S) how much each hop read each memory position."""

    final: torch.Tensor
    queries: torch.Tensor
    weights: torch.Tensor


class MultiHopReader(nn.Module):
    def __init__(self, *, size: int, hops: int):
        super().__init__()
        if hops < 1:
            raise ValueError(f"hops must be at least 1, got {hops}")
        self.hops = hops
        self.scale = size**-0.5  # unscaled products saturated the softmax on the first updates
        self.queries = nn.ModuleList(nn.Linear(size, size) for _ in range(hops))
        self.update = nn.GRUCell(size, size)  # one for all hops: few parameters for small data

    @property
    def labels(self) -> list[str]:
        """A name for each row of the weights (B, hops, S)."""
        return [f"hop {k + 1}" for k in range(self.hops)]

    def forward(self, query: torch.Tensor, states: torch.Tensor,
                mask: torch.Tensor) -> HopsOutput:
        """query (B, D), memory states (B, S, D), mask (B, S) -> the query after each hop, and the
        hops' attention weights."""
        current, queries, weights = query, [], []
        for project in self.queries:
            scores = torch.bmm(states, project(current).unsqueeze(-1)).transpose(1, 2) * self.scale  # (B, 1, S)
            hop = masked_softmax(scores, mask)
            current = self.update(torch.bmm(hop, states).squeeze(1), current)
            queries.append(current)
            weights.append(hop)
        return HopsOutput(current, torch.stack(queries, dim=1), torch.cat(weights, dim=1))

    @staticmethod
    def fact_loss(weights: torch.Tensor, facts: torch.Tensor) -> torch.Tensor:
        """Hop k should read fact k (the facts come in the order of reasoning): weights (B, hops, S),
        facts (B, K) with -1 = none -> the summed cross-entropy of each hop that has a fact."""
        steps = min(weights.size(1), facts.size(1))
        chosen, facts = weights[:, :steps].float(), facts[:, :steps]
        picked = chosen.gather(-1, facts.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, steps)
        return -(picked.clamp(min=1e-9).log() * (facts >= 0)).sum()


class QueryReductionLayer(nn.Module):
    """One direction of one layer of a query-reduction network (Seo et al., 2017)."""

    def __init__(self, size: int):
        super().__init__()
        self.update_gate = nn.Linear(size, 1)
        self.reset_gate = nn.Linear(size, 1)
        self.candidate = nn.Linear(2 * size, size)

    def forward(self, states: torch.Tensor, queries: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """states, queries (B, N, D), mask (B, N) -> reduced queries (B, N, D), update gates (B, N).

        ``h_t = z_t r_t tanh(W [x_t; q_t]) + (1 - z_t) h_{t-1}``, the gates from ``x_t * q_t``.
        The gates do not depend on ``h``, so the recurrence is a weighted sum computed for all
        steps at once: ``h_t = sum_{s<=t} z_s r_s c_s prod_{s<r<=t} (1 - z_r)``.
        """
        matched = states * queries
        update = torch.sigmoid(self.update_gate(matched)).squeeze(-1) * mask  # (B, N), 0 at padding
        reset = torch.sigmoid(self.reset_gate(matched))
        written = update.unsqueeze(-1) * reset * torch.tanh(self.candidate(torch.cat([states, queries], dim=-1)))
        kept = torch.cumsum(torch.log1p(-update.clamp(max=1 - 1e-6)), dim=1)  # (B, N): log prod (1 - z) up to t
        decay = kept.unsqueeze(2) - kept.unsqueeze(1)  # (B, t, s): log prod_{s<r<=t} (1 - z_r)
        causal = torch.ones(decay.shape[1:], dtype=torch.bool, device=decay.device).tril()
        weights = decay.masked_fill(~causal, float("-inf")).exp()
        return torch.bmm(weights, written), update


class QueryReductionReader(nn.Module):
    """Query-reduction layers (Seo et al., 2017), each a forward and a backward pass over the
    sentences; a layer's reduced queries, one per sentence, are the next layer's queries.

    Reading forward, "where is the apple?" meets "Mary got the apple": the update gate opens and
    the query becomes "where is Mary?", which "Mary went to the hallway" answers later on. The
    gates are the hops' reading weights: which sentences changed the query.
    """

    def __init__(self, *, size: int, hops: int):
        super().__init__()
        if hops < 1:
            raise ValueError(f"hops must be at least 1, got {hops}")
        self.hops = hops
        self.forward_layers = nn.ModuleList(QueryReductionLayer(size) for _ in range(hops))
        self.backward_layers = nn.ModuleList(QueryReductionLayer(size) for _ in range(hops))

    @property
    def labels(self) -> list[str]:
        """A name for each row of the gates (B, hops, S)."""
        return [f"layer {k + 1}" for k in range(self.hops)]

    def forward(self, query: torch.Tensor, states: torch.Tensor, mask: torch.Tensor) -> HopsOutput:
        """query (B, D), sentence states (B, N, D), mask (B, N) -> the query reduced by each layer
        (read at the last sentence), and each layer's forward update gates (B, hops, N)."""
        queries = query.unsqueeze(1).expand_as(states)
        lengths = mask.sum(dim=1)
        reverse = _reverse_index(lengths, states.size(1))
        last = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, states.size(-1))
        finals, gates = [], []
        for forward_layer, backward_layer in zip(self.forward_layers, self.backward_layers, strict=True):
            ahead, update = forward_layer(states, queries, mask)
            behind, _ = backward_layer(_take(states, reverse), _take(queries, reverse), mask.gather(1, reverse))
            queries = ahead + _take(behind, reverse)
            finals.append(queries.gather(1, last).squeeze(1))
            gates.append(update)
        return HopsOutput(finals[-1], torch.stack(finals, dim=1), torch.stack(gates, dim=1))

    @staticmethod
    def fact_loss(weights: torch.Tensor, facts: torch.Tensor) -> torch.Tensor:
        """Every layer's update gate should open at the facts and stay shut elsewhere: gates
        (B, hops, S), facts (B, K) with -1 = none -> the summed binary cross-entropy."""
        positions = torch.arange(weights.size(-1), device=facts.device)
        targets = (positions.view(1, 1, -1) == facts.unsqueeze(-1)).any(dim=1).float()  # (B, S)
        # Padded positions have a gate of exactly 0 and a target of 0: they add nothing.
        return F.binary_cross_entropy(weights.float().clamp(1e-6, 1 - 1e-6),
                                      targets.unsqueeze(1).expand_as(weights), reduction="sum")


class CombinedReader(nn.Module):
    """Query-reduction layers and attention hops side by side, both from the question: the final
    query is the sum of theirs, the queries (B, 2 * hops, D) and weights (B, 2 * hops, S) are the
    layers' then the hops'."""

    def __init__(self, *, size: int, hops: int):
        super().__init__()
        self.reduction = QueryReductionReader(size=size, hops=hops)
        self.attention = MultiHopReader(size=size, hops=hops)
        self.hops = hops

    @property
    def labels(self) -> list[str]:
        return self.reduction.labels + self.attention.labels

    def forward(self, query: torch.Tensor, states: torch.Tensor, mask: torch.Tensor) -> HopsOutput:
        reduced, attended = self.reduction(query, states, mask), self.attention(query, states, mask)
        return HopsOutput(reduced.final + attended.final, torch.cat([reduced.queries, attended.queries], dim=1),
                          torch.cat([reduced.weights, attended.weights], dim=1))

    def fact_loss(self, weights: torch.Tensor, facts: torch.Tensor) -> torch.Tensor:
        return (self.reduction.fact_loss(weights[:, :self.hops], facts)
                + self.attention.fact_loss(weights[:, self.hops:], facts))


def _reverse_index(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, N) indices reversing each row's first ``length`` positions, padding left in place."""
    positions = torch.arange(width, device=lengths.device).unsqueeze(0)
    reverse = lengths.unsqueeze(1) - 1 - positions
    return torch.where(reverse >= 0, reverse, positions)


def _take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B, N, D) at positions index (B, N)."""
    return values.gather(1, index.unsqueeze(-1).expand_as(values))


READERS = {"attention": MultiHopReader, "query_reduction": QueryReductionReader, "both": CombinedReader}


def check_reader_settings(*, hops: int, reader: str, decoder_memory: str, hop_supervision: float) -> None:
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r} (choose {', '.join(READERS)})")
    if decoder_memory not in ("inputs", "reader"):
        raise ValueError(f"decoder_memory must be 'inputs' or 'reader', got {decoder_memory!r}")
    if decoder_memory == "reader" and not hops:
        raise ValueError("decoder_memory 'reader' needs hops >= 1 (the reader's output is the memory)")
    if hop_supervision and not hops:
        raise ValueError("hop_supervision needs hops >= 1 (it is a loss on what the hops read)")
