"""Numeric series for forecasting: reading one, cutting it into windows, scaling it.

A series is an array (N, F) of N time steps with F features (values), read in order from one
column per feature of a dataset split (``data.columns.target``: one name, or names joined by
commas). Sources: anything ``datasets`` reads (a CSV file, ...), series the project generates
(``sines``: noisy seasonal sines with a trend; ``random_walk``), and real series that ship
inside statsmodels (``sunspots``: yearly sunspot numbers 1700-2008; ``co2``: Mauna Loa CO2,
weekly 1958-2001, as monthly means with its few missing months interpolated).

``windows`` is the equivalent of Keras' ``timeseries_dataset_from_array``: every ``stride``-th
history of ``input_length`` steps with the ``horizon`` steps that follow it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import datasets
import numpy as np
import torch

STATSMODELS_SERIES = ("sunspots", "co2")
GENERATED_SERIES = ("sines", "random_walk")
VALUE_COLUMN = "value"


def statsmodels_series(name: str) -> datasets.DatasetDict:
    """A series that ships inside statsmodels (no download), as a one-split dataset (column ``value``)."""
    try:
        import statsmodels.api as sm
    except ImportError:
        raise ImportError(f"data.path={name} reads the series statsmodels ships: pip install -e '.[forecasting]'") \
            from None
    if name == "sunspots":
        values = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=float)
    elif name == "co2":
        weekly = sm.datasets.co2.load_pandas().data["co2"]
        values = weekly.resample("MS").mean().interpolate().to_numpy(dtype=float)
    else:
        raise ValueError(f"unknown statsmodels series {name!r}; choose one of {', '.join(STATSMODELS_SERIES)}")
    return datasets.DatasetDict({"train": datasets.Dataset.from_dict({VALUE_COLUMN: values.tolist()})})


def generated_series(name: str, length: int, seed: int) -> datasets.DatasetDict:
    """``sines``: two features, seasonal (period 12 and 30) with a trend and noise; ``random_walk``:
    one feature of Gaussian steps (nothing to learn beyond the last value: naive is optimal)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=float)
    if name == "sines":
        first = 10 + 0.02 * t + 3 * np.sin(2 * math.pi * t / 12) + rng.normal(0, 0.3, length)
        second = (5 + 2 * np.sin(2 * math.pi * t / 30 + 1.0) + 0.5 * np.sin(2 * math.pi * t / 12)
                  + rng.normal(0, 0.2, length))
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({VALUE_COLUMN: first.tolist(),
                                                                          "second": second.tolist()})})
    if name == "random_walk":
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict(
            {VALUE_COLUMN: np.cumsum(rng.normal(0, 1, length)).tolist()})})
    raise ValueError(f"unknown generated series {name!r}; choose one of {', '.join(GENERATED_SERIES)}")


def series_values(rows: datasets.Dataset, columns: str) -> np.ndarray:
    """The named columns of ``rows`` (comma-separated names), in row order, as (N, F) float64;
    a missing column, a value that is not a number, or a NaN is an error naming it."""
    names = [name.strip() for name in columns.split(",") if name.strip()]
    if not names:
        raise ValueError("data.columns.target must name the series' column(s)")
    values = []
    for name in names:
        if name not in rows.column_names:
            raise KeyError(f"the data has no column {name!r} (it has {', '.join(rows.column_names)}); "
                           "set data.columns.target")
        try:
            column = np.asarray(rows[name], dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"column {name!r} must hold numbers") from None
        missing = np.flatnonzero(~np.isfinite(column))
        if missing.size:
            raise ValueError(f"column {name!r} has {missing.size} missing or non-finite values (first at row "
                             f"{missing[0]}); fill or drop them first")
        values.append(column)
    return np.stack(values, axis=1)


def check_series(series: np.ndarray, *, name: str = "series") -> np.ndarray:
    """A (T,) or (T, F) array of finite numbers as float64 (T, F), or an error naming the problem."""
    array = np.asarray(series, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be (T,) or (T, F) numbers with T >= 1, got shape {np.shape(series)}")
    if not np.isfinite(array).all():
        first = int(np.argwhere(~np.isfinite(array))[0][0])
        raise ValueError(f"{name} holds NaN or infinite values (first at step {first})")
    return array


def windows(series: np.ndarray, input_length: int, horizon: int, *, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every ``stride``-th (history, future) pair of ``series`` (N, F): histories (W, input_length, F)
    and the ``horizon`` steps after each, (W, horizon, F); Keras' ``timeseries_dataset_from_array``."""
    count = (len(series) - input_length - horizon) // stride + 1
    if count < 1:
        raise ValueError(f"a series of {len(series)} steps is too short for windows of {input_length} + {horizon} "
                         "steps")
    starts = np.arange(count) * stride
    history = np.stack([series[s : s + input_length] for s in starts])
    future = np.stack([series[s + input_length : s + input_length + horizon] for s in starts])
    return history, future


@dataclass
class Scaler:
    """How values become model inputs, saved with the model. ``relative``: each window minus its
    last observed value, over ``scale`` (the training series' standard deviation of one-step
    changes): a level or trend never seen in training is read like any other. ``standard``:
    minus the training mean, over the training standard deviation."""

    mode: str
    center: list[float]  # per feature: the training mean (standard; unused by relative)
    scale: list[float]  # per feature

    @classmethod
    def fit(cls, series: np.ndarray, mode: str) -> Scaler:
        if mode == "relative":
            spread = np.diff(series, axis=0).std(axis=0) if len(series) > 1 else np.ones(series.shape[1])
            return cls(mode, [0.0] * series.shape[1], np.where(spread > 0, spread, 1.0).tolist())
        if mode == "standard":
            spread = series.std(axis=0)
            return cls(mode, series.mean(axis=0).tolist(), np.where(spread > 0, spread, 1.0).tolist())
        raise ValueError(f"scaling must be relative or standard, got {mode!r}")

    def origin(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """What each window is measured from, (B, 1, F): its last real value, or the training mean."""
        if self.mode == "relative":
            return history.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, history.size(-1)))
        return torch.tensor(self.center, dtype=history.dtype, device=history.device).view(1, 1, -1)

    def _scale(self, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.scale, dtype=like.dtype, device=like.device).view(1, 1, -1)

    def transform(self, values: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
        return (values - origin) / self._scale(values)

    def inverse(self, scaled: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
        return scaled * self._scale(scaled) + origin
