"""Batched greedy and beam search.

Search needs one protocol from the decoder: ``step(prev_tokens, state, memory) -> (logits, state,
weights)``, with ``state.index_select`` and ``memory.index_select`` to reorder beams. Beam search
runs sentences x beams as one batch; hypotheses are tensors, never Python objects.

A hypothesis's **score** is the same in both searches: the model's log-probability of its tokens
(eos included), divided by the GNMT length penalty of its length, ``((5 + |Y|) / 6) ** alpha``.
With ``alpha = 0`` it is the plain log-probability. A hypothesis cut at its length limit has no
eos and is scored over the tokens it has.

Every search starts from bos, or from ``first_tokens`` (B,) where given: a language model
continuing a prompt starts from the prompt's last token, its state having read the ones before.

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


def per_input_limits(max_length: int | torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    if isinstance(max_length, torch.Tensor):
        return max_length.to(device=device, dtype=torch.long)
    return torch.full((batch_size,), max_length, dtype=torch.long, device=device)


def length_penalty(length: int | torch.Tensor, alpha: float) -> float | torch.Tensor:
    """GNMT length penalty ``((5 + |Y|) / 6) ** alpha`` (Wu et al., 2016)."""
    return ((5.0 + length) / 6.0) ** alpha


def emittable_log_probs(logits: torch.Tensor, pad_id: int, bos_id: int) -> torch.Tensor:
    """Log-probabilities (B, V) in fp32; pad and bos are never generated.

    They are excluded after normalising, so scores stay the model's own log-probabilities.
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    log_probs[:, [pad_id, bos_id]] = float("-inf")
    return log_probs


class _Finished:
    """The K best finished hypotheses of each sentence, (B, K, ...), kept across steps."""

    def __init__(self, batch_size: int, beams: int, max_length: int, source_length: int, *, pad_id: int,
                 like: torch.Tensor, return_attention: bool):
        device = like.device
        self.beams, self.max_length = beams, max_length
        self.scores = torch.full((batch_size, beams), float("-inf"), device=device)
        self.tokens = torch.full((batch_size, beams, max_length), pad_id, dtype=torch.long, device=device)
        self.attention = like.new_zeros(batch_size, beams, max_length, source_length) if return_attention else None
        self.count = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.pad_id = pad_id

    def add(self, active: torch.Tensor, scores: torch.Tensor, tokens: torch.Tensor,
            attention: torch.Tensor | None) -> None:
        """Merge the candidates that ended this step (``scores`` (A, 2K), -inf where not) into the
        K best of each active sentence; ``tokens`` (A*2K, t) and ``attention`` (A*2K, t, S)."""
        num_active, steps = scores.size(0), tokens.size(1)
        merged, keep = torch.cat([self.scores[active], scores], dim=1).topk(self.beams, dim=1)
        self.scores[active] = merged
        padded = torch.nn.functional.pad(tokens, (0, self.max_length - steps), value=self.pad_id)
        self.tokens[active] = torch.cat([self.tokens[active], padded.view(num_active, 2 * self.beams, -1)],
                                        dim=1).gather(1, keep.unsqueeze(-1).expand(-1, -1, self.max_length))
        if attention is not None:
            padded = torch.nn.functional.pad(attention, (0, 0, 0, self.max_length - steps))
            width = attention.size(-1)
            self.attention[active] = torch.cat(
                [self.attention[active], padded.view(num_active, 2 * self.beams, self.max_length, -1)], dim=1
            ).gather(1, keep.view(num_active, self.beams, 1, 1).expand(-1, -1, self.max_length, width))

    def output(self, n_best: int) -> SearchOutput:
        length = int((self.tokens != self.pad_id).sum(dim=-1).max().clamp(min=1))
        return SearchOutput(self.tokens[:, :n_best, :length], self.scores[:, :n_best],
                            self.attention[:, :n_best, :length] if self.attention is not None else None)


