"""Forecaster: a series encoder (Elman, GRU or LSTM) read by a regression head, H steps at once.

The origin spec's example (Keras ``SimpleRNN(50)`` -> ``Dense(1)``, MSE) is this model with
``rnn_type: elman``, ``hidden_size: 50`` and ``horizon: 1``. Values are scaled per window
(``series.Scaler``, saved with the model), so the forecast is made in the series' own units.
A model directory holds ``config.json`` (the settings, the scaler, the feature names) and
``model.safetensors``, like every model here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seq2seq.config import Config, ConfigError
from seq2seq.encoders.series import SeriesEncoder
from seq2seq.model_files import load_weights, read_model_config, save_model_directory
from seq2seq.series import VALUE_COLUMN, Scaler, check_series

TASK = "forecasting"
COLUMNS = {"target": VALUE_COLUMN}  # the series' column(s); data.columns.target overrides


def check_forecasting_config(config: Config) -> None:
    """Settings a forecaster cannot use, said before any work starts."""
    spec = config.inputs.get("series")
    if list(config.inputs) != ["series"] or spec.modality != "series":
        raise ConfigError("inputs: the forecasting task reads one input, series (modality: series)")
    if spec.encoder.bidirectional:
        raise ConfigError("inputs.series.encoder.bidirectional: a forecaster reads its history forward only; "
                          "set it to false")
    fc = config.forecasting
    if fc.min_input_length > fc.input_length:
        raise ConfigError(f"forecasting.min_input_length={fc.min_input_length} exceeds input_length="
                          f"{fc.input_length}")
    if not 0 < config.data.valid_fraction < 0.5:
        raise ConfigError("data.valid_fraction must be in (0, 0.5): the share of the series held out")
    if config.training.eval_metric != "mase":
        raise ConfigError("training.eval_metric: a forecaster is chosen by validation MASE; write "
                          "eval_metric: mase")


class Forecaster(nn.Module):
    def __init__(self, *, num_features: int, horizon: int, hidden_size: int, rnn_type: str = "gru",
                 num_layers: int = 1, dropout: float = 0.0, scaler: Scaler | None = None,
                 config: dict[str, Any] | None = None):
        super().__init__()
        self.num_features, self.horizon = num_features, horizon
        self.encoder = SeriesEncoder(num_features=num_features, hidden_size=hidden_size, rnn_type=rnn_type,
                                     num_layers=num_layers, dropout=dropout)
        self.head = nn.Linear(self.encoder.output_size, horizon * num_features)
        self.scaler = scaler or Scaler("standard", [0.0] * num_features, [1.0] * num_features)
        self.config = config or {}

    def forward(self, history: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw histories (B, T, F), real steps first (mask (B, T)) -> the forecast scaled (B, H, F),
        and the origin (B, 1, F) it is measured from (``Scaler.inverse`` gives series units)."""
        origin = self.scaler.origin(history, mask.sum(dim=1))
        scaled = self.scaler.transform(history, origin) * mask.unsqueeze(-1)
        final = self.encoder(scaled, mask).final
        return self.head(final).view(-1, self.horizon, self.num_features), origin

    @torch.no_grad()
    def predict(self, history: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The forecast (B, H, F) in the series' units."""
        scaled, origin = self(history, mask)
        return self.scaler.inverse(scaled, origin)

    def save_pretrained(self, directory: str | Path, extra: dict[str, Any] | None = None) -> None:
        description = {**self.config, "task": TASK, "scaler": vars(self.scaler), **(extra or {}),
                       "inputs": {}, "source_vocab_size": 0, "target_vocab_size": 0}
        save_model_directory(self, description, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | torch.device = "cpu") -> Forecaster:
        config = read_model_config(directory)
        if config.get("task") != TASK:
            raise ValueError(f"{directory} holds a '{config.get('task')}' model, not a forecasting model")
        settings = config["model"]
        model = cls(num_features=settings["num_features"], horizon=settings["horizon"],
                    hidden_size=settings["hidden_size"], rnn_type=settings["rnn_type"],
                    num_layers=settings["num_layers"], scaler=Scaler(**config["scaler"]), config=config)
        load_weights(model, directory, config, device)
        return model.to(device).eval()


def pad_histories(histories: list[np.ndarray], input_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each history's last ``input_length`` steps, padded at the end: values (B, T, F), mask (B, T)."""
    kept = [h[-input_length:] for h in histories]
    longest, features = max(len(h) for h in kept), kept[0].shape[1]
    values = torch.zeros(len(kept), longest, features, dtype=torch.float32)
    mask = torch.zeros(len(kept), longest, dtype=torch.bool)
    for row, history in enumerate(kept):
        values[row, : len(history)] = torch.from_numpy(history.astype(np.float32))
        mask[row, : len(history)] = True
    return values, mask


def forecast(model: Forecaster, histories: list[Any], *, input_length: int, min_length: int = 1,
             batch_size: int = 256) -> np.ndarray:
    """Forecasts (B, H, F) from each raw history ((T,) or (T, F) numbers, its last ``input_length``
    steps read); a history shorter than ``min_length``, with NaNs or of the wrong width is an error."""
    checked = []
    for index, history in enumerate(histories):
        array = check_series(history, name=f"series {index}")
        if array.shape[1] != model.num_features:
            raise ValueError(f"series {index} has {array.shape[1]} feature(s); the model reads {model.num_features}")
        if len(array) < min_length:
            raise ValueError(f"series {index} has {len(array)} steps; the model needs at least {min_length}")
        checked.append(array)
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, len(checked), batch_size):
        values, mask = pad_histories(checked[start : start + batch_size], input_length)
        outputs.append(model.predict(values.to(device), mask.to(device)).double().cpu().numpy())
    return np.concatenate(outputs)
