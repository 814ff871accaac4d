"""What every task's pipeline shares: loading a model directory, settings, batching, bf16, cutting outputs.

A task's pipeline subclasses ``Pipeline`` and writes only its own input and output code:

    class SpeechRecognitionPipeline(Pipeline):
        task = "speech_recognition"

        def __call__(self, audio, **overrides):
            settings = self.call_settings(overrides)
            ...
            for chunk in chunks(features, settings["batch_size"]):
                output = self.generate(batch, settings)
                for row in self.outputs(output):  # text, finished, steps
                    ...

One call convention, as in Hugging Face pipelines: every pipeline takes ``batch_size`` at
construction and per call; a generative one (``generative = True``) takes the search settings
(``num_beams``, ``max_length``, ...) the same way, defaulting to the ones saved with the model,
and ``do_sample=True`` (with ``temperature``, ``top_k``, ``top_p``, ``seed``) to sample instead.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch

from pipelines.dataset_inputs import results_per_row
from seq2seq.config import GenerationConfig, config_to_dict
from seq2seq.model import Seq2SeqModel
from seq2seq.model_files import read_model_config
from seq2seq.processors import load_processors
from seq2seq.quantization import check_quantization, quantize_int8
from seq2seq.sampling import Sampling
from seq2seq.search import SEARCH_SETTINGS, check_generation_settings, generated_tokens
from seq2seq.tokenization import PAD_ID, Tokenizer

CPUINFO = Path("/proc/cpuinfo")
DEFAULT_BATCH_SIZE = 16  # a classifier's; a generative model's comes from its generation settings
# Sampling instead of search (``seq2seq/sampling.py``), per pipeline or per call; not saved with a model.
SAMPLING_DEFAULTS = {"do_sample": False, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": None}


class Generated(NamedTuple):
    """One output row, cut at its end: the token ids (no eos, no padding), whether it ended with eos
    (else it stopped at its length limit: ``truncated``), and the decoder steps it took (tokens + eos)."""

    ids: list[int]
    finished: bool
    steps: int


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


def positive(name: str, value: Any) -> int:
    """A whole number >= 1 (``batch_size``, ``top_k``, ...), or a ValueError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__") or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def sampling(settings: dict[str, Any], device: torch.device | None = None) -> Sampling | None:
    """What ``do_sample`` asks for (one sampled output per input), or None for search. With a
    ``device``, the sampling carries one generator for all the batches of a call, so the batches
    draw from one stream instead of each restarting from the seed."""
    if not settings.get("do_sample"):
        return None
    if settings["num_beams"] != 1:
        raise ValueError(f"do_sample draws one output per input: set num_beams=1 (it is {settings['num_beams']})")
    checked = Sampling(temperature=settings["temperature"], top_k=settings["top_k"], top_p=settings["top_p"],
                       seed=settings["seed"])
    return checked if device is None else dataclasses.replace(checked, generator=checked.make_generator(device))


