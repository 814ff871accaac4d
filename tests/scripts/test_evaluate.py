import json

import pytest
import yaml
from conftest import last_trainer_state, tiny_config

from seq2seq.config import config_to_dict
from seq2seq.sources import load_raw_dataset


@pytest.fixture
def reverse_config(tmp_path):
    path = tmp_path / "reverse.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(tiny_config(str(tmp_path / "unused")))))
    return path


@pytest.mark.slow
def test_evaluate_scores_a_split_with_each_beam_size(trained_reverse_model, reverse_config, tmp_path, run_script):
    output = tmp_path / "hypotheses.txt"
    status, out, err = run_script("evaluate", "--model", str(trained_reverse_model / "model"), "--config",
                                  str(reverse_config), "--split", "test", "--num-beams", "1,3", "--output", str(output),
                                  "training.metrics=[exact_match, chrf]")
    assert status == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["num_beams"] for line in lines] == [1, 3]
    for line in lines:
        assert line["split"] == "test" and line["examples"] == 100 and line["hit_length_limit"] == 0
        # The model reverses every validation example; fresh ones from the same generator nearly all.
        assert line["exact_match"] >= 90 and line["chrf"] >= 90 and "bleu" not in line
    # The metrics are those of the hypotheses written (the last beam size's), against the split's references.
    references = list(load_raw_dataset(tiny_config("unused").data)["test"]["target"])
    hypotheses = output.read_text().splitlines()
    assert len(hypotheses) == 100
    assert lines[-1]["exact_match"] == sum(h == r for h, r in zip(hypotheses, references, strict=True))


@pytest.mark.slow
def test_evaluate_on_the_validation_split_repeats_what_training_measured(trained_reverse_model, reverse_config,
                                                                         run_script):
    """Greedy search, the training run's own evaluation: the same scores as logged for the best model."""
    status, out, err = run_script("evaluate", "--model", str(trained_reverse_model / "model"), "--config",
                                  str(reverse_config), "--num-beams", "1")
    assert status == 0, err
    [line] = [json.loads(row) for row in out.splitlines()]
    logged = [json.loads(row) for row in (trained_reverse_model / "metrics.jsonl").read_text().splitlines()]
    best_step = last_trainer_state(trained_reverse_model)["best_step"]
    [best] = [r for r in logged if "valid/exact_match" in r and r["step"] == best_step]
    assert {name: line[name] for name in ("bleu", "chrf", "exact_match")} == {
        name: round(best[f"valid/{name}"], 2) for name in ("bleu", "chrf", "exact_match")}


@pytest.mark.slow
def test_evaluate_counts_outputs_cut_at_the_length_limit(trained_reverse_model, reverse_config, run_script):
    status, out, err = run_script("evaluate", "--model", str(trained_reverse_model / "model"), "--config",
                                  str(reverse_config), "--split", "test", "--num-beams", "1",
                                  "generation.max_length=2")
    assert status == 0, err
    [line] = [json.loads(row) for row in out.splitlines()]
    assert line["hit_length_limit"] == 100  # every reversed sequence is longer than 2 tokens


@pytest.mark.parametrize(("arguments", "message"), [
    (["--num-beams", "0"], "--num-beams takes comma-separated whole numbers >= 1"),
    (["--num-beams", "1,x"], "--num-beams takes comma-separated whole numbers >= 1"),
    (["--split", "dev"], "split 'dev' not in dataset (available: test, train, validation)"),
])
def test_evaluate_user_errors_are_one_line(trained_reverse_model, reverse_config, run_script, arguments, message):
    status, out, err = run_script("evaluate", "--model", str(trained_reverse_model / "model"), "--config",
                                  str(reverse_config), *arguments)
    assert status == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_evaluate_scores_a_language_model_by_likelihood(trained_counting_model, run_script):
    """The validation split's likelihood, as training measured it for the best model."""
    from conftest import LANGUAGE_MODELING_CONFIG, QUICK_LANGUAGE_MODELING

    status, out, err = run_script("evaluate", "--model", str(trained_counting_model / "model"), "--config",
                                  str(LANGUAGE_MODELING_CONFIG), *QUICK_LANGUAGE_MODELING)
    assert status == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["split"] == "validation" and result["texts"] == 100
    logged = [json.loads(line) for line in (trained_counting_model / "metrics.jsonl").read_text().splitlines()]
    best = min(entry["valid/bits_per_character"] for entry in logged if "valid/bits_per_character" in entry)
    assert result["bits_per_character"] == pytest.approx(best, abs=1e-4)


def test_evaluate_compares_a_forecaster_with_the_baselines_and_plots_it(trained_forecaster, tmp_path, run_script):
    from conftest import FORECASTING_CONFIG, QUICK_FORECASTING

    _, run_dir = trained_forecaster
    plot = tmp_path / "forecast.png"
    status, out, err = run_script("evaluate", "--model", str(run_dir / "model"), "--config", str(FORECASTING_CONFIG),
                                  "--no-baselines", "--plot", str(plot), *QUICK_FORECASTING)
    assert status == 0, err
    lines = {line["method"]: line for line in map(json.loads, out.splitlines())}
    assert set(lines) == {"model", "naive", "seasonal_naive"}
    assert lines["model"]["mase"] < lines["seasonal_naive"]["mase"] and lines["model"]["origins"] == 69
    assert plot.stat().st_size > 10_000
