"""Translation: dataset rows -> a ``source`` text input and a target text, BLEU/chrF, and TranslationPipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pipelines.dataset_inputs import is_dataset, results_per_row
from seq2seq.columns import ColumnReader, resolve_columns
from seq2seq.config import DataConfig, GenerationConfig, config_to_dict
from seq2seq.data import Collator
from seq2seq.metrics import bleu, chrf, exact_match
from seq2seq.model import SEARCH_SETTINGS, Seq2SeqModel, check_generation_settings, read_model_config
from seq2seq.processors import load_processors
from seq2seq.search import generated_tokens
from seq2seq.sentences import join_translations, sentence_spans
from seq2seq.tokenization import PAD_ID, Tokenizer

NAME = "translation"
INPUT = "source"  # the model's one input: the text to translate
logger = logging.getLogger(__name__)
CPUINFO = Path("/proc/cpuinfo")


# An output under this share of the expected length (inputs of at least this many tokens) is incomplete.
INCOMPLETE_SHARE, INCOMPLETE_MIN_SOURCE = 0.5, 10


class TranslationTask:
    name = NAME
    inputs = {INPUT: "text"}
    metric_names = ("bleu", "chrf", "exact_match")
    columns = {INPUT: "source", "target": "target"}  # field -> dataset column (data.columns overrides)

    def make_to_example(self, data: DataConfig, features: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
        read = ColumnReader(resolve_columns(self.columns, data.columns, NAME), features)

        def to_example(row: dict[str, Any]) -> dict[str, Any]:
            example = {INPUT: read.text(row, INPUT)}
            if read.has(row, "target"):
                example["target_text"] = read.text(row, "target", optional=True)
            return example

        return to_example

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]:
        """The named metrics (default: all), in percent."""
        functions = {"bleu": bleu, "chrf": chrf, "exact_match": exact_match}
        return {name: functions[name](predictions, references) for name in metrics or self.metric_names}


class TranslationPipeline:
    """``TranslationPipeline("runs/x/model")("Ein Hund läuft.")`` -> ``[{"translation_text": ...}]``.

    Generation settings default to the ones saved with the model; keyword arguments at
    construction or call time override them. ``score`` (with ``return_scores``) is the
    log-probability of the translation divided by the length penalty (``seq2seq/search.py``).
    ``bf16=None`` decodes under bfloat16 autocast where the hardware has native bf16 (about 2x
    faster on such CPUs, same BLEU); ``True``/``False`` force it on or off.

    Nothing is cut silently. With ``split_sentences`` (the default) a multi-sentence input is
    translated sentence by sentence and joined with its original spacing; its result also has
    ``sentences``, one result per sentence. An output that reached its length limit,
    ``min(max_length, max_length_a * source_tokens + max_length_b)``, without finishing is marked
    ``"truncated": True``; a finished output far shorter than its input (under half of what the
    training data's target/source length ratio predicts) is marked ``"incomplete": True``. Each
    call logs one warning about each kind, and one about inputs longer than any the model saw in
    training. A model trained on lowercased text also splits sentences that start in lowercase.
    """

    def __init__(self, model: str | Path, *, device: str | torch.device = "cpu", bf16: bool | None = None,
                 **settings: Any):
        config = read_model_config(model)
        if config.get("task", NAME) != NAME:
            raise ValueError(f"{model} holds a '{config['task']}' model, not a translation model")
        self.tokenizer = Tokenizer.from_pretrained(model)
        self.model = Seq2SeqModel.from_pretrained(model, device=device)
        processors = load_processors(model, self.tokenizer, config["inputs"])
        self.processor, self.collate = processors[INPUT], Collator(processors)
        self.device = torch.device(device)
        self.bf16 = has_native_bf16(self.device) if bf16 is None else bf16
        # Models saved before a setting existed get today's default for it.
        self.settings = {**config_to_dict(GenerationConfig()), **config.get("generation", {})}
        self.settings = self._settings(settings)
        self.longest_training_source = config.get("data", {}).get("longest_source")
        # A model whose source vocabulary has no capital letter was trained on lowercased text,
        # and its users give it lowercased text: sentences may start in lowercase there.
        vocabulary = self.tokenizer.source
        self.lowercase_text = not any(character.isupper() for index in range(vocabulary.get_piece_size())
                                      for character in vocabulary.id_to_piece(index))
        # Target tokens per source token in training: an output far shorter is marked incomplete.
        self.length_ratio = config.get("data", {}).get("length_ratio")

    def _settings(self, overrides: dict[str, Any]) -> dict[str, Any]:
        return resolve_settings(self.settings, overrides)

    def __call__(self, inputs: str | list[str], *, return_scores: bool = False,
                 return_attention: bool = False, **overrides: Any) -> list[dict[str, Any]]:
        if is_dataset(inputs):  # a column of a dataset: a generator of results, batch by batch
            return results_per_row(self, inputs, self._settings(overrides)["batch_size"], takes_rows=False, task=NAME,
                                   return_scores=return_scores, return_attention=return_attention, **overrides)
        texts = _check_inputs(inputs)
        settings = self._settings(overrides)
        spans = [sentence_spans(text, lowercase=self.lowercase_text) if settings["split_sentences"]
                 else [(0, len(text))] for text in texts]
        segments = [text[start:end] for text, text_spans in zip(texts, spans, strict=True) for start, end in text_spans]
        translated = iter(self._translate(segments, settings, return_scores, return_attention))
        results = []
        for text, text_spans in zip(texts, spans, strict=True):
            parts = [next(translated) for _ in text_spans]
            results.append(parts[0] if len(parts) == 1 else _join(text, text_spans, parts, return_scores))
        incomplete = sum(bool(result.get("incomplete")) for result in results)
        if incomplete:
            logger.warning("%d of %d translations are far shorter than their inputs (under %g of the training data's "
                           "length ratio) and are marked 'incomplete'%s", incomplete, len(results), INCOMPLETE_SHARE,
                           "" if settings["split_sentences"] else "; split_sentences=True may help")
        truncated = sum(bool(result.get("truncated")) for result in results)
        if truncated:
            logger.warning("%d of %d translations stopped at the length limit before finishing and are marked "
                           "'truncated' (max_length=%d, max_length_a=%g, max_length_b=%d%s)", truncated, len(results),
                           settings["max_length"], settings["max_length_a"], settings["max_length_b"],
                           "" if settings["split_sentences"] else "; split_sentences=True may help")
        return results

    def _incomplete(self, source_tokens: int, output_tokens: int) -> bool:
        """Whether a finished output is far shorter than its input's length suggests: under half
        the training data's target/source token ratio, for inputs of 10 tokens or more (shorter
        ones vary too much). It happens when a model stops after the first of several sentences."""
        return bool(self.length_ratio) and source_tokens >= INCOMPLETE_MIN_SOURCE and \
            output_tokens < INCOMPLETE_SHARE * self.length_ratio * source_tokens

    def _translate(self, texts: list[str], settings: dict[str, Any], return_scores: bool,
                   return_attention: bool) -> list[dict[str, Any]]:
        """One result per text (a sentence, or a whole input without splitting)."""
        src_ids = self.processor.encode(texts)
        if self.longest_training_source:
            too_long = sum(len(ids) > self.longest_training_source for ids in src_ids)
            if too_long:
                logger.warning("%d of %d inputs are longer than any source the model saw in training (%d tokens): "
                               "translation quality may drop", too_long, len(texts), self.longest_training_source)
        results: list[dict[str, Any]] = [{} for _ in texts]
        options = {name: settings[name] for name in SEARCH_SETTINGS}
        # Longest first in batches of similar length: less padding, same results.
        order = sorted(range(len(texts)), key=lambda i: -len(src_ids[i]))
        for start in range(0, len(order), settings["batch_size"]):
            indices = order[start : start + settings["batch_size"]]
            batch = self.collate([{INPUT: src_ids[i]} for i in indices]).to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                output = self.model.generate(batch, return_attention=return_attention, **options)
            best = output.tokens[:, 0].tolist()
            for row, (index, tokens) in enumerate(zip(indices, best, strict=True)):
                result = {"translation_text": self.tokenizer.decode_target([tokens])[0]}
                if self.tokenizer.eos_id not in tokens:
                    result["truncated"] = True
                elif self._incomplete(len(src_ids[index]), _generated_length(tokens, self.tokenizer.eos_id) - 1):
                    result["incomplete"] = True
                if return_scores:
                    result["score"] = float(output.scores[row, 0])
                if return_attention:
                    length = _generated_length(tokens, self.tokenizer.eos_id)
                    result["attention"] = output.attention[row, 0, :length, : len(src_ids[index])].float().cpu()
                    result["source_tokens"] = self.tokenizer.source_pieces(texts[index])
                    result["target_tokens"] = self.tokenizer.target_pieces(tokens[:length])
                results[index] = result
        return results


def _join(text: str, spans: list[tuple[int, int]], parts: list[dict[str, Any]], return_scores: bool) -> dict[str, Any]:
    """One result for a text translated sentence by sentence."""
    joined = join_translations(text, spans, [part["translation_text"] for part in parts]).strip()
    result: dict[str, Any] = {"translation_text": joined}
    for mark in ("truncated", "incomplete"):
        if any(part.get(mark) for part in parts):
            result[mark] = True
    if return_scores:
        result["score"] = sum(part["score"] for part in parts) / len(parts)  # mean over sentences
    result["sentences"] = [{"source_text": text[start:end], **part}
                           for (start, end), part in zip(spans, parts, strict=True)]
    return result


def has_native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 matrix products run natively (CUDA with bf16, or a CPU with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        flags = CPUINFO.read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_settings(current: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Generation settings with ``overrides`` (None = keep) applied, checked; unknown names are an error."""
    unknown = set(overrides) - set(current)
    if unknown:
        raise TypeError(f"unknown generation setting(s): {', '.join(sorted(unknown))} "
                        f"(known: {', '.join(sorted(current))})")
    settings = {**current, **{k: v for k, v in overrides.items() if v is not None}}
    _check_settings(settings)
    return settings


def _check_settings(settings: dict[str, Any]) -> None:
    check_generation_settings(num_beams=settings["num_beams"], max_length=settings["max_length"],
                              max_length_a=settings["max_length_a"], max_length_b=settings["max_length_b"])
    if not isinstance(settings["batch_size"], int) or settings["batch_size"] < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {settings['batch_size']!r}")


def _generated_length(tokens: list[int], eos_id: int) -> int:
    """Decoder steps of one output: its tokens and eos, or its tokens up to its own limit."""
    ids, finished = generated_tokens(tokens, eos_id, PAD_ID)
    return len(ids) + finished


def _check_inputs(inputs: Any) -> list[str]:
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"translation input must be a string or a list of strings, got {type(inputs).__name__}")
    if not texts:
        raise ValueError("translation input is empty: give at least one sentence")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"translation input {position} is {type(text).__name__}, not a string")
        if not text.strip():
            raise ValueError(f"translation input {position} is an empty string")
    return list(texts)
