import subprocess
import sys

import pytest
from conftest import SCRIPTS


def translated(model: str, texts: list[str], **settings) -> list[dict]:
    from pipelines import pipeline

    return pipeline("translation", model=model, **settings)(texts)


@pytest.mark.slow
def test_predict_script_translates_arguments_and_stdin(trained_reverse_model):
    """What the script prints is the pipeline's output, line for line (blank lines kept)."""
    model = str(trained_reverse_model / "model")
    out = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"), "--model", model, "a b c"],
                         capture_output=True, text=True, check=True).stdout
    assert out == translated(model, ["a b c"])[0]["translation_text"] + "\n"
    out = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"), "--model", model, "--num-beams", "1"],
                         input="a b c\n\nk l m n\n", capture_output=True, text=True, check=True).stdout
    first, second = (r["translation_text"] for r in translated(model, ["a b c", "k l m n"], num_beams=1))
    assert out == f"{first}\n\n{second}\n"


def test_predict_mistakes_are_one_line(trained_reverse_model, tmp_path, run_script):
    model = str(trained_reverse_model / "model")
    cases = [(["--model", str(tmp_path / "nothing"), "a"], f"error: model directory not found: {tmp_path / 'nothing'}"),
             (["--model", model, "--num-beams", "0", "a"], "error: num_beams must be a whole number >= 1"),
             (["--model", model, "--batch-size", "0", "a"], "error: batch_size must be a whole number >= 1"),
             (["--model", model, "--input", str(tmp_path / "in.txt")], "error: input file not found"),
             (["--model", model, "--input", str(tmp_path / "latin1.txt")],
              f"error: {tmp_path / 'latin1.txt'}: line 2 is not UTF-8 text (byte 0xe9 at column 3)")]
    (tmp_path / "latin1.txt").write_bytes("a b\nc \u00e9 d\n".encode("latin-1"))
    for arguments, message in cases:
        status, out, err = run_script("predict", *arguments)
        assert status == 2 and out == "" and err.startswith(message) and err.count("\n") == 1, arguments


@pytest.mark.slow
def test_predict_reports_outputs_cut_at_the_length_limit(trained_reverse_model):
    model = str(trained_reverse_model / "model")
    result = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"), "--model", model, "--max-length", "3",
                             "a b c d e f", "k l"], capture_output=True, text=True, check=True)
    expected = translated(model, ["a b c d e f", "k l"], max_length=3)
    assert result.stdout == "".join(r["translation_text"] + "\n" for r in expected)
    cut = sum(bool(r.get("truncated")) for r in expected)
    assert cut >= 1 and f"{cut} of 2 translations stopped at the length limit" in result.stderr


def test_predict_samples_with_a_seed(trained_reverse_model, run_script):
    """--do-sample prints the pipeline's sampled outputs: the same for the same seed."""
    model = str(trained_reverse_model / "model")
    arguments = ["--model", model, "--num-beams", "1", "--do-sample", "--temperature", "4", "--seed", "5",
                 "a b c d e", "f g h"]
    status, out, err = run_script("predict", *arguments)
    assert status == 0, err
    expected = translated(model, ["a b c d e", "f g h"], num_beams=1, do_sample=True, temperature=4.0, seed=5)
    assert out == "".join(result["translation_text"] + "\n" for result in expected)
    assert run_script("predict", *arguments)[1] == out
    status, out, err = run_script("predict", "--model", model, "--do-sample", "--num-beams", "3", "a")
    assert status == 2 and err.startswith("error: do_sample draws one output per input: set num_beams=1")



def test_predict_continues_prompts_with_a_language_model(trained_counting_model, run_script):
    status, out, err = run_script("predict", "--model", str(trained_counting_model / "model"), "--max-new-tokens",
                                  "9", "eleven, twelve, thirteen,", "")
    assert status == 0, err
    first, second = out.split("\n\n")[:2]
    assert first == "eleven, twelve, thirteen, fourteen"  # the prompt and 9 new characters
    assert len(second) == 9  # an empty prompt: a text from nothing


def test_predict_runs_an_int8_model_and_refuses_int8_with_bf16(trained_reverse_model, run_script):
    model = str(trained_reverse_model / "model")
    status, out, _ = run_script("predict", "--model", model, "--quantize", "int8", "--num-beams", "1", "a b c d")
    assert status == 0 and out.strip() == "d c b a"
    status, out, err = run_script("predict", "--model", model, "--quantize", "int8", "--bf16", "a b")
    assert status == 2 and err.startswith("error: an int8 model")
