"""Question answering: a context and a question -> an answer the decoder writes as text.

The task feeds two text inputs, ``context`` (a passage, or a story as a list of sentences) and
``question``, each with its own encoder; or, as the baseline, one input ``source``: the context and
the question concatenated into one text. The answer is generated, not picked from a label set,
so multi-word answers (bAbI's ``apple,football``) are text like any other. The metric is accuracy
(exact match of the whole answer).

    answer = pipeline("question-answering", model="runs/question_answering/model")
    answer(question="Where is Mary?", context="Mary went to the kitchen. John moved to the garden.")
    # {"answer": "kitchen", "score": 0.998}

Contexts longer than the model supports: a sentence-level model keeps the most recent
``max_sentences`` sentences (its processor setting) and warns; a token-level model reads the whole
context, with a warning when it is longer than any context it was trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pipelines.base import Pipeline
from pipelines.dataset_inputs import chunks, is_dataset, mapped_rows
from seq2seq.columns import ColumnReader, resolve_columns
from seq2seq.config import ConfigError, DataConfig
from seq2seq.data import Batch
from seq2seq.metrics import exact_match
from seq2seq.processors.text import split_sentences
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID

NAME = "question_answering"
FIELDS = ("context", "question")
BASELINE_INPUT = "source"  # the concatenation baseline's one input: "context question"
logger = logging.getLogger(__name__)


def check_field(value: Any, field: str, where: str) -> str | list[str]:
    """A context or question: a non-empty string (a context may also be a list of sentences)."""
    if isinstance(value, list) and field == "context":
        if not value:
            raise ValueError(f"{where}: 'context' is an empty list of sentences")
        for position, sentence in enumerate(value):
            if not isinstance(sentence, str):
                raise TypeError(f"{where}: 'context' sentence {position} is {type(sentence).__name__}, not a string")
        return value
    if not isinstance(value, str):
        kinds = "a string or a list of sentences" if field == "context" else "a string"
        raise TypeError(f"{where}: '{field}' must be {kinds}, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{where}: '{field}' is an empty string")
    return value


def check_positions(value: Any, context: list[str], where: str) -> list[int]:
    """Supporting facts: positions (whole numbers) of sentences in a context given as a list."""
    if not isinstance(value, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in value):
        raise TypeError(f"{where}: supporting facts must be a list of sentence positions, got {value!r}")
    if any(not 0 <= p < len(context) for p in value):
        raise ValueError(f"{where}: supporting facts {value} are not positions in a context of "
                         f"{len(context)} sentences")
    return value


def concatenate(context: str | list[str], question: str) -> str:
    """The baseline's one source text: the context (sentences joined by spaces), then the question."""
    return f"{context if isinstance(context, str) else ' '.join(context)} {question}"


class QuestionAnsweringTask:
    name = NAME
    inputs = {"context": "text", "question": "text", BASELINE_INPUT: "text"}
    metric_names = ("accuracy",)
    # data.columns overrides; supporting_facts (bAbI: sentence positions) is read where the data has it
    columns = {"context": "context", "question": "question", "target": "answer", "supporting_facts": "supporting_facts"}

    def check_inputs(self, names: list[str]) -> None:
        if sorted(names) not in (sorted(FIELDS), [BASELINE_INPUT]):
            raise ConfigError(f"inputs: question answering takes 'context' and 'question' (one encoder each), or "
                              f"'{BASELINE_INPUT}' alone (the two concatenated); the config lists {', '.join(names)}")

    def make_to_example(self, data: DataConfig, features: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
        read = ColumnReader(resolve_columns(self.columns, data.columns, NAME), features)

        def to_example(row: dict[str, Any]) -> dict[str, Any]:
            example = {field: check_field(read(row, field), field, f"column '{read.columns[field]}'")
                       for field in FIELDS}
            example[BASELINE_INPUT] = concatenate(example["context"], example["question"])
            if read.has(row, "target"):
                example["target_text"] = read.text(row, "target", optional=True)
            if read.has(row, "supporting_facts") and isinstance(example["context"], list):  # unused on a string
                example["supporting_facts"] = check_positions(read(row, "supporting_facts"), example["context"],
                                                              f"column '{read.columns['supporting_facts']}'")
            return example

        return to_example

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]:
        """Accuracy: the percentage of answers equal to the reference."""
        return {"accuracy": exact_match(predictions, references)}


