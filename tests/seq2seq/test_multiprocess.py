"""Guarantees of the training loop across processes, accumulation, crashes and bad numbers.

Multi-process runs use `accelerate launch --num_processes 2 --cpu` (gloo), as a user would.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import make_model, tiny_config
from distributed_eval_job import sources
from safetensors.torch import load_file

from pipelines import get_task
from seq2seq.config import config_to_dict
from seq2seq.evaluation import generate_dataset
from seq2seq.training import train

ROOT = Path(__file__).resolve().parents[2]
CPU_LAUNCH = ROOT / "configs" / "accelerate" / "cpu_two_processes.yaml"
pytestmark = pytest.mark.slow


def write_config(path: Path, output_dir: Path, **sections) -> Path:
    """A tiny config with the shipped configs' time limit on (its bookkeeping runs on every process)."""
    sections["training"] = {"max_time_minutes": 15, **sections.get("training", {})}
    config = tiny_config(str(output_dir), **sections)
    path.write_text(yaml.safe_dump(config_to_dict(config)))
    return path


def launch(config: Path, *extra: str, processes: int = 1, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, str(ROOT / "scripts" / "train.py")]
    else:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_LAUNCH),
                   "--num_processes", str(processes), str(ROOT / "scripts" / "train.py")]
    return subprocess.Popen([*command, "--config", str(config), *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def run(config: Path, *extra: str, processes: int = 1) -> str:
    process = launch(config, *extra, processes=processes)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    return output


def records(run_dir: Path, key: str) -> list[tuple[int, float]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r[key]) for r in map(json.loads, lines) if key in r]


def weights(run_dir: Path, name: str = "last") -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / name / "model.safetensors"))


SMALL = dict(data={"generated_sizes": {"train": 800, "validation": 31, "test": 10}},
             training={"max_steps": 12, "log_every_steps": 1, "eval_every_steps": 0, "early_stopping_patience": 0,
                       "batch_size": 32})


def test_two_processes_follow_the_one_process_loss_curve(tmp_path, run_script):
    """Same seed, batch 32 per update: one process with 32, two with 16 each.

    Dropout is off: each process draws its own masks. Tolerance: 1e-4 relative on every logged loss
    (the only difference is the order of floating-point sums in the gradient all-reduce).
    """
    one, two = tmp_path / "one", tmp_path / "two"
    assert "training on 1 process(es)" in run(write_config(tmp_path / "one.yaml", one, **SMALL))
    assert "training on 2 process(es)" in run(write_config(tmp_path / "two.yaml", two, **SMALL), processes=2)
    single, double = records(one, "train/loss"), records(two, "train/loss")
    assert [s for s, _ in single] == list(range(1, 13)) == [s for s, _ in double]
    assert single[0][1] > single[-1][1]  # it learns
    for (_, a), (_, b) in zip(single, double, strict=True):
        assert b == pytest.approx(a, rel=1e-4)
    for name, tensor in weights(one).items():
        torch.testing.assert_close(weights(two)[name], tensor, rtol=1e-3, atol=1e-4)
    # Evaluation under two processes decoded all 31 validation examples, once each and in order:
    # the same hypotheses as one process decoding the same saved model.
    gathered = (two / "valid_predictions.txt").read_text().splitlines()
    status, _, err = run_script("evaluate", "--model", str(two / "model"), "--config", str(tmp_path / "two.yaml"),
                                "--num-beams", "1", "--output", str(tmp_path / "alone.txt"))
    assert status == 0, err
    assert len(gathered) == 31 and gathered == (tmp_path / "alone.txt").read_text().splitlines()
    assert len(set(gathered)) >= 3  # different outputs (after 12 updates: 4 of them), so the order is checked too


def test_accumulated_micro_batches_equal_one_batch(tmp_path):
    """4 accumulated micro-batches of 8 make the same update as one batch of 32."""
    task = get_task("translation")
    torch.manual_seed(0)
    train(tiny_config(str(tmp_path / "whole"), **SMALL), task)
    accumulated = {**SMALL, "training": {**SMALL["training"], "gradient_accumulation_steps": 4}}
    torch.manual_seed(0)
    train(tiny_config(str(tmp_path / "parts"), **accumulated), task)
    for (_, a), (_, b) in zip(records(tmp_path / "whole", "train/loss"), records(tmp_path / "parts", "train/loss"),
                              strict=True):
        assert b == pytest.approx(a, rel=1e-5)
    whole, parts = weights(tmp_path / "whole"), weights(tmp_path / "parts")
    for name, tensor in whole.items():
        torch.testing.assert_close(parts[name], tensor, rtol=1e-3, atol=1e-4)  # Adam magnifies rounding


def kill_after_checkpoint_then_resume(config: Path, run_dir: Path, *, step: int) -> tuple[int, int]:
    """Train, SIGKILL the run once its checkpoint ``step`` is sealed, resume it to the end; the
    (update, batch in epoch) it resumed from."""
    process = launch(config)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints" / f"step_{step}" / "trainer_state.json").exists():
        assert process.poll() is None, "training finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "last").exists()  # it really died before the end
    output = run(config, "--resume")
    position = output.split("resumed from ")[1].split("\n")[0]  # "... (update N, epoch E, batch B)"
    return int(position.split("update ")[1].split(",")[0]), int(position.split("batch ")[1].split(")")[0])


