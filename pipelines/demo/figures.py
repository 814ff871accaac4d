"""The demo's pictures: where the attention went, and forecasts. Each function returns a matplotlib
``Figure`` (the object-oriented API, no pyplot: tabs draw from the server's worker threads)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure


def attention_heatmap(weights: torch.Tensor, source_tokens: list[str], target_tokens: list[str],
                      title: str = "") -> Figure:
    """Attention weights (T, S) as a heat map: output tokens down, input tokens across."""
    figure = Figure(figsize=(max(4.0, 0.45 * len(source_tokens) + 1.5), max(2.5, 0.4 * len(target_tokens) + 1.2)))
    axes = figure.add_subplot()
    image = axes.imshow(weights.float().numpy(), cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(source_tokens)), source_tokens, rotation=90)
    axes.set_yticks(range(len(target_tokens)), target_tokens)
    axes.set(xlabel="input", ylabel="output")
    if title:
        axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    return figure


def frame_timeline(thumbnails: torch.Tensor, weights: torch.Tensor, times: list[float], title: str = "") -> Figure:
    """The sampled frames (N, 3, H, W) in a row, and under each the attention it got: ``weights``
    (rows, N), averaged over the rows (the label's tokens and its end). ``times`` label the frames."""
    count = thumbnails.size(0)
    mean = weights.float().mean(dim=0).numpy()
    figure = Figure(figsize=(max(5.0, 1.1 * count), 3.2))
    grid = figure.add_gridspec(2, count, height_ratios=[1, 1.3])
    for index in range(count):
        axes = figure.add_subplot(grid[0, index])
        axes.imshow(thumbnails[index].permute(1, 2, 0).numpy())
        axes.set_axis_off()
        axes.set_title(f"{times[index]:.2f} s", fontsize=8)
    bars = figure.add_subplot(grid[1, :])
    bars.bar(range(count), mean, color="tab:orange")
    bars.set_xlim(-0.5, count - 0.5)
    bars.set_xticks(range(count), [str(index + 1) for index in range(count)])
    bars.set(xlabel="sampled frame", ylabel="attention", ylim=(0, max(1e-6, float(mean.max())) * 1.15))
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def audio_attention(waveform: torch.Tensor, sampling_rate: int, weights: torch.Tensor,
                    tokens: list[str]) -> Figure:
    """The waveform over time, and under it the attention (T, frames) of each output token over the
    encoder's (subsampled) audio frames, on the same time axis."""
    seconds = waveform.numel() / sampling_rate
    figure = Figure(figsize=(8.0, 2.0 + 0.3 * len(tokens)))
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[1, max(1.0, 0.3 * len(tokens))])
    top.plot(np.arange(waveform.numel()) / sampling_rate, waveform.numpy(), linewidth=0.5, color="black")
    top.set(ylabel="signal")
    bottom.imshow(weights.float().numpy(), cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0,
                  extent=(0.0, seconds, len(tokens) - 0.5, -0.5), interpolation="nearest")
    bottom.set_yticks(range(len(tokens)), tokens)
    bottom.set(xlabel="time (s)", ylabel="output")
    figure.tight_layout()
    return figure


def forecast_figure(history: np.ndarray, result: dict, title: str = "") -> Figure:
    """The series given (its first feature), its forecast, and the 0.1-0.9 band where the model has one."""
    shown = history if history.ndim == 1 else history[:, 0]
    forecast = np.asarray(result["forecast"])
    forecast = forecast if forecast.ndim == 1 else forecast[:, 0]
    steps = np.arange(len(shown), len(shown) + len(forecast))
    figure = Figure(figsize=(8.0, 3.5))
    axes = figure.add_subplot()
    axes.plot(np.arange(len(shown)), shown, color="black", linewidth=1, label="series")
    axes.plot(steps, forecast, color="tab:blue", linewidth=1.5, label="forecast")
    quantiles = result.get("quantiles", {})
    low, high = quantiles.get("0.1"), quantiles.get("0.9")
    if low is not None and high is not None:
        low, high = (np.asarray(q) if np.asarray(q).ndim == 1 else np.asarray(q)[:, 0] for q in (low, high))
        axes.fill_between(steps, low, high, color="tab:blue", alpha=0.2, label="0.1-0.9")
    axes.set(xlabel="step", title=title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    return figure
