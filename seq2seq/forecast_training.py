"""Training a forecaster: the series, its windows, and a short Accelerate loop.

The end of the series (``data.valid_fraction``) is held out for ``evaluate.py`` and never seen
here. Of the rest, the windows whose future lies in its last ``valid_fraction`` validate (they
pick the best epoch and stop training early), and the windows before them train. Training
histories have random lengths from ``min_input_length`` to ``input_length`` when asked (the
origin spec's variable-length sequences), packed in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from torch.nn import functional as F
from tqdm.auto import tqdm

from seq2seq.columns import resolve_columns
from seq2seq.config import Config, config_to_dict
from seq2seq.experiment import make_accelerator
from seq2seq.forecast_metrics import (
    accuracy,
    naive,
    residual_quantiles,
    rolling_origins,
    seasonal_naive,
    statsmodels_forecasts,
)
from seq2seq.forecasting import COLUMNS, Forecaster, check_forecasting_config, forecast
from seq2seq.optimization import build_optimizer
from seq2seq.run import MetricsLog
from seq2seq.run_directory import check_new_run, clear_run_files
from seq2seq.series import Scaler, series_values, windows
from seq2seq.sources import load_raw_dataset


@dataclass
class SeriesSplit:
    series: np.ndarray  # (N, F), the whole series
    train_end: int  # steps before it train and validate; the rest is held out for evaluation
    valid_start: int  # training windows end before it; validation windows' futures start at or after it
    names: list[str]  # the feature columns


def load_series(config: Config) -> SeriesSplit:
    """The series a config names, and where its parts begin."""
    dc = config.data
    raw = load_raw_dataset(dc)
    if dc.train_split not in raw:
        raise KeyError(f"split '{dc.train_split}' not in dataset (available: {', '.join(raw)})")
    columns = resolve_columns(COLUMNS, dc.columns, "forecasting")["target"]
    series = series_values(raw[dc.train_split], columns)
    train_end = int(len(series) * (1 - dc.valid_fraction))
    valid_start = int(train_end * (1 - dc.valid_fraction))
    return SeriesSplit(series, train_end, valid_start, [name.strip() for name in columns.split(",")])


def build_forecaster(config: Config, num_features: int, scaler: Scaler) -> Forecaster:
    """The only place that reads the forecaster's settings: inputs.series.encoder and forecasting."""
    encoder, fc = config.inputs["series"].encoder, config.forecasting
    settings = {"num_features": num_features, "horizon": fc.horizon, "hidden_size": encoder.hidden_size,
                "rnn_type": encoder.rnn_type, "num_layers": encoder.num_layers}
    return Forecaster(**settings, dropout=encoder.dropout, scaler=scaler,
                      config={"model": settings, "forecasting": config_to_dict(fc)})


def truncate(history: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep each window's last ``lengths`` steps, moved to the front: values (B, T, F), mask (B, T)."""
    steps = history.size(1)
    positions = torch.arange(steps).unsqueeze(0)
    source = (positions + (steps - lengths).unsqueeze(1)).clamp(max=steps - 1)
    values = history.gather(1, source.unsqueeze(-1).expand(-1, -1, history.size(-1)))
    mask = positions < lengths.unsqueeze(1)
    return values * mask.unsqueeze(-1), mask


def train_one_epoch(model, optimizer, accelerator, history, future, *, config: Config, generator) -> float:
    """One pass over the training windows in a seeded order; the mean training MSE (scaled)."""
    fc, tc = config.forecasting, config.training
    model.train()
    order = torch.randperm(len(history), generator=generator)
    total, count = 0.0, 0
    for start in range(0, len(order), tc.batch_size):
        rows = order[start : start + tc.batch_size]
        if len(rows) < accelerator.num_processes:  # (the same on every process) a share for each, or none
            continue
        shortest = fc.min_input_length or fc.input_length
        lengths = torch.randint(shortest, fc.input_length + 1, (len(rows),), generator=generator)
        # Every process draws the same rows and lengths (one seed), then trains on its share.
        share = slice(accelerator.process_index, None, accelerator.num_processes)
        rows, lengths = rows[share], lengths[share]
        values, mask = (t.to(accelerator.device) for t in truncate(history[rows], lengths))
        predicted, origin = model(values, mask)
        target = accelerator.unwrap_model(model).scaler.transform(future[rows].to(accelerator.device), origin)
        loss = F.mse_loss(predicted, target)
        accelerator.backward(loss)
        if tc.clip_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), tc.clip_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        total, count = total + loss.item() * len(rows), count + len(rows)
    return total / max(count, 1)