@pytest.mark.parametrize("streaming", [False, True])
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, streaming):
    sections = dict(
        data={"generated_sizes": {"train": 600, "validation": 20, "test": 10}, "streaming": streaming,
              "shuffle_buffer": 100},
        model={"embedding_dropout": 0.1, "decoder": {"hidden_size": 128, "attention": "luong_general",
                                                     "dropout": 0.1}},  # dropout: RNG state must be restored
        training={"max_steps": 70, "batch_size": 32, "log_every_steps": 5, "eval_every_steps": 50,
                  "checkpoint_every_steps": 7, "keep_checkpoints": 3, "early_stopping_patience": 0},
    )
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    run(write_config(tmp_path / "reference.yaml", reference, **sections))
    config = write_config(tmp_path / "crashed.yaml", crashed, **sections)
    update, batch = kill_after_checkpoint_then_resume(config, crashed, step=28)
    assert update >= 28 and batch > 0  # a mid-epoch checkpoint
    for name, tensor in weights(reference).items():
        assert torch.equal(weights(crashed)[name], tensor), name
    assert records(crashed, "valid/bleu") == records(reference, "valid/bleu")
    assert records(crashed, "train/loss") == records(reference, "train/loss")


def test_evaluation_on_two_processes_counts_an_odd_number_of_examples_once(tmp_path):
    output = tmp_path / "ids.json"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_LAUNCH),
               str(Path(__file__).parent / "distributed_eval_job.py"), "37", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    gathered = json.loads(output.read_text())
    assert gathered["processes"] == 2
    expected = generate_dataset(make_model(target_vocab_size=8), sources(37), batch_size=8, num_beams=2,
                                max_length=12, length_penalty=1.0, device=torch.device("cpu"))
    def strip(row: list[int]) -> list[int]:
        return row[: len(row) - next((i for i, t in enumerate(reversed(row)) if t != 0), len(row))]

    assert len(gathered["ids"]) == 37
    assert [strip(row) for row in gathered["ids"]] == [strip(row) for row in expected]


@pytest.mark.parametrize(("name", "expected"), [
    ("cpu_two_processes", {"distributed_type": "MULTI_GPU", "num_processes": 2, "num_machines": 1,
                           "mixed_precision": "no"}),
    ("single_gpu", {"distributed_type": "NO", "num_processes": 1, "num_machines": 1, "mixed_precision": "bf16"}),
    ("multi_gpu", {"distributed_type": "MULTI_GPU", "num_processes": 4, "num_machines": 1, "mixed_precision": "bf16"}),
    ("multi_node", {"distributed_type": "MULTI_GPU", "num_processes": 16, "num_machines": 2, "machine_rank": 0,
                    "main_process_port": 29500, "mixed_precision": "bf16"}),
])
def test_launch_configs_are_valid_accelerate_configs(name, expected):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
    for key, value in expected.items():
        assert str(getattr(config, key)).removeprefix("DistributedType.") == str(value), key


def test_the_time_limit_stops_every_process_at_the_same_update(tmp_path):
    """Rank 1's clock runs 100x fast: the ranks must still agree on when time is up."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_LAUNCH),
               str(Path(__file__).parent / "time_limit_job.py"), str(tmp_path / "run"), str(tmp_path / "updates")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    counts = [int((tmp_path / f"updates.rank{rank}").read_text()) for rank in (0, 1)]
    assert counts[0] == counts[1] > 0
    assert "stopped: reached max_time_minutes=0.1" in result.stdout


def test_two_processes_stream_their_own_shares_and_stop_together(tmp_path):
    """Streamed data on two processes: each reads its share; when the smaller share runs out, the
    epoch ends for both (no process waits in a collective the other never enters)."""
    config = write_config(tmp_path / "stream.yaml", tmp_path / "run",
                          data={"generated_sizes": {"train": 301, "validation": 20}, "streaming": True,
                                "shuffle_buffer": 64},
                          training={"max_steps": 0, "max_epochs": 2, "batch_size": 32, "lr_schedule": "constant",
                                    "log_every_steps": 1, "eval_every_steps": 0, "early_stopping_patience": 0})
    output = run(config, processes=2)
    assert "training on 2 process(es)" in output and "reached max_epochs=2" in output
    steps = [step for step, _ in records(tmp_path / "run", "train/loss")]
    # About 150 rows per process in batches of 16: 9 or 10 updates per epoch, two epochs.
    assert steps == list(range(1, len(steps) + 1)) and 18 <= len(steps) <= 20


def test_sigkill_of_a_stream_with_drops_and_accumulation_then_resume_matches(tmp_path):
    """Streamed audio whose short clips are dropped as they are loaded, two micro-batches per update,
    killed mid-epoch: the resumed run ends with the weights and losses of one that was not."""
    from conftest import tiny_audio_classifier_config, write_tone_folder

    folder = write_tone_folder(tmp_path / "tones", {"train": 12, "validation": 1})

    def write(name: str) -> Path:
        values = tiny_audio_classifier_config(
            str(tmp_path / name), {"kind": "huggingface", "path": str(folder), "streaming": True,
                                   "shuffle_buffer": 16, "min_duration_seconds": 0.7},
            max_steps=40, batch_size=4, gradient_accumulation_steps=2, lr_schedule="constant",
            eval_every_steps=20, checkpoint_every_steps=3, keep_checkpoints=3, log_every_steps=1, max_epochs=100)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    run(write("reference"))
    config = write("crashed")
    _, batch = kill_after_checkpoint_then_resume(config, crashed, step=9)
    assert batch > 0  # a mid-epoch checkpoint
    for name, tensor in weights(reference).items():
        assert torch.equal(weights(crashed)[name], tensor), name
    assert records(crashed, "train/loss") == records(reference, "train/loss")
    assert records(reference, "data/dropped_duration")  # clips were dropped, every epoch
