"""Forecasting tab: a series pasted as numbers, its forecast drawn after it (with the model's 0.1-0.9
band where it has one) and listed."""

from __future__ import annotations

import re

import numpy as np
from matplotlib.figure import Figure

from pipelines.demo.common import MAX_SERIES_VALUES, shows_errors
from seq2seq.plots import forecast_figure

MAX_HORIZON_FACTOR = 10  # times the model's own horizon; beyond it forecasts read mostly their own output


def parse_series(text: str | None) -> np.ndarray:
    """Numbers separated by commas, spaces or new lines -> (T,); with several numbers on each line
    and a line per step -> (T, F). A ValueError names the first value that is not a number."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    rows = [[value for value in re.split(r"[,;\s]+", line.strip()) if value] for line in lines]
    if not rows:
        raise ValueError("the series is empty: paste numbers separated by commas, spaces or new lines")
    values = [value for row in rows for value in row]
    if len(values) > MAX_SERIES_VALUES:
        raise ValueError(f"the series has {len(values):,} values; this demo takes at most {MAX_SERIES_VALUES:,}")
    try:
        numbers = [float(value) for value in values]
    except ValueError:
        bad = next(value for value in values if not _is_number(value))
        raise ValueError(f"the series holds {bad!r}, which is not a number") from None
    widths = {len(row) for row in rows}
    if len(rows) > 1 and len(widths) == 1 and widths != {1}:
        return np.asarray(numbers).reshape(len(rows), -1)
    return np.asarray(numbers)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def forecast(pipe, text: str | None, horizon: float) -> tuple[Figure, str]:
    """(the series and its forecast drawn, the forecast as text, a step a line)."""
    series = parse_series(text)
    result = pipe(series, horizon=int(horizon))
    values = np.asarray(result["forecast"])
    listed = "\n".join(", ".join(f"{v:.4g}" for v in np.atleast_1d(row)) for row in values)
    shown = series if series.ndim == 1 else series[:, 0]
    return forecast_figure(shown, len(shown), result, title=f"forecast of {int(horizon)} steps"), listed


def example_series(input_length: int, features: int) -> str:
    """Sines with a period of 24 steps, twice the model's input length (at least 48 steps), each
    feature shifted in phase: the text the tab starts with."""
    steps = np.arange(max(2 * input_length, 48))
    values = np.sin(2 * np.pi * steps[:, None] / 24 + np.arange(features)[None, :])
    if features == 1:
        return ", ".join(f"{value:.3f}" for value in values[:, 0])
    return "\n".join(", ".join(f"{value:.3f}" for value in row) for row in values)


def build(gr, pipe, prefix: str) -> None:
    gr.Markdown(f"Paste a series: numbers separated by commas or spaces (a line per step for several features), "
                f"at least {pipe.minimum} steps and at most {MAX_SERIES_VALUES:,} values. The model forecasts "
                f"{pipe.horizon} steps at a time; longer forecasts read their own output.")
    features = pipe.model.num_features
    names = pipe.model.config.get("features") or []
    if features > 1:
        gr.Markdown(f"This model reads {features} features a step ({', '.join(map(str, names))}): a line per step.")
    with gr.Row():
        with gr.Column():
            series = gr.Textbox(label="Series", lines=6, value=example_series(pipe.input_length, features),
                                elem_id=f"{prefix}-input")
            horizon = gr.Slider(1, MAX_HORIZON_FACTOR * pipe.horizon, step=1, value=pipe.horizon,
                                label="Steps to forecast", elem_id=f"{prefix}-horizon")
            button = gr.Button("Forecast", variant="primary", elem_id=f"{prefix}-run")
        with gr.Column():
            listed = gr.Textbox(label="Forecast", lines=8, interactive=False, elem_id=f"{prefix}-output")
    plot = gr.Plot(label="Series and forecast", elem_id=f"{prefix}-plot")

    def run(text, steps):
        return forecast(pipe, text, steps)

    button.click(shows_errors(run), [series, horizon], [plot, listed])
