"""Speech recognition: an ``audio`` input, the decoder writes the transcription.

The task maps a dataset row to an ``audio`` input (a file path, ``{"array", "sampling_rate"}``, or a
``datasets`` Audio value) and its text; metrics are CER, WER (torchaudio's edit distance) and
exact match. The pipeline transcribes a path, an array dict, or a list of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.base import Pipeline
from pipelines.dataset_inputs import chunks, input_and_target, is_dataset
from seq2seq.config import DataConfig
from seq2seq.data import Batch
from seq2seq.metrics import cer, exact_match, wer

NAME = "speech_recognition"
INPUT = "audio"


class SpeechRecognitionTask:
    name = NAME
    inputs = {INPUT: "audio"}
    metric_names = ("cer", "wer", "exact_match")
    lower_is_better = ("cer", "wer")
    columns = {INPUT: "audio", "target": "text"}  # field -> dataset column (data.columns overrides)

    def make_to_example(self, data: DataConfig, features: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return input_and_target(self, data.columns, features, text=False)

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]:
        """CER and WER (lower is better) and exact match, in percent."""
        functions = {"cer": cer, "wer": wer, "exact_match": exact_match}
        return {name: functions[name](predictions, references) for name in metrics or self.metric_names}


class SpeechRecognitionPipeline(Pipeline):
    """``pipeline("automatic-speech-recognition", model=DIR)(audio)`` -> ``{"text": ...}``.

    ``audio`` is a file path (any format torchcodec reads, or a video's audio track), a
    ``{"array", "sampling_rate"}`` dict, a ``datasets`` Audio value, or a list of them (then a list
    of results). Other sampling rates are resampled. ``return_scores`` adds ``score`` (as for
    translation: log-probability over the length penalty); ``return_attention`` adds the attention
    over the subsampled audio frames (T, frames) and ``target_tokens``, the T tokens of its rows
    (the output's, then eos). Settings (``batch_size``, ``num_beams``, ``max_length``, ``bf16``,
    ...) as for every pipeline (``pipelines/base.py``).
    """

    task = NAME
    unused_settings = ("split_sentences",)

    def __call__(self, audio: Any, *, return_scores: bool = False, return_attention: bool = False,
                 **overrides: Any) -> dict[str, Any] | list[dict[str, Any]]:
        settings = self.call_settings(overrides)
        if is_dataset(audio):  # a column of a dataset: a generator of results, batch by batch
            return self.over_dataset(audio, settings, takes_rows=False, return_scores=return_scores,
                                     return_attention=return_attention, **overrides)
        single = not isinstance(audio, (list, tuple))
        items = [audio] if single else list(audio)
        if not items:
            raise ValueError("speech recognition input is empty: give an utterance or a list of them")
        processor = self.processors[INPUT]
        features = [processor(item, name=str(item) if isinstance(item, (str, Path)) else f"audio {i}")
                    for i, item in enumerate(items)]
        results = []
        for chunk in chunks(features, settings["batch_size"]):
            output = self.generate(Batch({INPUT: processor.collate(chunk)}), settings,
                                   return_attention=return_attention)
            for row, generated in enumerate(self.outputs(output)):
                result: dict[str, Any] = {"text": self.text(generated)}
                if not generated.finished:
                    result["truncated"] = True
                if return_scores:
                    result["score"] = float(output.scores[row, 0])
                if return_attention:
                    result["attention"] = output.attention[row, 0, : generated.steps].float().cpu()
                    result["target_tokens"] = self.tokenizer.target_pieces(
                        output.tokens[row, 0, : generated.steps].tolist())  # the rows: tokens, then eos
                results.append(result)
        return results[0] if single else results

    def stream(self, *, sampling_rate: int | None = None, partial: bool = True, **overrides: Any):
        """A ``TranscriptionStream`` (``pipelines/streams.py``): ``feed(samples)`` returns the
        transcript so far, ``finish()`` the result ``__call__`` gives for the whole recording.
        Samples are at the model's sampling rate (``sampling_rate`` may say so; another rate is an
        error: resampling chunk by chunk would not equal resampling the whole). The model needs a
        unidirectional audio encoder and unnormalised log-mel features."""
        from pipelines.streams import TranscriptionStream

        expected = self.processors[INPUT].sampling_rate
        if sampling_rate is not None and sampling_rate != expected:
            raise ValueError(f"this model streams audio at {expected} Hz, got sampling_rate={sampling_rate}: "
                             "resample the source")
        return TranscriptionStream(self, self.call_settings(overrides), partial=partial)
