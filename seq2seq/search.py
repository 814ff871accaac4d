"""Batched greedy and beam search.

Search needs one protocol from the decoder: ``step(prev_tokens, state, memory) -> (logits, state,
weights)``, with ``state.index_select`` and ``memory.index_select`` to reorder beams. Beam search
runs sentences x beams as one batch; hypotheses are tensors, never Python objects.

A hypothesis's **score** is the same in both searches: the model's log-probability of its tokens
(eos included), divided by the GNMT length penalty of its length, ``((5 + |Y|) / 6) ** alpha``.
With ``alpha = 0`` it is the plain log-probability. A hypothesis cut at its length limit has no
eos and is scored over the tokens it has.

**Length limits** are per input: ``max_length`` is either one number for the whole batch or a
(B,) tensor, usually from :func:`output_limits` (fairseq's ``a * source_length + b``, capped).
An output that reaches its limit without eos is cut there; :func:`hit_limit` tells which.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch


class StepDecoder(Protocol):
    def step(self, prev_tokens, state, memory): ...


class SearchOutput(NamedTuple):
    """tokens (B, N, L) padded, ending with eos when finished; scores (B, N); attention (B, N, L, S),
    or None when not asked for.

    N is the number of hypotheses per input (1 for greedy, n_best for beam search), best first.
    Scores are log-probabilities divided by the length penalty (see the module docstring).
    """

    tokens: torch.Tensor
    scores: torch.Tensor
    attention: torch.Tensor


def output_limits(source_lengths: torch.Tensor, *, max_length: int, max_length_a: float = 0.0,
                  max_length_b: int = 0) -> torch.Tensor:
    """Per-input output limits (B,): ``min(max_length, floor(a * source_length + b))``, at least 1.

    With ``a = b = 0`` every input gets ``max_length`` (an absolute limit only).
    """
    limits = torch.full_like(source_lengths, max_length)
    if max_length_a or max_length_b:
        relative = (max_length_a * source_lengths.float() + max_length_b).floor().long()
        limits = torch.minimum(limits, relative.clamp(min=1))
    return limits


def hit_limit(tokens: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Which outputs (..., L) stopped at their length limit: those without an eos."""
    return ~(tokens == eos_id).any(dim=-1)


def generated_tokens(tokens: list[int], eos_id: int, pad_id: int) -> tuple[list[int], bool]:
    """One output row's tokens without eos and padding, and whether it finished (has an eos).

    A batch's rows are padded to its longest output: a row cut at a shorter per-row limit ends
    in padding, not in tokens of its own."""
    if eos_id in tokens:
        return tokens[: tokens.index(eos_id)], True
    end = len(tokens)
    while end and tokens[end - 1] == pad_id:
        end -= 1
    return tokens[:end], False


