"""The README's first commands, run as a new user runs them (from the repository root).

Each test reads its command line out of the README, so a command the README shows is one a test ran.
Only the run directory is redirected to a temporary folder (and, for the two-process launch, the
run is shortened); every other setting is the shipped config's, time limit included.
"""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from seq2seq.synthetic import english_number, german_number

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def readme_commands(start: str) -> list[list[str]]:
    """The README line that starts with ``start``, split into its ``&&``-joined commands."""
    lines = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith(start)]
    assert lines, f"the README has no line starting with {start!r}"
    return [shlex.split(command) for command in lines[0].split(" && ")]


def run(command: list[str], timeout: int = 600) -> str:
    if command[:2] == ["accelerate", "launch"]:  # the launcher of this interpreter's environment
        command = [sys.executable, "-m", "accelerate.commands.launch", *command[2:]]
    else:
        assert command[0] == "python", command
        command = [sys.executable, *command[1:]]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="session")
def quickstart_model(tmp_path_factory) -> tuple[Path, str]:
    """The Quickstart's training command (the default config, to its target) and its predict command's output."""
    install, train, predict = readme_commands("pip install -e . && python scripts/train.py")
    assert install[:2] == ["pip", "install"] and train[:2] == ["python", "scripts/train.py"]
    run_dir = tmp_path_factory.mktemp("quickstart") / "translation"
    output = run([*train, f"training.output_dir={run_dir}"])
    assert "stopped: reached the target: exact_match 100.00" in output, output[-2000:]
    model = predict.index("--model") + 1
    assert predict[model] == "runs/translation/model"
    predict[model] = str(run_dir / "model")
    return run_dir / "model", run(predict)


def test_the_quickstart_translates_the_readme_example(quickstart_model):
    model, printed = quickstart_model
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert printed == "dreihundertzweiundvierzigtausendeinhundertsieben\n"
    assert f"(`{printed.strip()}`)" in readme  # what the README says it prints


def test_the_default_model_translates_what_a_user_types_first(quickstart_model):
    """Small numbers and sentence case: the generated corpus covers them (its validation split,
    held out from training, holds mostly large numbers)."""
    from pipelines import pipeline

    model, _ = quickstart_model
    numbers = [*range(0, 21), 30, 42, 99, 100, 101, 110, 1000, 2024]
    sources = [english_number(n) for n in numbers] + [english_number(n).capitalize() for n in numbers]
    translated = [result["translation_text"] for result in pipeline("translation", model=model)(sources)]
    assert list(zip(sources, translated, strict=True)) == list(zip(sources, [german_number(n) for n in numbers] * 2,
                                                                  strict=True))


def test_the_readme_two_process_launch_runs_to_the_end(tmp_path):
    """The README's launch line with the shipped config's settings (time limit on, log every 50
    updates) on two processes, shortened to 60 updates."""
    [launch] = readme_commands("accelerate launch --config_file configs/accelerate/cpu_two_processes.yaml")
    output = run([*launch, f"training.output_dir={tmp_path / 'run'}", "training.max_steps=60",
                  "training.eval_every_steps=60", "data.generated_sizes={train: 2000, validation: 50, test: 10}"],
                 timeout=300)
    assert "training on 2 process(es)" in output and "stopped: reached max_steps=60" in output
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "last" / "model.safetensors").is_file()
    assert '"step": 50, "train/loss"' in (tmp_path / "run" / "metrics.jsonl").read_text()  # the logging step ran
