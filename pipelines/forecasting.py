"""Time-series forecasting: ForecastingPipeline over a trained ``seq2seq.forecasting.Forecaster``.

Training and evaluation live in ``seq2seq/forecast_training.py`` (a regression loss has no
tokens for the sequence-to-sequence loop); this module is the user-facing side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.base import DEFAULT_BATCH_SIZE, positive
from seq2seq.config import Config
from seq2seq.forecasting import COLUMNS, Forecaster, check_forecasting_config, forecast
from seq2seq.series import check_series


class ForecastingTask:
    """What the shared config checks and ``scripts/train.py`` need; training and evaluation are
    ``seq2seq/forecast_training.py``'s."""

    name = "forecasting"
    inputs = {"series": "series"}
    metric_names = ("mase", "mae", "rmse", "smape")
    lower_is_better = metric_names
    columns = COLUMNS  # the series' column(s), comma-separated

    def check_config(self, config: Config) -> None:
        """Settings a forecaster cannot use, said before any work starts."""
        check_forecasting_config(config)


class ForecastingPipeline:
    """Not a ``Pipeline``: a forecaster has no tokenizer and no search, so it shares only the
    call convention (``device`` and ``batch_size`` at construction, ``batch_size`` per call).

    ``ForecastingPipeline("runs/forecasting/model")(series, horizon=24)`` ->
    ``{"forecast": array (H,) or (H, F), "quantiles": {"0.1": ..., "0.5": ..., "0.9": ...}}``.

    ``series`` is one history (oldest first: a list of numbers, or a (T,) or (T, F) array; the
    model reads its last ``input_length`` steps) or a list of them (a list of results). A horizon beyond the model's
    own is forecast recursively, its forecasts read back as history. Quantiles come from the
    model's validation errors at each step (an empirical band); they cover the model's own
    horizon only, so a longer forecast has none.
    """

    task = "forecasting"

    def __init__(self, model: str | Path, *, device: str | torch.device = "cpu", batch_size: int = DEFAULT_BATCH_SIZE):
        self.model = Forecaster.from_pretrained(model, device=device)
        self.batch_size = positive("batch_size", batch_size)
        settings = self.model.config["forecasting"]
        self.input_length, self.horizon = settings["input_length"], settings["horizon"]
        self.minimum = settings["min_input_length"] or settings["input_length"]
        self.quantiles = {q: np.asarray(v) for q, v in self.model.config.get("residual_quantiles", {}).items()}

    def __call__(self, series: Any, *, horizon: int | None = None,
                 batch_size: int | None = None) -> dict[str, Any] | list[dict[str, Any]]:
        steps = positive("horizon", horizon) if horizon is not None else self.horizon
        rows = positive("batch_size", batch_size) if batch_size is not None else self.batch_size
        one = _is_one_series(series)
        histories = [check_series(history, name="series" if one else f"series {i}")
                     for i, history in enumerate([series] if one else series)]
        if not histories:
            raise ValueError("forecasting input is an empty list: give at least one series")
        predicted = [np.zeros((0, history.shape[1])) for history in histories]
        while len(predicted[0]) < steps:
            extended = [np.concatenate([h, p]) for h, p in zip(histories, predicted, strict=True)]
            more = forecast(self.model, extended, input_length=self.input_length, min_length=self.minimum,
                            batch_size=rows)
            predicted = [np.concatenate([p, m]) for p, m in zip(predicted, more, strict=True)]
        results = [self._result(history, forecast_[:steps]) for history, forecast_ in zip(histories, predicted,
                                                                                           strict=True)]
        return results[0] if one else results

    def _result(self, history: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
        squeeze = (lambda a: a[:, 0]) if history.shape[1] == 1 else (lambda a: a)  # noqa: E731
        result: dict[str, Any] = {"forecast": squeeze(predicted)}
        if self.quantiles and len(predicted) <= self.horizon:
            result["quantiles"] = {q: squeeze(predicted + band[: len(predicted)]) for q, band in self.quantiles.items()}
        return result


def _is_one_series(series: Any) -> bool:
    """An array or tensor ((T,) or (T, F)) or a flat list of numbers is one series; a list of
    those is several (so a (T, F) series is given as an array, not as nested lists)."""
    if isinstance(series, np.ndarray | torch.Tensor):
        return series.ndim <= 2
    if isinstance(series, list | tuple):
        return bool(series) and not isinstance(series[0], list | tuple | np.ndarray | torch.Tensor)
    raise TypeError(f"forecasting input must be numbers (a list or array), got {type(series).__name__}")
