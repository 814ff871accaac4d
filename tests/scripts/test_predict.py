import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.slow
def test_predict_script_translates_arguments_and_stdin(trained_reverse_model):
    model = str(trained_reverse_model / "model")
    out = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"), "--model", model, "a b c"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "c b a\n"
    out = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"), "--model", model, "--num-beams", "1"],
                         input="a b c\n\nk l m n\n", capture_output=True, text=True, check=True).stdout
    assert out == "c b a\n\nn m l k\n"


def test_train_script_reports_unknown_config_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("training:\n  epochs: 3\n")
    result = subprocess.run([sys.executable, str(SCRIPTS / "train.py"), "--config", str(config)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "unknown config key 'training.epochs'" in result.stderr
