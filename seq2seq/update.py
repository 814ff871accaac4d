"""One optimizer update from a process's micro-batches, and the loader's micro-batches grouped by update."""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from accelerate import Accelerator

from seq2seq.data import Batch


@dataclass
class StepResult:
    loss_sum: float  # over the whole update, all processes
    num_tokens: int
    num_examples: int
    finite: bool  # False: the loss (or, without a loss scaler, a gradient) was not finite; no update
    overflow: bool = False  # fp16: the loss scaler skipped this update and lowered its scale


def train_step(model, optimizer, micro_batches: list[Batch], accelerator: Accelerator,
               clip_grad_norm: float) -> StepResult:
    """One optimizer update from this process's micro-batches.

    Each micro-batch's summed loss is scaled by ``P / global_tokens``: DDP averages gradients over
    the P processes, so the update follows the gradient of (sum of token losses) / (global tokens).
    Gradients are synchronised once, on the last micro-batch.

    With fp16's loss scaler, overflowing gradients are normal early in training: the scaler's
    ``step`` skips the update and lowers the scale, and it must run on every update, or the
    next ``unscale_`` fails. Without a scaler a non-finite gradient skips the update here.
    """
    device = accelerator.device
    counts = torch.tensor([sum(b.num_target_tokens for b in micro_batches), sum(len(b) for b in micro_batches)],
                          device=device)
    global_tokens, global_examples = accelerator.reduce(counts, reduction="sum").tolist()
    scale = accelerator.num_processes / max(global_tokens, 1)
    loss_sum = torch.zeros((), device=device)
    for index, batch in enumerate(micro_batches):
        last = index == len(micro_batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            output = model(batch.to(device))
            accelerator.backward(output.loss_sum * scale)
        loss_sum += output.loss_sum.detach().float()
    loss_sum = accelerator.reduce(loss_sum, reduction="sum")
    grad_norm = accelerator.clip_grad_norm_(model.parameters(), clip_grad_norm if clip_grad_norm > 0 else math.inf)
    loss_finite = bool(torch.isfinite(loss_sum))
    overflow = False
    if accelerator.scaler is not None:
        optimizer.step()
        overflow = loss_finite and optimizer.step_was_skipped
        finite = loss_finite
    else:
        finite = loss_finite and bool(torch.isfinite(torch.as_tensor(grad_norm)))
        if finite:
            optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return StepResult(float(loss_sum), int(global_tokens), int(global_examples), finite, overflow)


def iterate_updates(loader: Iterable[Batch], micro_batches: int,
                    accelerator: Accelerator | None = None) -> Iterable[list[Batch]]:
    """The loader's micro-batches grouped by optimizer update, while every process has one (a
    stream gives processes different numbers of updates; an update all of them cannot join
    would wait forever in its collectives).

    A stream's loader groups its updates itself (``StreamingLoader.iter_updates``): there an
    update whose examples were all dropped is an empty list, for the loop to count as read."""
    if hasattr(loader, "iter_updates"):
        updates = iter(loader.iter_updates())
    else:
        batches = iter(loader)
        updates = iter(lambda: list(itertools.islice(batches, micro_batches)), [])
    for group in itertools.chain(updates, [None]):
        if accelerator is not None and any_process(accelerator, group is None) or group is None:
            return
        yield group


def any_process(accelerator: Accelerator, flag: bool) -> bool:
    """True on every process if ``flag`` is true on any: decisions that end the loop must agree,
    or one process waits in a collective that the others never enter."""
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.reduce(torch.tensor(float(flag), device=accelerator.device), reduction="sum") > 0)
