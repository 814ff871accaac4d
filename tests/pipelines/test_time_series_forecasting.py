"""The time-series-forecasting pipeline: H values per feature, quantiles, recursion, clear errors."""

import numpy as np
import pytest

from pipelines import ForecastingPipeline, pipeline
from seq2seq.forecast_training import load_series


@pytest.fixture(scope="module")
def predict(trained_forecaster):
    return pipeline("time-series-forecasting", model=trained_forecaster[1] / "model")


@pytest.fixture(scope="module")
def series(trained_forecaster):
    return load_series(trained_forecaster[0]).series  # (800, 2)


def test_a_forecast_has_horizon_values_per_feature_and_an_ordered_band(predict, series):
    assert isinstance(predict, ForecastingPipeline)
    result = predict(series[:500])
    assert result["forecast"].shape == (12, 2)
    low, middle, high = (result["quantiles"][q] for q in ("0.1", "0.5", "0.9"))
    assert low.shape == (12, 2) and (low <= middle).all() and (middle <= high).all()
    shorter = predict(series[:500], horizon=5)
    np.testing.assert_allclose(shorter["forecast"], result["forecast"][:5])


def test_a_longer_horizon_reads_the_forecasts_back(predict, series):
    result = predict(series[:500], horizon=30)
    assert result["forecast"].shape == (30, 2) and "quantiles" not in result  # the band covers 12 steps
    np.testing.assert_allclose(result["forecast"][:12], predict(series[:500])["forecast"], rtol=1e-6)
    then = predict(np.concatenate([series[:500], result["forecast"][:12]]))["forecast"]
    np.testing.assert_allclose(result["forecast"][12:24], then, rtol=1e-5)


def test_several_series_give_one_result_each(predict, series):
    results = predict([series[:300], series[:500]], horizon=3)
    assert [r["forecast"].shape for r in results] == [(3, 2), (3, 2)]
    np.testing.assert_allclose(results[1]["forecast"], predict(series[:500], horizon=3)["forecast"])


def test_bad_series_and_settings_are_errors_that_name_them(predict, series):
    with pytest.raises(ValueError, match="NaN"):
        predict(np.concatenate([series[:60], [[np.nan, 1.0]]]))
    with pytest.raises(ValueError, match="has 10 steps; the model needs at least 48"):
        predict(series[:10])
    with pytest.raises(ValueError, match="has 1 feature.s.; the model reads 2"):
        predict(series[:100, 0])
    with pytest.raises(ValueError, match="horizon must be a whole number >= 1"):
        predict(series[:100], horizon=0)
    with pytest.raises(TypeError, match="must be numbers"):
        predict("1, 2, 3")
