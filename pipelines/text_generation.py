"""Language modelling: texts cut into blocks for training, likelihood metrics, and TextGenerationPipeline.

The model is the decoder alone (``inputs: {}``): it reads a prompt and continues it, greedily, with
beam search, or sampled (``do_sample`` with ``temperature``, ``top_k``, ``top_p``, ``seed``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from pipelines.base import Pipeline, positive
from pipelines.dataset_inputs import chunks, is_dataset, text_inputs
from seq2seq.columns import parse_path, resolve_columns
from seq2seq.config import DataConfig
from seq2seq.data import Batch
from seq2seq.text_blocks import TEXT_COLUMN, cut_into_blocks
from seq2seq.tokenization import BOS_ID, PAD_ID

NAME = "language_modeling"


class LanguageModelingTask:
    name = NAME
    inputs: dict[str, str] = {}  # the decoder alone
    metric_names = ("loss", "perplexity", "nats_per_character", "bits_per_character")
    lower_is_better = metric_names
    scored_by_likelihood = True  # evaluation scores the validation text's likelihood, not generated outputs
    columns = {"target": "text"}  # the text column (data.columns.target overrides)

    def prepare_rows(self, rows, data: DataConfig, *, train: bool):
        """Each text cut into blocks of ``data.block_size`` characters (validation:
        ``data.valid_block_size``, default the same), one example each (``text_blocks.py``)."""
        column = parse_path(resolve_columns(self.columns, data.columns, self.name)["target"])[0]
        return cut_into_blocks(rows, column, data.block_size if train else data.valid_block_size or data.block_size)

    def make_to_example(self, data: DataConfig, features: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda row: {"target_text": row[TEXT_COLUMN], "continues": row["continues"]}

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]:
        raise TypeError("a language model is scored by the likelihood of text (seq2seq.evaluation."
                        "likelihood_metrics), not by comparing generated text with references")


class TextGenerationPipeline(Pipeline):
    """``TextGenerationPipeline("runs/shakespeare/model")("ROMEO:", max_new_tokens=200, do_sample=True,
    seed=0)`` -> ``[{"generated_text": "ROMEO:..."}]``; a list of prompts gives one such list each.

    As in Hugging Face's pipeline, ``generated_text`` holds the prompt and its continuation
    (``return_full_text=False``: the continuation only), and ``max_new_tokens`` limits the new
    tokens (it sets ``max_length``). Generation stops earlier where the model ends the text (eos).
    Greedy by default; ``num_beams`` > 1 for beam search; ``do_sample=True`` to sample, the same
    text for the same ``seed``. An empty prompt starts a text from nothing.
    """

    task = NAME
    unused_settings = ("split_sentences",)

    def __init__(self, model: str | Path, *, max_new_tokens: int | None = None, **options: Any):
        if max_new_tokens is not None:
            options["max_length"] = positive("max_new_tokens", max_new_tokens)
        super().__init__(model, **options)

    def __call__(self, inputs: str | list[str], *, max_new_tokens: int | None = None, return_full_text: bool = True,
                 **overrides: Any) -> list[dict[str, str]] | list[list[dict[str, str]]]:
        if max_new_tokens is not None:
            overrides["max_length"] = positive("max_new_tokens", max_new_tokens)
        settings = self.call_settings(overrides)
        if is_dataset(inputs):  # a column of a dataset: a generator of results, batch by batch
            return self.over_dataset(inputs, settings, takes_rows=False, return_full_text=return_full_text,
                                     **overrides)
        prompts = text_inputs(inputs, what="text-generation prompt", item='prompt ("" starts from nothing)',
                              allow_empty=True)
        prompt_ids = self.tokenizer.encode_target(prompts)
        results: list[list[dict[str, str]]] = [[] for _ in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -len(prompt_ids[i]))  # less padding, same results
        for indices in chunks(order, settings["batch_size"]):
            prompt_batch = torch.full((len(indices), 1 + max(len(prompt_ids[i]) for i in indices)), PAD_ID)
            for row, index in enumerate(indices):
                prompt_batch[row, : 1 + len(prompt_ids[index])] = torch.tensor([BOS_ID, *prompt_ids[index]])
            output = self.generate(Batch({}, tgt_in=prompt_batch), settings)
            for index, generated in zip(indices, self.outputs(output), strict=True):
                continuation = self._continuation(prompt_ids[index], generated.ids)
                text = prompts[index] + continuation if return_full_text else continuation
                results[index] = [{"generated_text": text}]
        return results[0] if isinstance(inputs, str) else results

    def stream(self, prompt: str, *, max_new_tokens: int | None = None, **overrides: Any) -> Iterator[str]:
        """The continuation of ``prompt`` in pieces, each yielded as soon as its tokens are made:
        ``"".join(stream(p))`` is ``self(p, return_full_text=False)``'s text. Greedy, or sampled
        with ``do_sample=True`` (the same text for the same ``seed``); beam search cannot stream
        (its best hypothesis is known only at the end)."""
        if not isinstance(prompt, str):
            raise TypeError(f"stream takes one prompt (a string), got {type(prompt).__name__}")
        if max_new_tokens is not None:
            overrides["max_length"] = positive("max_new_tokens", max_new_tokens)
        settings = self.call_settings(overrides)
        if settings["num_beams"] != 1:
            raise ValueError(f"beam search knows its best output only at the end: streaming takes num_beams=1 "
                             f"(it is {settings['num_beams']})")
        prompt_ids = self.tokenizer.encode_target(text_inputs(prompt, what="text-generation prompt",
                                                              item="prompt", allow_empty=True))[0]
        batch = Batch({}, tgt_in=torch.tensor([[BOS_ID, *prompt_ids]]))
        new_ids: list[int] = []
        sent = ""
        with self.autocast():
            steps = self.model.generate_steps(batch.to(self.device), max_length=settings["max_length"],
                                              sampling=settings["sampling"])
            for tokens in steps:
                token = int(tokens[0])
                if token in (self.tokenizer.eos_id, PAD_ID):
                    break
                new_ids.append(token)
                text = self._continuation(prompt_ids, new_ids)
                # A piece is sent once the text so far only grows (a token's text can depend on the next).
                if text.startswith(sent) and len(text) > len(sent):
                    yield text[len(sent):]
                    sent = text
        text = self._continuation(prompt_ids, new_ids)
        if text != sent:
            if not text.startswith(sent):
                raise RuntimeError(f"streamed text {sent!r} is not a prefix of the final text {text!r}")
            yield text[len(sent):]

    def _continuation(self, prompt_ids: list[int], new_ids: list[int]) -> str:
        """The text the new tokens add to the prompt: decoded together with it, since a token's
        text can depend on the one before (SentencePiece's word-initial space)."""
        prompt_text = self.tokenizer.decode_target([prompt_ids])[0]
        return self.tokenizer.decode_target([prompt_ids + new_ids])[0][len(prompt_text):]

