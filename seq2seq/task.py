"""The task layer's contract with the library: what pipelines/<task>.py provides to training and evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import datasets

from seq2seq.config import DataConfig


class Task(Protocol):
    name: str
    inputs: dict[str, str]  # input name -> modality: what the task can feed; a config lists one or more
    metric_names: tuple[str, ...]  # what compute_metrics can report

    columns: dict[str, str]  # field it reads (inputs and "target") -> default dataset column

    def make_to_example(self, data: DataConfig,
                        features: datasets.Features | None = None) -> Callable[[dict[str, Any]], dict[str, Any]]: ...

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]: ...
