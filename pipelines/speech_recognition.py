"""Speech recognition: an ``audio`` input, the decoder writes the transcription.

The task maps a dataset row to an ``audio`` input (a file path, ``{"array", "sampling_rate"}``, or a
``datasets`` Audio value) and its text; metrics are CER, WER (torchaudio's edit distance) and
exact match. The pipeline transcribes a path, an array dict, or a list of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pipelines.dataset_inputs import is_dataset, results_per_row
from pipelines.translation import resolve_settings
from seq2seq.columns import ColumnReader, resolve_columns
from seq2seq.config import DataConfig, GenerationConfig, config_to_dict
from seq2seq.data import Batch
from seq2seq.metrics import cer, exact_match, wer
from seq2seq.model import SEARCH_SETTINGS, Seq2SeqModel, read_model_config
from seq2seq.processors import load_processors
from seq2seq.tokenization import Tokenizer

NAME = "speech_recognition"
INPUT = "audio"


class SpeechRecognitionTask:
    name = NAME
    inputs = {INPUT: "audio"}
    metric_names = ("cer", "wer", "exact_match")
    lower_is_better = ("cer", "wer")
    columns = {INPUT: "audio", "target": "text"}  # field -> dataset column (data.columns overrides)

    def make_to_example(self, data: DataConfig, features: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
        read = ColumnReader(resolve_columns(self.columns, data.columns, NAME), features)

        def to_example(row: dict[str, Any]) -> dict[str, Any]:
            example = {INPUT: read(row, INPUT)}
            if read.has(row, "target"):
                example["target_text"] = read.text(row, "target", optional=True)
            return example

        return to_example

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]:
        """CER and WER (lower is better) and exact match, in percent."""
        functions = {"cer": cer, "wer": wer, "exact_match": exact_match}
        return {name: functions[name](predictions, references) for name in metrics or self.metric_names}


class SpeechRecognitionPipeline:
    """``pipeline("automatic-speech-recognition", model=DIR)(audio)`` -> ``{"text": ...}``.

    ``audio`` is a file path (any format torchcodec reads, or a video's audio track), a
    ``{"array", "sampling_rate"}`` dict, a ``datasets`` Audio value, or a list of them (then a list
    of results). Other sampling rates are resampled. ``return_scores`` adds ``score`` (as for
    translation: log-probability over the length penalty); ``return_attention`` adds the attention
    over the subsampled audio frames (T, frames).
    """

    def __init__(self, model: str | Path, *, device: str | torch.device = "cpu", **settings: Any):
        config = read_model_config(model)
        if config.get("task") != NAME:
            raise ValueError(f"{model} holds a '{config.get('task')}' model, not a speech recognition model")
        self.tokenizer = Tokenizer.from_pretrained(model)
        self.model = Seq2SeqModel.from_pretrained(model, device=device)
        self.processor = load_processors(model, self.tokenizer, config["inputs"])[INPUT]
        self.device = torch.device(device)
        defaults = {**config_to_dict(GenerationConfig()), **config.get("generation", {})}
        self.settings = resolve_settings(defaults, settings)

    def __call__(self, audio: Any, *, return_scores: bool = False, return_attention: bool = False,
                 **overrides: Any) -> dict[str, Any] | list[dict[str, Any]]:
        """``overrides``: generation settings for this call (``batch_size``, ``num_beams``,
        ``max_length``, ...), as for translation."""
        settings = resolve_settings(self.settings, overrides)
        if is_dataset(audio):  # a column of a dataset: a generator of results, batch by batch
            return results_per_row(self, audio, settings["batch_size"], takes_rows=False, task=NAME,
                                   return_scores=return_scores, return_attention=return_attention, **overrides)
        single = not isinstance(audio, (list, tuple))
        items = [audio] if single else list(audio)
        if not items:
            raise ValueError("speech recognition input is empty: give an utterance or a list of them")
        features = [self.processor(item, name=str(item) if isinstance(item, (str, Path)) else f"audio {i}")
                    for i, item in enumerate(items)]
        options = {name: settings[name] for name in SEARCH_SETTINGS}
        results = []
        batch_size = settings["batch_size"]
        for start in range(0, len(features), batch_size):
            values, mask = self.processor.collate(features[start : start + batch_size])
            batch = Batch({INPUT: (values.to(self.device), mask.to(self.device))})
            with torch.no_grad():
                output = self.model.generate(batch, return_attention=return_attention, **options)
            for row, tokens in enumerate(output.tokens[:, 0].tolist()):
                result: dict[str, Any] = {"text": self.tokenizer.decode_target([tokens])[0]}
                if self.tokenizer.eos_id not in tokens:
                    result["truncated"] = True
                if return_scores:
                    result["score"] = float(output.scores[row, 0])
                if return_attention:
                    length = tokens.index(self.tokenizer.eos_id) + 1 if self.tokenizer.eos_id in tokens else len(tokens)
                    result["attention"] = output.attention[row, 0, :length].float().cpu()
                results.append(result)
        return results[0] if single else results