class QuestionAnsweringPipeline(Pipeline):
    """``pipeline("question-answering", model=DIR)``; call it with ``question=`` and ``context=``
    (strings, or lists of them), a ``{"question", "context"}`` dict, or a list of such dicts.

    Each answer is ``{"answer": str, "score": float}``, the score being the model's probability of
    that answer (and its end). ``return_attention`` adds ``attention``: the decoder's attention
    (answer tokens + eos, context units) over ``context_units``, the context's sentences for a
    sentence-level model or its tokens otherwise (the baseline: the tokens of context and question).
    A model with hops adds ``hops``: (hops, context units), how much each hop read each unit, one
    row per name in ``model.reader.labels`` (and, when its decoder reads the hops rather than the
    story, no ``attention``). Settings (``batch_size``, ``num_beams``, ``max_length``, ``bf16``,
    ...) as for every pipeline (``pipelines/base.py``).
    """

    task = NAME
    unused_settings = ("split_sentences",)

    def __init__(self, model: str | Path, **options: Any):
        super().__init__(model, **options)
        self.longest_training_source = self.config.get("data", {}).get("longest_source")

    def __call__(self, inputs: Any = None, *, question: Any = None, context: Any = None,
                 return_attention: bool = False, **overrides: Any) -> dict[str, Any] | list[dict[str, Any]]:
        settings = self.call_settings(overrides)
        if is_dataset(inputs):  # rows read as in training (data.columns): a generator of answers, batch by batch
            return self.over_dataset(mapped_rows(inputs, self.columns, FIELDS), settings, takes_rows=True,
                                     return_attention=return_attention, **overrides)
        items, single = _gather(inputs, question, context)
        examples = [self._example(item, f"question {i}") for i, item in enumerate(items)]
        results = []
        for chunk in chunks(examples, settings["batch_size"]):
            results += self._answer(chunk, return_attention, settings)
        return results[0] if single else results

    def _example(self, item: dict[str, Any], where: str) -> dict[str, Any]:
        context, question = (check_field(item[field], field, where) for field in FIELDS)
        values = {"context": context, "question": question, BASELINE_INPUT: concatenate(context, question)}
        example = {name: processor.encode([values[name]], name=name)[0] for name, processor in self.processors.items()}
        self._warn_if_too_long(values, example, where)
        # What the attention's columns are: the sentences read, or the tokens.
        attended = "context" if "context" in self.processors else BASELINE_INPUT
        processor = self.processors[attended]
        example["units"] = (processor.split(values[attended]) if processor.sentences
                            else [self.tokenizer.source.id_to_piece(i) for i in example[attended]])
        return example

    def _warn_if_too_long(self, values: dict[str, Any], example: dict[str, Any], where: str) -> None:
        for name, processor in self.processors.items():
            if processor.sentences and processor.max_sentences:
                # Counted before the processor keeps the last max_sentences of them.
                given = len(values[name]) if isinstance(values[name], list) else len(split_sentences(values[name]))
                if given > processor.max_sentences:
                    logger.warning("%s: the context has %d sentences; the model reads the last %d "
                                   "(its max_sentences)", where, given, processor.max_sentences)
            elif self.longest_training_source and processor.num_tokens(example[name]) > self.longest_training_source:
                logger.warning("%s: the %s has %d tokens, more than any training input (%d): the answer may be "
                               "unreliable", where, name, processor.num_tokens(example[name]),
                               self.longest_training_source)

    def _answer(self, examples: list[dict[str, Any]], return_attention: bool,
                settings: dict[str, Any]) -> list[dict[str, Any]]:
        inputs = {name: processor.collate([e[name] for e in examples]) for name, processor in self.processors.items()}
        batch = Batch(inputs).to(self.device)
        output = self.generate(batch, settings, return_attention=return_attention)
        generated = self.outputs(output)
        tokens = [row.ids for row in generated]
        probabilities = self._probabilities(batch, tokens)
        attended = "context" if "context" in self.processors else BASELINE_INPUT
        # Memory positions are each input's tokens in model order (sentence by sentence for a story).
        names = list(self.model.encoders)
        offset = sum(self._memory_width(name, inputs[name][1]) for name in names[: names.index(attended)])
        width = self._memory_width(attended, inputs[attended][1])
        decoder_reads_inputs = self.model.decoder_memory == "inputs"
        hops = self._hop_attention(batch, inputs) if return_attention and self.model.reader is not None else None
        results = []
        for row in range(len(tokens)):
            result: dict[str, Any] = {"answer": self.text(generated[row]), "score": probabilities[row]}
            if not generated[row].finished:  # stopped at its length limit, without eos
                result["truncated"] = True
            if hops is not None:
                result["hops"] = hops[row, :, : len(examples[row]["units"])]
                result["context_units"] = examples[row]["units"]
            if return_attention and decoder_reads_inputs:
                units = examples[row]["units"]
                weights = output.attention[row, 0, : generated[row].steps, offset : offset + width].float().cpu()
                result["attention"] = self._per_unit(weights, attended, inputs[attended][1][row])[:, : len(units)]
                result["context_units"] = units
            results.append(result)
        return results

    def _hop_attention(self, batch: Batch, inputs: dict[str, Any]) -> torch.Tensor:
        """How much each hop read each context unit (B, hops, units)."""
        read = "context" if "context" in inputs else BASELINE_INPUT  # what the hops read
        mask = inputs[read][1]
        weights = self.model.hop_weights(batch).float().cpu()[..., : self._memory_width(read, mask)]
        return self._per_unit(weights, read, mask[0])

    def _per_unit(self, weights: torch.Tensor, name: str, mask: torch.Tensor) -> torch.Tensor:
        """Weights (..., memory positions) over input ``name`` (one example's ``mask``: (S,) or
        (N, L)) -> per context unit: a sentence-level input with token memory sums each
        sentence's token weights."""
        if self.processors[name].sentences and self._memory_width(name, mask.unsqueeze(0)) != mask.size(0):
            return weights.unflatten(-1, mask.shape).sum(dim=-1)
        return weights

    def _memory_width(self, name: str, mask: torch.Tensor) -> int:
        """How many memory positions an input's batch (mask (B, S) or (B, N, L)) takes."""
        return mask.size(1) if getattr(self.model.encoders[name], "memory_unit", "") == "sentences" else mask[0].numel()

    def _probabilities(self, batch: Batch, answers: list[list[int]]) -> list[float]:
        """P(answer, then eos | context, question) for each row, by a teacher-forced pass."""
        longest = max(map(len, answers)) + 1
        tgt_in = torch.full((len(answers), longest), PAD_ID, dtype=torch.long)
        tgt_out = tgt_in.clone()
        for row, ids in enumerate(answers):
            tgt_in[row, : len(ids) + 1] = torch.tensor([BOS_ID, *ids])
            tgt_out[row, : len(ids) + 1] = torch.tensor([*ids, EOS_ID])
        scored = Batch(batch.inputs, tgt_in.to(self.device), tgt_out.to(self.device))
        return self.model.score(scored).exp().tolist()


