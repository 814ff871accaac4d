import subprocess
import sys

import pytest
from conftest import SCRIPTS


@pytest.mark.slow
def test_predict_script_translates_arguments_and_stdin(trained_reverse_model):
    model = str(trained_reverse_model / "model")
    out = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"), "--model", model, "a b c"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "c b a\n"
    out = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"), "--model", model, "--num-beams", "1"],
                         input="a b c\n\nk l m n\n", capture_output=True, text=True, check=True).stdout
    assert out == "c b a\n\nn m l k\n"


def test_predict_mistakes_are_one_line(trained_reverse_model, tmp_path, run_script):
    model = str(trained_reverse_model / "model")
    cases = [(["--model", str(tmp_path / "nothing"), "a"], f"error: model directory not found: {tmp_path / 'nothing'}"),
             (["--model", model, "--num-beams", "0", "a"], "error: num_beams must be a whole number >= 1"),
             (["--model", model, "--batch-size", "0", "a"], "error: batch_size must be a whole number >= 1"),
             (["--model", model, "--input", str(tmp_path / "in.txt")], "error: input file not found")]
    for arguments, message in cases:
        status, out, err = run_script("predict", *arguments)
        assert status == 2 and out == "" and err.startswith(message) and err.count("\n") == 1, arguments


@pytest.mark.slow
def test_predict_reports_outputs_cut_at_the_length_limit(trained_reverse_model):
    model = str(trained_reverse_model / "model")
    result = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"), "--model", model, "--max-length", "3",
                             "a b c d e f", "k l"], capture_output=True, text=True, check=True)
    assert result.stdout == "f e d\nl k\n"
    assert "1 of 2 translations stopped at the length limit" in result.stderr
