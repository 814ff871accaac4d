"""Decode prepared examples (``data.Examples``), on one process or shared across several, and score them.

A language-modelling task is scored by likelihood instead: the validation text's loss, perplexity
and bits per character (``likelihood_metrics``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from accelerate import Accelerator

from seq2seq.batching import BucketBatchSampler
from seq2seq.config import Config, GenerationConfig
from seq2seq.data import Examples
from seq2seq.model import Seq2SeqModel
from seq2seq.search import SEARCH_SETTINGS
from seq2seq.splits import sample_indices
from seq2seq.task import Task
from seq2seq.tokenization import EOS_ID, PAD_ID, Tokenizer


def search_options(generation: GenerationConfig, **overrides: Any) -> dict[str, Any]:
    """The ``Seq2SeqModel.generate`` settings of a generation config (``overrides`` win)."""
    return {name: getattr(generation, name) for name in SEARCH_SETTINGS} | overrides


def count_hit_limit(outputs: list[list[int]]) -> int:
    """How many decoded outputs stopped at their length limit (no eos)."""
    return sum(EOS_ID not in ids for ids in outputs)


@torch.no_grad()
def generate_with_scores(model: Seq2SeqModel, data: Examples, *, batch_size: int, device: torch.device,
                         **options: Any) -> tuple[list[list[int]], list[float]]:
    """Best output ids for every example, in dataset order (batched by length, without targets),
    and their scores (log-probability divided by the length penalty, as ``search.py`` ranks them).

    ``options`` go to ``Seq2SeqModel.generate`` (num_beams, max_length, max_length_a/b, length_penalty).
    """
    model.eval()
    sampler = BucketBatchSampler(data.lengths(targets=False), batch_size=batch_size, shuffle=False)
    outputs: list[list[int]] = [[] for _ in range(len(data))]
    scores = [0.0] * len(data)
    for indices in sampler:
        examples = [{k: v for k, v in e.items() if k != "tgt_ids"} for e in data.__getitems__(indices)]
        batch = data.collate(examples).to(device)
        generated = model.generate(batch, return_attention=False, **options)
        for row, (index, ids) in enumerate(zip(indices, generated.tokens[:, 0].tolist(), strict=True)):
            outputs[index], scores[index] = ids, float(generated.scores[row, 0])
    return outputs, scores


def generate_dataset(model: Seq2SeqModel, data: Examples, *, batch_size: int, device: torch.device,
                     **options: Any) -> list[list[int]]:
    """Best output ids for every example, in dataset order (see ``generate_with_scores``)."""
    return generate_with_scores(model, data, batch_size=batch_size, device=device, **options)[0]


def translate_dataset(model: Seq2SeqModel, data: Examples, tokenizer: Tokenizer, **options) -> list[str]:
    """Decoded best outputs for every example, in dataset order (``options`` as ``generate_dataset``)."""
    return tokenizer.decode_target(generate_dataset(model, data, **options))


def generate_distributed(model: Seq2SeqModel, data: Examples, accelerator: Accelerator,
                         **options) -> list[list[int]]:
    """Each process decodes every P-th example; the results are gathered back in dataset order.

    Processes hold different numbers of examples (when P does not divide N) and outputs of
    different lengths, so ids are padded across processes in both dimensions, each row carries
    its dataset index (-1 on padding rows), and the gathered rows are placed by index: every
    example is counted exactly once.
    """
    if accelerator.num_processes == 1:
        return generate_dataset(model, data, device=accelerator.device, **options)
    indices = list(range(accelerator.process_index, len(data), accelerator.num_processes))
    local = generate_dataset(model, data.select(indices), device=accelerator.device, **options) if indices else []
    width = max([len(ids) for ids in local] + [1])
    ids = torch.full((len(local), width), PAD_ID, dtype=torch.long, device=accelerator.device)
    for row, sequence in enumerate(local):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    positions = torch.tensor(indices, dtype=torch.long, device=accelerator.device)
    ids = accelerator.pad_across_processes(ids, dim=1, pad_index=PAD_ID)
    ids = accelerator.pad_across_processes(ids, dim=0, pad_index=PAD_ID)
    positions = accelerator.pad_across_processes(positions, dim=0, pad_index=-1)
    all_ids, all_positions = accelerator.gather((ids, positions))
    outputs: list[list[int] | None] = [None] * len(data)
    for position, row in zip(all_positions.tolist(), all_ids.tolist(), strict=True):
        if position >= 0:
            if outputs[position] is not None:
                raise RuntimeError(f"example {position} was decoded twice")
            outputs[position] = row
    missing = [i for i, row in enumerate(outputs) if row is None]
    if missing:
        raise RuntimeError(f"{len(missing)} examples were not decoded (first: {missing[0]})")
    return outputs


# Tokens per likelihood batch: the output layer's logits (tokens x vocabulary) stay small.
LIKELIHOOD_BATCH_TOKENS = 32_768


@torch.no_grad()
def likelihood_metrics(model: Seq2SeqModel, data: Examples, accelerator: Accelerator | None = None) -> dict[str, float]:
    """Teacher-forced likelihood of every target (shared across the accelerator's processes, the
    sums reduced; without one, on the model's device): ``loss`` in nats per token (eos included),
    ``perplexity`` = exp(loss), and the same total per character of the target texts,
    ``nats_per_character`` and ``bits_per_character``."""
    model.eval()
    device = accelerator.device if accelerator else next(model.parameters()).device
    rank, processes = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    indices = list(range(rank, len(data), processes))
    texts = data.references
    longest = max((len(texts[i]) for i in indices), default=1) + 1
    batch_size = max(1, LIKELIHOOD_BATCH_TOKENS // longest)
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # nats, tokens, characters
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        batch = data.collate(data.__getitems__(chunk)).to(device)
        nats = -model.score(batch).double().sum()
        totals += torch.stack([nats, (batch.tgt_out != PAD_ID).sum().double(),
                               torch.tensor(float(sum(len(texts[i]) for i in chunk)), dtype=torch.float64,
                                            device=device)])
    nats, tokens, characters = (accelerator.reduce(totals, reduction="sum") if accelerator else totals).tolist()
    loss = nats / max(tokens, 1)
    per_character = nats / max(characters, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "nats_per_character": per_character,
            "bits_per_character": per_character / math.log(2)}


def evaluate(model, data: Examples, tokenizer, task: Task, config: Config,
             accelerator: Accelerator) -> tuple[dict[str, float], list[str], list[str]]:
    """Task metrics on ``data`` (at most training.max_eval_examples), predictions and references
    (none for a task scored by likelihood)."""
    limit = config.training.max_eval_examples
    if limit and len(data) > limit:  # a sample across the split, in proportion to the references
        strata = None if getattr(task, "scored_by_likelihood", False) else data.references
        data = data.select(sample_indices(len(data), limit, seed=config.training.seed, strata=strata))
    if getattr(task, "scored_by_likelihood", False):
        metrics = likelihood_metrics(model, data, accelerator)
        return {name: metrics[name] for name in config.training.metrics or task.metric_names}, [], []
    references = data.references
    ids = generate_distributed(
        model, data, accelerator, batch_size=config.generation.batch_size,
        **search_options(config.generation, num_beams=config.training.eval_num_beams),
    )
    predictions = tokenizer.decode_target(ids)
    return task.compute_metrics(predictions, references, config.training.metrics or None), predictions, references