def resolve_settings(current: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Settings with ``overrides`` (None = keep) applied, checked; unknown names are an error."""
    unknown = set(overrides) - set(current)
    if unknown:
        kind = "generation setting(s)" if "num_beams" in current else "setting(s)"
        raise TypeError(f"unknown {kind}: {', '.join(sorted(unknown))} (known: {', '.join(sorted(current))})")
    settings = {**current, **{k: v for k, v in overrides.items() if v is not None}}
    if "num_beams" in settings:
        check_generation_settings(num_beams=settings["num_beams"], max_length=settings["max_length"],
                                  max_length_a=settings["max_length_a"], max_length_b=settings["max_length_b"])
    if settings.get("do_sample"):
        sampling(settings)  # its settings checked now, not at the first batch
    positive("batch_size", settings["batch_size"])
    return settings


class Pipeline:
    """A trained model directory made callable. Subclasses set ``task`` (the name saved in the
    model's config.json) and, for a model that writes free text, ``generative = True``.

    ``bf16=True`` runs the model under bfloat16 autocast (about 2x faster on hardware with native
    bf16); ``bf16=None`` (the default) does so where the hardware has it if the task measured the
    same quality in bf16 (``bf16_where_native``: translation, the same BLEU), and runs fp32
    otherwise; ``False`` forces fp32. ``quantize="int8"`` runs the Linear, GRU and LSTM layers
    in int8 on the CPU (``seq2seq/quantization.py``); a model saved quantized always runs so.
    """

    task: str
    generative = True
    bf16_where_native = False
    # Generation settings a task's pipeline has no use for (translation's sentence splitting, say).
    unused_settings: tuple[str, ...] = ()

    def __init__(self, model: str | Path, *, device: str | torch.device = "cpu", bf16: bool | None = None,
                 quantize: str | None = None, **settings: Any):
        self.config = read_model_config(model)
        saved_task = self.config.get("task", "translation")  # models saved before tasks were named
        if saved_task != self.task:
            wanted = self.task.replace("_", " ")
            raise ValueError(f"{model} holds a '{saved_task}' model, not {'an' if wanted[0] in 'aeiou' else 'a'} "
                             f"{wanted} model")
        self.tokenizer = Tokenizer.from_pretrained(model)
        self.model = Seq2SeqModel.from_pretrained(model, device=device)
        self.processors = load_processors(model, self.tokenizer, self.config["inputs"])
        self.device = torch.device(device)
        check_quantization(quantize)
        if quantize or self.config.get("quantization"):
            if bf16:
                raise ValueError("an int8 model runs its quantized layers in int8: bf16=True does not apply")
            self.model = quantize_int8(self.model)
            bf16 = False
        self.bf16 = self.bf16_where_native and has_native_bf16(self.device) if bf16 is None else bool(bf16)
        self.columns = self.config.get("data", {}).get("columns", {})  # how the training rows were read
        self.settings = resolve_settings(self._default_settings(), settings)

    def _default_settings(self) -> dict[str, Any]:
        if not self.generative:
            return {"batch_size": DEFAULT_BATCH_SIZE}
        # Models saved before a setting existed get today's default for it.
        defaults = {**config_to_dict(GenerationConfig()), **self.config.get("generation", {}), **SAMPLING_DEFAULTS}
        for name in self.unused_settings:
            defaults.pop(name, None)
        return defaults

    def call_settings(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """This call's settings: the pipeline's, with the call's keyword arguments applied (and,
        when it samples, the one ``Sampling`` all its batches draw from)."""
        settings = resolve_settings(self.settings, overrides)
        return {**settings, "sampling": sampling(settings, self.device)} if self.generative else settings

    def over_dataset(self, inputs: Any, settings: dict[str, Any], *, takes_rows: bool, **options: Any) -> Iterator:
        """Results for a dataset (or one of its columns), ``batch_size`` rows at a time. Sampled
        with a seed, the n-th batch of rows is seeded with seed + n: reproducible, not repeated."""
        call = self
        if settings.get("do_sample") and settings.get("seed") is not None:
            seeds = itertools.count(settings["seed"])
            call = lambda rows, **kwargs: self(rows, **{**kwargs, "seed": next(seeds)})  # noqa: E731
        return results_per_row(call, inputs, settings["batch_size"], takes_rows=takes_rows, task=self.task, **options)

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @torch.no_grad()
    def generate(self, batch: Any, settings: dict[str, Any], *, return_attention: bool = False, encoded=None):
        """The model's search over ``batch`` (on this pipeline's device), or over a stream's
        ``encoded`` memory, with this call's settings."""
        with self.autocast():
            batch = batch.to(self.device) if batch is not None else None
            return self.model.generate(batch, encoded=encoded, return_attention=return_attention,
                                       sampling=settings["sampling"],
                                       **{name: settings[name] for name in SEARCH_SETTINGS})

    def outputs(self, output: Any) -> list[Generated]:
        """The best hypothesis of each row of a ``generate`` output, cut at its end."""
        rows = []
        for tokens in output.tokens[:, 0].tolist():
            ids, finished = generated_tokens(tokens, self.tokenizer.eos_id, PAD_ID)
            rows.append(Generated(ids, finished, len(ids) + finished))
        return rows

    def text(self, generated: Generated) -> str:
        return self.tokenizer.decode_target([generated.ids])[0]