def _limits(max_length: int | torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    if isinstance(max_length, torch.Tensor):
        return max_length.to(device=device, dtype=torch.long)
    return torch.full((batch_size,), max_length, dtype=torch.long, device=device)


def length_penalty(length: int | torch.Tensor, alpha: float) -> float | torch.Tensor:
    """GNMT length penalty ``((5 + |Y|) / 6) ** alpha`` (Wu et al., 2016)."""
    return ((5.0 + length) / 6.0) ** alpha


def _log_probs(logits: torch.Tensor, pad_id: int, bos_id: int) -> torch.Tensor:
    """Log-probabilities (B, V) in fp32; pad and bos are never generated.

    They are excluded after normalising, so scores stay the model's own log-probabilities.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    log_probs[:, [pad_id, bos_id]] = float("-inf")
    return log_probs


@torch.no_grad()
def greedy_search(
    decoder: StepDecoder, state, memory, *, max_length: int | torch.Tensor, bos_id: int, eos_id: int, pad_id: int,
    alpha: float = 1.0,
) -> SearchOutput:
    batch_size = memory.states.size(0)
    prev = memory.states.new_full((batch_size,), bos_id, dtype=torch.long)
    limits = _limits(max_length, batch_size, prev.device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=prev.device)
    scores = memory.states.new_zeros(batch_size, dtype=torch.float)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=prev.device)
    tokens, attention = [], []
    for t in range(int(limits.max())):
        logits, state, weights = decoder.step(prev, state, memory)
        best_log_probs, prev = _log_probs(logits, pad_id, bos_id).max(dim=-1)
        prev = prev.masked_fill(finished, pad_id)
        scores += best_log_probs.masked_fill(finished, 0.0)
        lengths += ~finished
        tokens.append(prev)
        attention.append(weights.masked_fill(finished.unsqueeze(1), 0.0))
        finished |= (prev == eos_id) | (limits <= t + 1)
        if finished.all():
            break
    return SearchOutput(
        torch.stack(tokens, dim=1).unsqueeze(1),
        (scores / length_penalty(lengths.float(), alpha)).unsqueeze(1),
        torch.stack(attention, dim=1).unsqueeze(1),
    )


@torch.no_grad()
def beam_search(
    decoder: StepDecoder,
    state,
    memory,
    *,
    num_beams: int,
    max_length: int | torch.Tensor,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    alpha: float = 1.0,
    n_best: int = 1,
    return_attention: bool = True,
) -> SearchOutput:
    """Beam search with fairseq's bookkeeping: of the 2K best continuations, those ending in eos
    among the top K are finished; the K best others stay alive. A sentence is done once it has K
    finished hypotheses and its best alive hypothesis, normalised at its current length, scores no
    better than the worst of them. Beam size 1 is therefore exactly greedy search.

    Done sentences leave the batch, so the decoder only works for sentences still searching.
    Attention histories are kept only with ``return_attention`` (``attention`` is None otherwise).
    """
    if not 1 <= n_best <= num_beams:
        raise ValueError(f"n_best must be between 1 and num_beams={num_beams}, got {n_best}")
    beams = num_beams
    batch_size, source_length = memory.mask.shape
    device = memory.states.device
    limits = _limits(max_length, batch_size, device)
    max_length = int(limits.max())
    # Row a * K + k is beam k of the a-th sentence still searching; `active` maps a to the batch.
    expand = torch.arange(batch_size, device=device).repeat_interleave(beams)
    memory = memory.index_select(expand)
    state = state.index_select(expand)
    active = torch.arange(batch_size, device=device)
    beam_offsets = torch.arange(beams, device=device)

    beam_scores = torch.full((batch_size, beams), float("-inf"), device=device)
    beam_scores[:, 0] = 0.0  # all beams start identical: keep one alive
    alive_tokens = torch.empty(batch_size * beams, 0, dtype=torch.long, device=device)
    alive_attention = memory.states.new_zeros(batch_size * beams, 0, source_length) if return_attention else None
    prev = torch.full((batch_size * beams,), bos_id, dtype=torch.long, device=device)

    finished_scores = torch.full((batch_size, beams), float("-inf"), device=device)
    finished_tokens = torch.full((batch_size, beams, max_length), pad_id, dtype=torch.long, device=device)
    finished_attention = (memory.states.new_zeros(batch_size, beams, max_length, source_length)
                          if return_attention else None)
    num_finished = torch.zeros(batch_size, dtype=torch.long, device=device)

    for t in range(max_length):
        num_active = active.numel()
        logits, state, weights = decoder.step(prev, state, memory)
        log_probs = _log_probs(logits, pad_id, bos_id)  # (A*K, V)
        vocab_size = log_probs.size(-1)
        candidates = (beam_scores.unsqueeze(-1) + log_probs.view(num_active, beams, -1)).view(num_active, -1)
        top_scores, top_index = candidates.topk(2 * beams, dim=-1)  # (A, 2K)
        row_offset = (torch.arange(num_active, device=device) * beams).unsqueeze(1)
        top_rows = (row_offset + top_index // vocab_size).view(-1)  # rows of A*K, (A*2K,)
        top_tokens = top_index % vocab_size
        candidate_tokens = torch.cat([alive_tokens[top_rows], top_tokens.view(-1, 1)], dim=1)
        if return_attention:
            candidate_attention = torch.cat([alive_attention[top_rows], weights[top_rows].unsqueeze(1)], dim=1)

        # Finish: eos among the top K (every top-K candidate of a sentence at its length limit).
        at_limit = limits[active] <= t + 1  # (A,)
        ends = (top_tokens == eos_id) | at_limit.unsqueeze(1)
        ends[:, beams:] = False
        num_finished[active] += ends.sum(dim=1)
        new_scores = (top_scores / length_penalty(t + 1, alpha)).masked_fill(~ends, float("-inf"))
        merged, keep = torch.cat([finished_scores[active], new_scores], dim=1).topk(beams, dim=1)
        finished_scores[active] = merged
        padded = torch.nn.functional.pad(candidate_tokens, (0, max_length - t - 1), value=pad_id)
        finished_tokens[active] = torch.cat(
            [finished_tokens[active], padded.view(num_active, 2 * beams, -1)], dim=1
        ).gather(1, keep.unsqueeze(-1).expand(-1, -1, max_length))
        if return_attention:
            padded = torch.nn.functional.pad(candidate_attention, (0, 0, 0, max_length - t - 1))
            finished_attention[active] = torch.cat(
                [finished_attention[active], padded.view(num_active, 2 * beams, max_length, -1)], dim=1
            ).gather(1, keep.view(num_active, beams, 1, 1).expand(-1, -1, max_length, source_length))
        if bool(at_limit.all()):
            break

        # Continue: the K best candidates that did not end in eos.
        beam_scores, position = top_scores.masked_fill(top_tokens == eos_id, float("-inf")).topk(beams, dim=1)
        chosen = (torch.arange(num_active, device=device).unsqueeze(1) * 2 * beams + position).view(-1)
        alive_tokens = candidate_tokens[chosen]
        if return_attention:
            alive_attention = candidate_attention[chosen]
        state_rows = top_rows[chosen]

        # Done: K finished, and none of them beaten by the best alive hypothesis as it stands.
        best_alive = beam_scores.max(dim=1).values / length_penalty(t + 1, alpha)
        done = ((num_finished[active] >= beams) & (finished_scores[active][:, beams - 1] >= best_alive)) | at_limit
        if bool(done.all()):
            break
        if bool(done.any()):
            searching = (~done).nonzero().squeeze(1)  # (A',)
            rows = (searching.unsqueeze(1) * beams + beam_offsets).view(-1)
            active, beam_scores = active[searching], beam_scores[searching]
            alive_tokens, state_rows = alive_tokens[rows], state_rows[rows]
            if return_attention:
                alive_attention = alive_attention[rows]
            memory = memory.index_select(rows)  # a sentence's K memory rows are identical
        state = state.index_select(state_rows)
        prev = alive_tokens[:, -1]

    length = int((finished_tokens != pad_id).sum(dim=-1).max().clamp(min=1))
    return SearchOutput(
        finished_tokens[:, :n_best, :length],
        finished_scores[:, :n_best],
        finished_attention[:, :n_best, :length] if return_attention else None,
    )
