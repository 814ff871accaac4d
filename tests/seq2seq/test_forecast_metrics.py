"""Forecast accuracy and baselines on hand-checked values."""

import numpy as np
import pytest

from seq2seq.forecast_metrics import accuracy, naive, residual_quantiles, rolling_origins, seasonal_naive


def test_accuracy_values_and_mase_scaled_by_the_in_sample_seasonal_naive_error():
    training = np.array([[1.0], [3.0], [2.0], [4.0], [3.0]])  # season 2: |2-1|, |4-3|, |3-2| -> scale 1
    actual = np.array([[[2.0], [4.0]]])
    predicted = np.array([[[3.0], [4.0]]])
    metrics = accuracy(actual, predicted, training, season=2)
    assert metrics["mae"] == pytest.approx(0.5) and metrics["mase"] == pytest.approx(0.5)
    assert metrics["rmse"] == pytest.approx(np.sqrt(0.5))
    assert metrics["smape"] == pytest.approx(100 * (2 * 1 / 5) / 2)


def test_baselines_repeat_the_last_value_or_the_last_season():
    series = np.arange(10, dtype=float)[:, None]
    origins = rolling_origins(10, 7, 2)
    assert origins == [7, 8]
    assert naive(series, origins, 2)[:, :, 0].tolist() == [[6, 6], [7, 7]]
    assert seasonal_naive(series, origins, 3, 2)[:, :, 0].tolist() == [[5, 6, 5], [6, 7, 6]]
    with pytest.raises(ValueError, match="shorter than the horizon"):
        rolling_origins(10, 9, 2)


def test_residual_quantiles_are_per_step_and_ordered():
    rng = np.random.default_rng(0)
    actual = rng.normal(size=(500, 3, 1))
    quantiles = residual_quantiles(actual, np.zeros_like(actual))
    low, middle, high = (np.asarray(quantiles[q]) for q in ("0.1", "0.5", "0.9"))
    assert low.shape == (3, 1) and (low < middle).all() and (middle < high).all()
    assert np.abs(high - 1.28).max() < 0.2
