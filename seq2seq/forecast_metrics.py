"""Forecast accuracy (MAE, RMSE, MASE, sMAPE) and the baselines a forecaster must beat.

Every method forecasts from the same origins (``rolling_origins``): each step t of the held-out
end of the series, from all values before t, for the next ``horizon`` steps. Baselines: naive
(the last value, repeated), seasonal naive (the value one season before each step), and, with
the ``forecasting`` extra, statsmodels' exponential smoothing (additive trend and season) and
(seasonal) ARIMA, each refitted at every origin on the values before it.
"""

from __future__ import annotations

import warnings

import numpy as np

QUANTILES = (0.1, 0.5, 0.9)


def rolling_origins(length: int, start: int, horizon: int) -> list[int]:
    """The origins t in [start, length - horizon]: each forecasts steps t .. t + horizon - 1."""
    if length - horizon < start:
        raise ValueError(f"the held-out part ({length - start} steps) is shorter than the horizon ({horizon})")
    return list(range(start, length - horizon + 1))


def accuracy(actual: np.ndarray, predicted: np.ndarray, training: np.ndarray, season: int) -> dict[str, float]:
    """actual and predicted (O, H, F), training (N, F): MAE, RMSE, sMAPE (in percent) and MASE,
    the MAE over the in-sample MAE of the seasonal naive forecast (Hyndman & Koehler, 2006)."""
    error = predicted - actual
    scale = np.abs(training[season:] - training[:-season]).mean() if len(training) > season else np.nan
    denominator = np.abs(actual) + np.abs(predicted)
    smape = np.where(denominator > 0, 2 * np.abs(error) / np.where(denominator > 0, denominator, 1), 0.0)
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean())),
            "mase": float(np.abs(error).mean() / scale), "smape": float(100 * smape.mean())}


def naive(series: np.ndarray, origins: list[int], horizon: int) -> np.ndarray:
    return np.stack([np.repeat(series[t - 1 : t], horizon, axis=0) for t in origins])


def seasonal_naive(series: np.ndarray, origins: list[int], horizon: int, season: int) -> np.ndarray:
    """Step t + h is forecast by the last value one season before it: series[t - m + (h mod m)]."""
    return np.stack([np.stack([series[t - season + (h % season)] for h in range(horizon)]) for t in origins])


def statsmodels_forecasts(series: np.ndarray, origins: list[int], horizon: int, season: int, *,
                          arima_order: tuple[int, int, int], seasonal_order: tuple[int, int, int]
                          ) -> dict[str, np.ndarray]:
    """Exponential smoothing and (seasonal) ARIMA, refitted at each origin, for each feature."""
    try:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
        from statsmodels.tsa.statespace.sarimax import SARIMAX
    except ImportError:
        raise ImportError("the statsmodels baselines need the forecasting extra: pip install -e '.[forecasting]'") \
            from None
    seasonal = season > 1
    results = {"exponential_smoothing": [], "arima": []}
    for t in origins:
        ets, arima = [], []
        for feature in range(series.shape[1]):
            history = series[:t, feature]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence chatter, once per origin
                ets_fit = ExponentialSmoothing(history, trend="add", damped_trend=True,
                                               seasonal="add" if seasonal else None,
                                               seasonal_periods=season if seasonal else None).fit()
                ets.append(ets_fit.forecast(horizon))
                arima_fit = SARIMAX(history, order=arima_order,
                                    seasonal_order=(*seasonal_order, season) if seasonal else (0, 0, 0, 0)
                                    ).fit(disp=False)
                arima.append(arima_fit.forecast(horizon))
        results["exponential_smoothing"].append(np.stack(ets, axis=1))
        results["arima"].append(np.stack(arima, axis=1))
    return {name: np.stack(values) for name, values in results.items()}


def residual_quantiles(actual: np.ndarray, predicted: np.ndarray) -> dict[str, list]:
    """Quantiles (per horizon step and feature) of the validation errors: added to a forecast,
    an empirical prediction band (split conformal prediction)."""
    errors = actual - predicted  # (O, H, F)
    return {str(q): np.quantile(errors, q, axis=0).tolist() for q in QUANTILES}
