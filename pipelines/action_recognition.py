"""Action recognition as seq2seq: a video and/or audio input, the decoder writes the label.

The task maps a dataset row to a ``video`` input (a file path, frame folder, image strip, array
or ``datasets`` Video value), an ``audio`` input (``data.audio_column``, or by default the
soundtrack of the video file) and the label text; a model uses one or both (the config's
``inputs``), and with both one decoder attends over the two encoders' memories
(``model.fusion``). Its metrics are accuracy and mean per-class accuracy, and at the end of
training it saves the per-class accuracy and a confusion matrix. The pipeline scores every label
of the model's label set in one batched pass and returns probabilities.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pipelines.base import Pipeline, positive
from pipelines.dataset_inputs import chunks, is_dataset, mapped_rows
from seq2seq.columns import ColumnReader, resolve_columns
from seq2seq.config import DataConfig
from seq2seq.data import Batch
from seq2seq.media import MediaError, load_video
from seq2seq.metrics import confusion_matrix, exact_match, mean_class_accuracy, per_class_accuracy
from seq2seq.plots import plot_confusion_matrix

NAME = "action_recognition"
INPUT = "video"
AUDIO = "audio"
REPORT_FILE, CONFUSION_FILE = "valid_report.json", "confusion_matrix.png"


def _label(value: Any, column: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"label column '{column}' must hold text (or a class number), got {type(value).__name__}")
    return str(value).strip()


class ActionRecognitionTask:
    name = NAME
    inputs = {INPUT: "video", AUDIO: "audio"}  # a model takes one or both
    metric_names = ("accuracy", "mean_class_accuracy")
    # field -> dataset column (data.columns overrides); audio "" = the video file's soundtrack
    columns = {INPUT: "video", AUDIO: "", "target": "label"}

    def make_to_example(self, data: DataConfig, features: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
        columns = resolve_columns(self.columns, data.columns, NAME)
        read = ColumnReader({**columns, AUDIO: columns[AUDIO] or columns[INPUT]}, features)

        def to_example(row: dict[str, Any]) -> dict[str, Any]:
            # A model may take the video or the audio alone: each is read where the row has it.
            example = {field: read(row, field) for field in (INPUT, AUDIO) if read.has(row, field)}
            if not example:
                raise KeyError(f"neither the video column '{read.columns[INPUT]}' nor the audio column "
                               f"'{read.columns[AUDIO]}' is in the dataset row (available: {', '.join(sorted(row))}); "
                               "set data.columns")
            if read.has(row, "target"):  # None: an unlabelled row (dropped from training data, counted)
                label = read(row, "target")
                example["target_text"] = None if label is None else _label(label, read.columns["target"])
            return example

        return to_example

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]:
        """Accuracy (exact label match) and mean per-class accuracy, in percent."""
        functions = {"accuracy": exact_match, "mean_class_accuracy": mean_class_accuracy}
        return {name: functions[name](predictions, references) for name in metrics or self.metric_names}

    def describe(self, references: list[str]) -> dict[str, Any]:
        """What a saved model records about its task: the label set it was trained on."""
        return {"labels": sorted(set(references))}

    def save_report(self, predictions: list[str], references: list[str], directory: str | Path) -> None:
        """Per-class accuracy and the confusion matrix of the best validation predictions (JSON and PNG)."""
        labels, counts = confusion_matrix(predictions, references)
        report = {"accuracy": exact_match(predictions, references),
                  "per_class_accuracy": per_class_accuracy(predictions, references),
                  "confusion_matrix": {"labels": labels, "columns": [*labels, "(other)"], "counts": counts}}
        (Path(directory) / REPORT_FILE).write_text(json.dumps(report, indent=2))
        plot_confusion_matrix(labels, counts, Path(directory) / CONFUSION_FILE)


class ActionRecognitionPipeline(Pipeline):
    """``pipeline("action-recognition", model=DIR)(video)`` -> ``[{"label": str, "score": float}, ...]``.

    ``video`` is a path (video file, frame folder or image strip), a uint8 array or tensor
    (T, H, W, C), a ``datasets`` Video value, or a list of them (then one result list per video).
    A model with an audio input reads the file's soundtrack; inputs that are not one file are given
    by name, ``{"video": frames, "audio": {"array": ..., "sampling_rate": ...}}``.
    Scores are probabilities over the model's label set: every label is scored by the decoder in
    one batched pass and the sequence probabilities are normalised, so they sum to 1; results are
    sorted, best first, and cut to ``top_k``. ``num_clips > 1`` splits a long video into that many
    equal parts and averages their probabilities. ``return_attention=True`` adds ``attention``:
    the top label's attention over the sampled frames (label tokens + eos, frames). ``batch_size``
    and ``bf16`` as for every pipeline (``pipelines/base.py``).
    """

    task = NAME
    generative = False  # it scores the label set

    def __init__(self, model: str | Path, **options: Any):
        super().__init__(model, **options)
        if not self.config.get("labels"):
            raise ValueError(f"{model}/config.json has no 'labels': not a complete action recognition model")
        self.labels: list[str] = self.config["labels"]
        self.label_ids = self.tokenizer.encode_target(self.labels)

    def __call__(self, videos: Any, *, top_k: int | None = 5, num_clips: int = 1, return_attention: bool = False,
                 **overrides: Any) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        settings = self.call_settings(overrides)
        if is_dataset(videos):  # a column (or, for a video + audio model, rows): results batch by batch
            rows = len(self.processors) > 1
            inputs = mapped_rows(videos, self.columns, tuple(self.processors)) if rows else videos
            return self.over_dataset(inputs, settings, takes_rows=rows, top_k=top_k, num_clips=num_clips,
                                     return_attention=return_attention, **overrides)
        single = not isinstance(videos, (list, tuple))
        items = [videos] if single else list(videos)
        if not items:
            raise ValueError("action recognition input is empty: give a video or a list of videos")
        top_k = len(self.labels) if top_k is None else positive("top_k", top_k)
        positive("num_clips", num_clips)
        if num_clips > 1 and set(self.processors) != {INPUT}:
            raise ValueError("num_clips > 1 splits the video only; this model also takes audio (use num_clips=1)")
        clips, owners = [], []
        several = len(self.processors) > 1
        for position, item in enumerate(items):
            kind = "input" if several else next(iter(self.processors))
            name = str(item) if isinstance(item, (str, Path)) else f"{kind} {position}"
            for clip in self._clips(item, num_clips, name):
                clips.append({key: processor(self._input(clip, key, name), train=False,
                                             name=f"{name} ({key})" if several else name)
                              for key, processor in self.processors.items()})
                owners.append(position)
        probabilities, attention = self._score(clips, return_attention, settings["batch_size"])
        results = []
        for position in range(len(items)):
            rows = [row for row, owner in enumerate(owners) if owner == position]
            mean = probabilities[rows].mean(dim=0)
            order = mean.argsort(descending=True)[:top_k].tolist()
            result = [{"label": self.labels[i], "score": float(mean[i])} for i in order]
            if return_attention:
                best = order[0]
                length = len(self.label_ids[best]) + 1
                result[0]["attention"] = attention[rows[0], best, :length].float().cpu()  # (label tokens + eos, frames)
            results.append(result)
        return results[0] if single else results

    def stream(self, *, source_fps: float | None = None, top_k: int | None = 5):
        """An ``ActionStream`` (``pipelines/streams.py``): ``feed(frames)`` returns the label scores
        given the frames so far, ``finish()`` the final ones. ``source_fps`` is the frames' rate
        (default: the processor's ``source_fps``). Video-only models with a unidirectional encoder."""
        from pipelines.streams import ActionStream

        if set(self.processors) != {INPUT}:
            raise ValueError(f"streaming takes a video-only model; this one takes {' and '.join(self.processors)}")
        return ActionStream(self, source_fps=source_fps,
                            top_k=len(self.labels) if top_k is None else positive("top_k", top_k))

    def _input(self, item: Any, key: str, name: str) -> Any:
        """What the ``key`` input reads from ``item``: its entry when inputs are given by name, else
        the item itself (a video file, whose soundtrack is the audio)."""
        named = isinstance(item, dict) and bool(set(item) & {INPUT, AUDIO})
        if not named:
            return item
        if key not in item:
            if key == AUDIO and not self.columns.get(AUDIO) and isinstance(item.get(INPUT), (str, Path, dict)):
                return item[INPUT]  # trained on the video file's soundtrack: read it there
            raise ValueError(f"{name}: this model takes {' and '.join(self.processors)}; the input has no {key!r}")
        return item[key]

    def _clips(self, video: Any, num_clips: int, name: str) -> list[Any]:
        if num_clips == 1:
            return [video]
        frames = load_video(video, name)  # (T, 3, H, W)
        min_frames = self.processors[INPUT].min_frames
        if frames.size(0) < num_clips * min_frames:
            raise MediaError(f"{name}: {frames.size(0)} frames cannot make {num_clips} clips of at least "
                             f"{min_frames} frames")
        return [part.permute(0, 2, 3, 1) for part in torch.tensor_split(frames, num_clips)]

    @torch.no_grad()
    def _score(self, clips: list[dict[str, torch.Tensor]], return_attention: bool,
               batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Label probabilities (N, L) and, if asked, the attention (N, L, T, positions); with two
        inputs the positions are the video's frames, then the audio's."""
        probabilities, attention = [], []
        for chunk in chunks(clips, batch_size):
            batch = Batch({key: processor.collate([clip[key] for clip in chunk])
                           for key, processor in self.processors.items()})
            with self.autocast():
                scores, weights = self.model.score_candidates(batch.to(self.device), self.label_ids)
            probabilities.append(torch.softmax(scores.float(), dim=-1).cpu())
            if return_attention:
                attention.append(weights.cpu())
        return torch.cat(probabilities), torch.cat(attention) if return_attention else None
