import json

import pytest
import torch
from conftest import tiny_config

from pipelines import get_task
from seq2seq.checkpoints import CheckpointError, list_checkpoints
from seq2seq.evaluation import translate_dataset
from seq2seq.model import Seq2SeqModel
from seq2seq.tokenization import Tokenizer
from seq2seq.training import lr_factor, train


def test_lr_schedules():
    factor = lambda step, schedule: lr_factor(step, schedule=schedule, warmup_steps=10, total_steps=110)  # noqa: E731
    assert factor(0, "constant") == pytest.approx(0.1)
    assert factor(50, "constant") == 1.0
    assert factor(10, "linear") == pytest.approx(1.0) and factor(110, "linear") == pytest.approx(0.0)
    assert factor(60, "cosine") == pytest.approx(0.5)
    assert factor(39, "inverse_sqrt") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'exotic'"):
        factor(50, "exotic")


@pytest.mark.slow
def test_end_to_end_training_learns_to_reverse(trained_reverse_model):
    run_dir = trained_reverse_model
    evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
             if "valid/exact_match" in line]
    assert evals and max(e["valid/exact_match"] for e in evals) == 100.0
    for name in ("model", "last", "tokenizer"):
        assert (run_dir / name).is_dir()
    assert (run_dir / "learning_curve.png").stat().st_size > 0
    assert list_checkpoints(run_dir)

    # The saved best model generalises to fresh reverse examples from a new seed.
    from seq2seq.data import tokenize_dataset
    from seq2seq.synthetic import make_corpus
    fresh = make_corpus("reverse", {"test": 200}, seed=99)["test"]
    tokenizer = Tokenizer.from_pretrained(run_dir / "model")
    model = Seq2SeqModel.from_pretrained(run_dir / "model")
    to_example = lambda row: {"source_text": row["source"]}  # noqa: E731
    data = tokenize_dataset(fresh, tokenizer, to_example=to_example)
    predictions = translate_dataset(model, data, tokenizer, batch_size=64, num_beams=1, max_length=30,
                                    length_penalty=1.0, device=torch.device("cpu"))
    assert predictions == fresh["target"]


@pytest.mark.slow
def test_resume_continues_from_the_newest_checkpoint(tmp_path):
    config = tiny_config(str(tmp_path), training={"max_steps": 40, "eval_every_steps": 20,
                                                  "max_eval_examples": 20, "early_stopping_patience": 0},
                         data={"generated_sizes": {"train": 600, "validation": 20}})
    task = get_task("translation")
    train(config, task)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_20", "step_40"]
    config.training.max_steps = 60
    train(config, task, resume=True)
    assert list_checkpoints(tmp_path)[-1].name == "step_60"
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 60 and 50 in steps  # logging continued from step 40, not from 0
    state = json.loads((list_checkpoints(tmp_path)[-1] / "trainer_state.json").read_text())
    assert state["trainer"]["step"] == 60


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        train(tiny_config(str(tmp_path)), get_task("translation"), resume=True)


def test_missing_column_is_reported(tmp_path):
    config = tiny_config(str(tmp_path), data={"source_column": "german"})
    with pytest.raises(KeyError, match="'german'"):
        train(config, get_task("translation"))