def _gather(inputs: Any, question: Any, context: Any) -> tuple[list[dict[str, Any]], bool]:
    """The call's questions as a list of {"question", "context"} dicts, and whether it was one."""
    if inputs is None:
        if question is None or context is None:
            missing = "question" if question is None else "context"
            raise ValueError(f"question answering needs both question= and context=; '{missing}' is missing")
        if isinstance(question, (list, tuple)):
            if not isinstance(context, (list, tuple)) or len(context) != len(question):
                raise ValueError("question= is a list: context= must be a list of the same length")
            return [{"question": q, "context": c} for q, c in zip(question, context, strict=True)], False
        return [{"question": question, "context": context}], True
    if question is not None or context is not None:
        raise TypeError("give either a {'question', 'context'} dict (or a list of them) or question= and context=")
    single = isinstance(inputs, dict)
    items = [inputs] if single else inputs
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"question answering input must be a dict with 'question' and 'context', or a list of them; "
                        f"got {type(inputs).__name__}")
    if not items:
        raise ValueError("question answering input is empty: give at least one question")
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise TypeError(f"question {position} must be a dict with 'question' and 'context', "
                            f"got {type(item).__name__}")
        for field in FIELDS:
            if field not in item:
                raise ValueError(f"question {position} has no '{field}'")
    return list(items), single
