"""Numeric series: windows as Keras cuts them, scaling that round-trips, clear errors for bad values."""

import datasets
import numpy as np
import pytest
import torch

from seq2seq.series import Scaler, check_series, generated_series, series_values, windows


def test_windows_are_every_stride_th_history_with_the_steps_after_it():
    series = np.arange(20, dtype=float).reshape(10, 2)  # 10 steps, 2 features
    history, future = windows(series, 4, 2, stride=3)
    assert history.shape == (2, 4, 2) and future.shape == (2, 2, 2)  # starts 0 and 3 (3 + 4 + 2 <= 10)
    assert history[1, :, 0].tolist() == [6, 8, 10, 12] and future[1, :, 0].tolist() == [14, 16]
    with pytest.raises(ValueError, match="10 steps is too short for windows of 8 \\+ 4 steps"):
        windows(series, 8, 4)


@pytest.mark.parametrize("mode", ["relative", "standard"])
def test_scaling_round_trips_and_relative_windows_start_from_their_last_value(mode):
    series = generated_series("sines", 200, seed=0)["train"]
    values = np.stack([series["value"], series["second"]], axis=1)
    scaler = Scaler.fit(values, mode)
    history = torch.tensor(values[None, :30], dtype=torch.float64)
    origin = scaler.origin(history, torch.tensor([30]))
    scaled = scaler.transform(history, origin)
    torch.testing.assert_close(scaler.inverse(scaled, origin), history)
    if mode == "relative":
        assert torch.equal(scaled[0, -1], torch.zeros(2, dtype=torch.float64))
    else:
        torch.testing.assert_close(scaler.transform(torch.tensor(values[None]), origin).mean(dim=1),
                                   torch.zeros(1, 2, dtype=torch.float64))


def test_series_columns_that_are_missing_not_numbers_or_incomplete_are_errors():
    rows = datasets.Dataset.from_dict({"a": [1.0, 2.0, 3.0], "b": [1.0, None, 3.0], "c": ["x", "y", "z"]})
    assert series_values(rows, "a").shape == (3, 1)
    with pytest.raises(KeyError, match="no column 'd'"):
        series_values(rows, "a, d")
    with pytest.raises(ValueError, match="column 'b' has 1 missing or non-finite values .first at row 1"):
        series_values(rows, "a,b")
    with pytest.raises(ValueError, match="column 'c' must hold numbers"):
        series_values(rows, "c")


def test_a_history_with_nans_or_the_wrong_shape_is_an_error():
    assert check_series([1, 2, 3]).shape == (3, 1)
    with pytest.raises(ValueError, match="NaN or infinite values .first at step 1"):
        check_series([1.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match=r"must be \(T,\) or \(T, F\) numbers"):
        check_series(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"must be \(T,\) or \(T, F\) numbers"):
        check_series([])