class _Alive:
    """The K hypotheses still extended for each active sentence: row a * K + k is beam k of the
    a-th sentence still searching, and ``active`` maps a to the batch."""

    def __init__(self, batch_size: int, beams: int, source_length: int, *, bos_id: int, like: torch.Tensor,
                 return_attention: bool, first_tokens: torch.Tensor | None = None):
        device = like.device
        self.beams = beams
        self.active = torch.arange(batch_size, device=device)
        self.scores = torch.full((batch_size, beams), float("-inf"), device=device)
        self.scores[:, 0] = 0.0  # all beams start identical: keep one alive
        self.tokens = torch.empty(batch_size * beams, 0, dtype=torch.long, device=device)
        self.attention = like.new_zeros(batch_size * beams, 0, source_length) if return_attention else None
        self.prev = torch.full((batch_size * beams,), bos_id, dtype=torch.long, device=device) \
            if first_tokens is None else first_tokens.to(device).repeat_interleave(beams)

    def candidates(self, log_probs: torch.Tensor, weights: torch.Tensor):
        """The 2K best continuations of each sentence's beams: scores (A, 2K), last tokens (A, 2K),
        the beam rows they continue (A*2K,), their tokens (A*2K, t+1) and attention (or None)."""
        num_active, vocab_size, beams = self.scores.size(0), log_probs.size(-1), self.beams
        candidates = (self.scores.unsqueeze(-1) + log_probs.view(num_active, beams, -1)).view(num_active, -1)
        top_scores, top_index = candidates.topk(2 * beams, dim=-1)
        top_tokens = top_index % vocab_size
        rows = ((torch.arange(num_active, device=log_probs.device) * beams).unsqueeze(1)
                + top_index // vocab_size).view(-1)
        tokens = torch.cat([self.tokens[rows], top_tokens.view(-1, 1)], dim=1)
        attention = (torch.cat([self.attention[rows], weights[rows].unsqueeze(1)], dim=1)
                     if self.attention is not None else None)
        return top_scores, top_tokens, rows, tokens, attention

    def keep_best(self, top_scores, top_tokens, rows, tokens, attention, eos_id: int) -> torch.Tensor:
        """Continue with the K best candidates that did not end in eos; the state rows they extend."""
        self.scores, position = top_scores.masked_fill(top_tokens == eos_id, float("-inf")).topk(self.beams, dim=1)
        chosen = (torch.arange(self.active.numel(), device=rows.device).unsqueeze(1) * 2 * self.beams
                  + position).view(-1)
        self.tokens = tokens[chosen]
        self.attention = attention[chosen] if attention is not None else None
        self.prev = self.tokens[:, -1]
        return rows[chosen]

    def drop(self, done: torch.Tensor) -> torch.Tensor:
        """Remove the sentences that are ``done`` (A,); the beam rows kept, (A'*K,)."""
        searching = (~done).nonzero().squeeze(1)
        rows = (searching.unsqueeze(1) * self.beams + torch.arange(self.beams, device=done.device)).view(-1)
        self.active, self.scores = self.active[searching], self.scores[searching]
        self.tokens, self.prev = self.tokens[rows], self.prev[rows]
        self.attention = self.attention[rows] if self.attention is not None else None
        return rows


@torch.no_grad()
def beam_search(decoder: StepDecoder, state, memory, *, num_beams: int, max_length: int | torch.Tensor, bos_id: int,
                eos_id: int, pad_id: int, alpha: float = 1.0, n_best: int = 1,
                return_attention: bool = True, first_tokens: torch.Tensor | None = None) -> SearchOutput:
    """Beam search with fairseq's bookkeeping: of the 2K best continuations, those ending in eos
    among the top K are finished; the K best others stay alive. A sentence is done once it has K
    finished hypotheses and its best alive hypothesis, normalised at its current length, scores no
    better than the worst of them. Beam size 1 is therefore exactly greedy search.

    Done sentences leave the batch, so the decoder only works for sentences still searching.
    Attention histories are kept only with ``return_attention`` (``attention`` is None otherwise).
    """
    if not 1 <= n_best <= num_beams:
        raise ValueError(f"n_best must be between 1 and num_beams={num_beams}, got {n_best}")
    beams, (batch_size, source_length) = num_beams, memory.mask.shape
    limits = per_input_limits(max_length, batch_size, memory.states.device)
    expand = torch.arange(batch_size, device=limits.device).repeat_interleave(beams)
    memory, state = memory.index_select(expand), state.index_select(expand)
    alive = _Alive(batch_size, beams, source_length, bos_id=bos_id, like=memory.states,
                   return_attention=return_attention, first_tokens=first_tokens)
    finished = _Finished(batch_size, beams, int(limits.max()), source_length, pad_id=pad_id, like=memory.states,
                         return_attention=return_attention)
    for t in range(int(limits.max())):
        logits, state, weights = decoder.step(alive.prev, state, memory)
        log_probs = emittable_log_probs(logits, pad_id, bos_id)
        top_scores, top_tokens, rows, tokens, attention = alive.candidates(log_probs, weights)
        # Finish: eos among the top K (every top-K candidate of a sentence at its length limit).
        at_limit = limits[alive.active] <= t + 1  # (A,)
        ends = (top_tokens == eos_id) | at_limit.unsqueeze(1)
        ends[:, beams:] = False
        finished.count[alive.active] += ends.sum(dim=1)
        finished.add(alive.active, (top_scores / length_penalty(t + 1, alpha)).masked_fill(~ends, float("-inf")),
                     tokens, attention)
        if bool(at_limit.all()):
            break
        state_rows = alive.keep_best(top_scores, top_tokens, rows, tokens, attention, eos_id)
        # Done: K finished, and none of them beaten by the best alive hypothesis as it stands.
        best_alive = alive.scores.max(dim=1).values / length_penalty(t + 1, alpha)
        worst_finished = finished.scores[alive.active][:, beams - 1]
        done = ((finished.count[alive.active] >= beams) & (worst_finished >= best_alive)) | at_limit
        if bool(done.all()):
            break
        if bool(done.any()):
            kept = alive.drop(done)
            state_rows, memory = state_rows[kept], memory.index_select(kept)  # a sentence's K memory rows are equal
        state = state.index_select(state_rows)
    return finished.output(n_best)


# The keyword arguments of Seq2SeqModel.generate that a generation config or pipeline supplies.
SEARCH_SETTINGS = ("num_beams", "max_length", "max_length_a", "max_length_b", "length_penalty")


def check_generation_settings(*, num_beams: int, max_length: int, n_best: int = 1, max_length_a: float = 0.0,
                              max_length_b: int = 0) -> None:
    """Impossible settings are an error that names them, not a crash deep inside search."""
    if not isinstance(max_length_a, (int, float)) or max_length_a < 0:
        raise ValueError(f"max_length_a must be a number >= 0, got {max_length_a!r}")
    if not isinstance(max_length_b, int) or max_length_b < 0:
        raise ValueError(f"max_length_b must be a whole number >= 0, got {max_length_b!r}")
    if not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be a whole number >= 1 (1 is greedy search), got {num_beams!r}")
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a whole number >= 1, got {max_length!r}")
    if not isinstance(n_best, int) or not 1 <= n_best <= num_beams:
        raise ValueError(f"n_best must be between 1 and num_beams={num_beams}, got {n_best!r}")
