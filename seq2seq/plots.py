"""Pictures people would rather see than read: learning curves, attention maps, forecasts."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path


def _pyplot():
    """matplotlib's pyplot for files only (never a display), imported when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(metrics_path: str | Path, output_path: str | Path) -> Path | None:
    """Training loss and validation metrics from a metrics.jsonl, side by side."""
    metrics_path = Path(metrics_path)
    if not metrics_path.is_file():
        return None
    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    series: dict[str, tuple[list[int], list[float]]] = {}
    for record in records:
        for key, value in record.items():
            if key != "step" and key != "train/lr":
                steps, values = series.setdefault(key, ([], []))
                steps.append(record["step"])
                values.append(value)
    loss = series.get("train/loss")
    valid = {k: v for k, v in series.items() if k.startswith("valid/")}
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if loss:
        left.plot(*loss)
    left.set(title="training loss", xlabel="update")
    for key, (steps, values) in valid.items():
        right.plot(steps, values, marker="o", label=key.removeprefix("valid/"))
    right.set(title="validation", xlabel="update")
    if valid:
        right.legend()
    figure.tight_layout()
    figure.savefig(output_path, dpi=100)
    plt.close(figure)
    return Path(output_path)


def attention_figure(weights, source_pieces: list[str], target_pieces: list[str], title: str = ""):
    """Heat map of attention weights (T, S): target pieces down, source pieces across. A matplotlib
    ``Figure`` of the object-oriented API (no pyplot state: safe in a server's worker threads)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(4, 0.4 * len(source_pieces)), max(3, 0.4 * len(target_pieces))))
    axes = figure.add_subplot()
    axes.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(source_pieces)), source_pieces, rotation=90)
    axes.set_yticks(range(len(target_pieces)), target_pieces)
    if title:  # wrapped: a long question must not run off a narrow picture
        figure.suptitle(textwrap.fill(title, 36), fontsize=9)
    figure.tight_layout()
    return figure


def plot_attention(weights, source_pieces: list[str], target_pieces: list[str],
                   output_path: str | Path, title: str = "") -> Path:
    """``attention_figure`` saved to ``output_path``."""
    attention_figure(weights, source_pieces, target_pieces, title).savefig(output_path, dpi=100)
    return Path(output_path)


def plot_confusion_matrix(labels: list[str], counts: list[list[int]], output_path: str | Path,
                          title: str = "validation confusion matrix") -> Path:
    """Rows are the true classes, columns the predicted ones (the last column: any other output)."""
    columns = [*labels, "(other)"]
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(1.0 + 0.7 * len(columns), 1.0 + 0.6 * len(labels)))
    axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set(xlabel="predicted", ylabel="true", title=title)
    peak = max((max(row) for row in counts), default=0)
    for row, values in enumerate(counts):
        for column, value in enumerate(values):
            if value:
                axes.text(column, row, str(value), ha="center", va="center",
                          color="white" if value > peak / 2 else "black")
    figure.tight_layout()
    figure.savefig(output_path, dpi=100)
    plt.close(figure)
    return Path(output_path)


def forecast_figure(shown, origin: int, result: dict, title: str = ""):
    """The series ``shown`` (its first feature), a forecast ``result`` (the forecasting pipeline's:
    forecast and quantiles) drawn from position ``origin`` on, and its 0.1-0.9 band; a ``Figure``
    (object-oriented API, as ``attention_figure``)."""
    import numpy as np
    from matplotlib.figure import Figure

    forecast = np.asarray(result["forecast"])
    forecast = forecast if forecast.ndim == 1 else forecast[:, 0]
    steps = np.arange(origin, origin + len(forecast))
    figure = Figure(figsize=(8, 3.5))
    axes = figure.add_subplot()
    axes.plot(np.arange(len(shown)), shown, color="black", linewidth=1, label="series")
    axes.plot(steps, forecast, color="tab:blue", linewidth=1.5, label="forecast")
    quantiles = result.get("quantiles", {})
    if "0.1" in quantiles and "0.9" in quantiles:
        low, high = (np.asarray(quantiles[q]) for q in ("0.1", "0.9"))
        low, high = (band if band.ndim == 1 else band[:, 0] for band in (low, high))
        axes.fill_between(steps, low, high, color="tab:blue", alpha=0.2, label="0.1-0.9 band")
    axes.axvline(origin - 0.5, color="grey", linestyle=":", linewidth=1)
    axes.legend(loc="upper left", fontsize=8)
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_forecast(shown, origin: int, result: dict, output_path: str | Path, title: str = "") -> Path:
    """``forecast_figure`` saved to ``output_path``."""
    forecast_figure(shown, origin, result, title).savefig(output_path, dpi=100)
    return Path(output_path)
