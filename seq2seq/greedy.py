"""One hypothesis per input, a token at a time: greedy search, and the loop sampling shares.

``one_path_steps`` yields each step's tokens as they are made (streaming text generation reads
them one by one); ``one_path_search`` collects them into a ``SearchOutput`` as beam search's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from seq2seq.search import SearchOutput, StepDecoder, emittable_log_probs, length_penalty, per_input_limits


@torch.no_grad()
def greedy_search(
    decoder: StepDecoder, state, memory, *, max_length: int | torch.Tensor, bos_id: int, eos_id: int, pad_id: int,
    alpha: float = 1.0, first_tokens: torch.Tensor | None = None,
) -> SearchOutput:
    return one_path_search(decoder, state, memory, max_length=max_length, bos_id=bos_id, eos_id=eos_id,
                           pad_id=pad_id, alpha=alpha, pick=greedy_pick, first_tokens=first_tokens)


def greedy_pick(log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``pick`` for ``one_path_steps``: each row's most likely token."""
    return log_probs.max(dim=-1)


@torch.no_grad()
def one_path_steps(
    decoder: StepDecoder, state, memory, *, max_length: int | torch.Tensor, bos_id: int, eos_id: int, pad_id: int,
    pick: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], first_tokens: torch.Tensor | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One hypothesis per input, a token at a time, as the steps happen (streaming generation
    reads them one by one): yields each row's token (B,) (pad once the row has finished), its
    log-probability (B,) (0 once finished), the attention (B, S) (0 once finished), and whether
    the row was still running at this step (B,). ``pick(log_probs (B, V))`` gives each row's token
    and its log-probability (greedy: the best; sampling: a draw, ``sampling.py``)."""
    batch_size = memory.states.size(0)
    prev = memory.states.new_full((batch_size,), bos_id, dtype=torch.long) if first_tokens is None \
        else first_tokens.to(memory.states.device)
    limits = per_input_limits(max_length, batch_size, prev.device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=prev.device)
    for t in range(int(limits.max())):
        logits, state, weights = decoder.step(prev, state, memory)
        chosen_log_probs, prev = pick(emittable_log_probs(logits, pad_id, bos_id))
        prev = prev.masked_fill(finished, pad_id)
        yield prev, chosen_log_probs.masked_fill(finished, 0.0), weights.masked_fill(finished.unsqueeze(1), 0.0), \
            ~finished
        finished = finished | (prev == eos_id) | (limits <= t + 1)
        if finished.all():
            break


@torch.no_grad()
def one_path_search(
    decoder: StepDecoder, state, memory, *, max_length: int | torch.Tensor, bos_id: int, eos_id: int, pad_id: int,
    alpha: float, pick: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    first_tokens: torch.Tensor | None = None,
) -> SearchOutput:
    """``one_path_steps`` collected: tokens, scores (over the length penalty) and attention."""
    batch_size = memory.states.size(0)
    scores = memory.states.new_zeros(batch_size, dtype=torch.float)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=memory.states.device)
    tokens, attention = [], []
    for step_tokens, log_probs, weights, running in one_path_steps(
            decoder, state, memory, max_length=max_length, bos_id=bos_id, eos_id=eos_id, pad_id=pad_id, pick=pick,
            first_tokens=first_tokens):
        scores += log_probs
        lengths += running
        tokens.append(step_tokens)
        attention.append(weights)
    return SearchOutput(
        torch.stack(tokens, dim=1).unsqueeze(1),
        (scores / length_penalty(lengths.float(), alpha)).unsqueeze(1),
        torch.stack(attention, dim=1).unsqueeze(1),
    )
