"""The demo's own pictures: attention over video frames and over audio. Each function returns a
matplotlib ``Figure`` (the object-oriented API, no pyplot: tabs draw from the server's worker
threads). Attention heat maps and forecasts are ``seq2seq.plots``' (``attention_figure``,
``forecast_figure``), the same pictures the scripts save."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure


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
