import subprocess
import sys

import pytest
import yaml
from conftest import SCRIPTS, tiny_config

from seq2seq.config import config_to_dict


def write_config(tmp_path, **sections):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(tiny_config(str(tmp_path / "run"), **sections))))
    return path


def test_unknown_config_key_is_one_line_with_a_suggestion_and_status_2(tmp_path):
    """A real process: what the shell sees."""
    config = tmp_path / "bad.yaml"
    config.write_text("training:\n  max_epoch: 3\n")
    result = subprocess.run([sys.executable, str(SCRIPTS / "train.py"), "--config", str(config)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown config key 'training.max_epoch' (did you mean 'max_epochs'?)")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(("arguments", "message"), [
    (["--config", "missing.yaml"], "error: config file not found: missing.yaml\n"),
    (["training.optimizer=adma"], "error: training.optimizer: 'adma' is not one of adam, adamw, rmsprop "
                                  "(did you mean 'adam'?)\n"),
    (["training.batch_size=0"], "error: training.batch_size: must be at least 1, got 0\n"),
    (["generation.num_beams=0"], "error: generation.num_beams: must be at least 1, got 0\n"),
    (["training.eval_metric=blue"], "(did you mean 'bleu'?)"),
    (["--resume", "--overwrite"], "choose one"),
])
def test_configuration_mistakes_are_one_line(tmp_path, run_script, arguments, message):
    config = write_config(tmp_path)
    arguments = arguments if arguments[0] == "--config" else ["--config", str(config), *arguments]
    status, out, err = run_script("train", *arguments)
    assert status == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_used_run_directory_is_refused_in_one_line(tmp_path, run_script):
    config = write_config(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text('{"step": 2000}\n')
    status, _, err = run_script("train", "--config", str(config))
    assert status == 2
    assert err == (f"error: {tmp_path / 'run'} already holds a training run (metrics.jsonl); pass --resume to "
                   "continue it, or --overwrite to delete it and start again (or set training.output_dir)\n")
    with pytest.raises(Exception, match="already holds a training run"):
        run_script("train", "--config", str(config), "--debug")  # --debug: the error itself, traceback and all


@pytest.mark.parametrize(("overrides", "message"), [
    (["inputs.series.encoder.bidirectional=true"], "a forecaster reads its history forward only"),
    (["forecasting.min_input_length=100"], "forecasting.min_input_length=100 exceeds input_length=48"),
    (["data.columns={target: missing}"], "no column 'missing'"),
])
def test_forecasting_mistakes_are_one_line(tmp_path, run_script, overrides, message):
    forecasting = SCRIPTS.parent / "configs" / "forecasting.yaml"
    status, out, err = run_script("train", "--config", str(forecasting), f"training.output_dir={tmp_path / 'run'}",
                                  *overrides)
    assert status == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run" / "model").exists()


def test_a_language_model_config_with_an_input_is_one_line(tmp_path, run_script):
    config = SCRIPTS.parent / "configs" / "language_modeling.yaml"
    status, out, err = run_script("train", "--config", str(config), f"training.output_dir={tmp_path / 'run'}",
                                  "inputs={source: {modality: text}}")
    assert status == 2 and "trains the decoder alone" in err and err.count("\n") == 1