def validate(model: Forecaster, split: SeriesSplit, config: Config) -> tuple[dict[str, float], dict[str, list]]:
    """Accuracy on the validation origins (in the series' units), and the errors' quantiles."""
    fc = config.forecasting
    model.eval()  # no dropout (train_one_epoch turns it back on)
    origins = rolling_origins(split.train_end, split.valid_start, fc.horizon)
    predicted = forecast(model, [split.series[:t] for t in origins], input_length=fc.input_length)
    actual = np.stack([split.series[t : t + fc.horizon] for t in origins])
    return (accuracy(actual, predicted, split.series[: split.valid_start], fc.season),
            residual_quantiles(actual, predicted))


def train_forecaster(config: Config, *, overwrite: bool = False) -> Path:
    """Train as ``config`` says; the best model by validation MASE goes to ``output_dir/model``."""
    check_forecasting_config(config)
    tc, fc = config.training, config.forecasting
    run_dir = Path(tc.output_dir)
    check_new_run(run_dir, overwrite=overwrite)
    accelerator = make_accelerator(tc, run_dir)
    set_seed(tc.seed)
    if accelerator.is_main_process:
        if overwrite:
            clear_run_files(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    split = load_series(config)
    train_part = split.series[: split.valid_start]
    history, future = (torch.from_numpy(a.astype(np.float32)) for a in
                       windows(train_part, fc.input_length, fc.horizon, stride=fc.stride))
    model = build_forecaster(config, split.series.shape[1], Scaler.fit(train_part, fc.scaling))
    optimizer = build_optimizer(model, tc)
    model, optimizer = accelerator.prepare(model, optimizer)
    log, generator = MetricsLog(accelerator, run_dir / "metrics.jsonl"), torch.Generator().manual_seed(tc.seed)
    best, waited = None, 0
    epochs = tqdm(range(tc.max_epochs), desc="training", disable=not accelerator.is_main_process)
    for epoch in epochs:
        loss = train_one_epoch(model, optimizer, accelerator, history, future, config=config, generator=generator)
        metrics, quantiles = validate(accelerator.unwrap_model(model), split, config)
        log(epoch + 1, **{"train/mse": loss}, **{f"valid/{k}": v for k, v in metrics.items()})
        epochs.set_postfix(mse=f"{loss:.4f}", valid_mase=f"{metrics['mase']:.3f}")
        if best is None or metrics["mase"] < best:
            best, waited = metrics["mase"], 0
            if accelerator.is_main_process:
                accelerator.unwrap_model(model).save_pretrained(run_dir / "model", extra={
                    "residual_quantiles": quantiles, "features": split.names,
                    "validation": {"epoch": epoch + 1, **metrics}})
        else:
            waited += 1
            if tc.early_stopping_patience and waited >= tc.early_stopping_patience:
                break
    accelerator.print(f"best validation MASE {best:.4f}; model in {run_dir / 'model'}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return run_dir


def evaluate_forecaster(model: Forecaster, split: SeriesSplit, config: Config, *, baselines: bool = True,
                        arima_order: tuple[int, int, int] = (2, 1, 1),
                        seasonal_order: tuple[int, int, int] = (0, 1, 1)) -> dict[str, dict[str, float]]:
    """Accuracy of the model and the baselines on the held-out end of the series (every origin
    there, ``forecast_metrics.rolling_origins``), MASE scaled on the values before it."""
    fc, series = config.forecasting, split.series
    origins = rolling_origins(len(series), split.train_end, fc.horizon)
    actual = np.stack([series[t : t + fc.horizon] for t in origins])
    forecasts = {"model": forecast(model, [series[:t] for t in origins], input_length=fc.input_length),
                 "naive": naive(series, origins, fc.horizon),
                 "seasonal_naive": seasonal_naive(series, origins, fc.horizon, fc.season)}
    if baselines:
        forecasts |= statsmodels_forecasts(series, origins, fc.horizon, fc.season, arima_order=arima_order,
                                           seasonal_order=seasonal_order)
    training = series[: split.train_end]
    return {name: {"origins": len(origins), **accuracy(actual, predicted, training, fc.season)}
            for name, predicted in forecasts.items()}
