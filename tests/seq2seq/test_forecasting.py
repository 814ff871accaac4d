"""The forecaster: padding never changes a forecast, save/load round-trips, training beats naive."""

from pathlib import Path

import numpy as np
import pytest
import torch

from seq2seq.config import load_config
from seq2seq.forecast_training import evaluate_forecaster, load_series, train_forecaster, truncate
from seq2seq.forecasting import Forecaster, forecast, pad_histories
from seq2seq.series import Scaler

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "forecasting.yaml"


def make_forecaster(rnn_type: str = "gru") -> Forecaster:
    torch.manual_seed(0)
    scaler = Scaler("relative", [0.0, 0.0], [0.5, 2.0])
    return Forecaster(num_features=2, horizon=3, hidden_size=16, rnn_type=rnn_type, scaler=scaler,
                      config={"model": {"num_features": 2, "horizon": 3, "hidden_size": 16, "rnn_type": rnn_type,
                                        "num_layers": 1}}).eval()


@pytest.mark.parametrize("rnn_type", ["elman", "gru", "lstm"])
def test_a_history_forecasts_the_same_alone_and_padded_in_a_batch(rnn_type):
    model = make_forecaster(rnn_type)
    rng = np.random.default_rng(0)
    histories = [rng.normal(size=(length, 2)) for length in (9, 4, 12)]
    batched = forecast(model, histories, input_length=10)
    assert batched.shape == (3, 3, 2)
    for row, history in enumerate(histories):
        np.testing.assert_allclose(forecast(model, [history], input_length=10)[0], batched[row], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(forecast(model, [histories[2][-10:]], input_length=10)[0], batched[2], atol=1e-6)


def test_truncated_training_windows_keep_their_most_recent_steps_first():
    history = torch.arange(12, dtype=torch.float32).view(2, 6, 1)
    values, mask = truncate(history, torch.tensor([2, 6]))
    assert values[0, :, 0].tolist() == [4, 5, 0, 0, 0, 0] and mask[0].tolist() == [True, True] + [False] * 4
    assert torch.equal(values[1], history[1])
    padded, padded_mask = pad_histories([np.ones((3, 1)), np.ones((5, 1))], input_length=4)
    assert padded.shape == (2, 4, 1) and padded_mask.sum(dim=1).tolist() == [3, 4]


def test_a_forecaster_round_trips_through_its_directory(tmp_path):
    model = make_forecaster("lstm")
    model.save_pretrained(tmp_path / "model")
    loaded = Forecaster.from_pretrained(tmp_path / "model")
    history = [np.random.default_rng(1).normal(size=(8, 2))]
    np.testing.assert_array_equal(forecast(model, history, input_length=8), forecast(loaded, history, input_length=8))
    assert vars(loaded.scaler) == vars(model.scaler)


def test_bad_histories_are_errors_that_name_them():
    model = make_forecaster()
    with pytest.raises(ValueError, match="series 1 has 1 feature.s.; the model reads 2"):
        forecast(model, [np.zeros((5, 2)), np.zeros(5)], input_length=5)
    with pytest.raises(ValueError, match="series 0 has 2 steps; the model needs at least 4"):
        forecast(model, [np.zeros((2, 2))], input_length=5, min_length=4)


def test_training_on_the_generated_sines_beats_the_naive_forecasts(trained_forecaster):
    """Seasonal sines with a trend: the last value (naive) misses the season, the value a season
    ago (seasonal naive) misses the trend and the second feature's period of 30; the model sees both."""
    config, directory = trained_forecaster
    results = evaluate_forecaster(Forecaster.from_pretrained(directory / "model"), load_series(config), config,
                                  baselines=False)
    assert results["model"]["origins"] == 80 - 12 + 1
    assert results["model"]["mase"] < 0.8 * results["seasonal_naive"]["mase"]
    assert results["model"]["mase"] < 0.5 * results["naive"]["mase"]


def test_the_origin_specs_elman_example_trains_on_variable_length_windows(tmp_path):
    """configs/forecast_seed_example.yaml's model (Elman RNN, 50 units, one value; MSE, Adam),
    here on the generated sines, reading histories of 5 to 30 steps."""
    seed_example = CONFIG.parent / "forecast_seed_example.yaml"
    config = load_config(seed_example, [f"training.output_dir={tmp_path}", "data.kind=generated", "data.path=sines",
                                        "data.generated_sizes={train: 400}", "data.columns={target: value}",
                                        "forecasting.season=12", "training.max_epochs=8"])
    train_forecaster(config)
    model = Forecaster.from_pretrained(tmp_path / "model")
    assert model.encoder.rnn.mode == "RNN_TANH" and model.encoder.rnn.hidden_size == 50
    assert model.head.out_features == 1
    series = load_series(config).series
    short, long = forecast(model, [series[:5], series[:30]], input_length=30, min_length=5)
    assert short.shape == long.shape == (1, 1)
