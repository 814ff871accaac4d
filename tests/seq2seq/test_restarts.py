import json

import pytest
from conftest import last_trainer_state, tiny_config
from safetensors.torch import load_file

from pipelines import get_task
from seq2seq.checkpoints import list_checkpoints
from seq2seq.config import ConfigError
from seq2seq.training import train

SMALL = dict(data={"generated_sizes": {"train": 300, "validation": 20}},
             training={"max_steps": 20, "eval_every_steps": 10, "early_stopping_patience": 0, "eval_metric": "chrf"})


def small_config(output_dir, **training):
    config = tiny_config(str(output_dir), **SMALL)
    for key, value in training.items():
        setattr(config.training, key, value)
    return config


@pytest.mark.slow
def test_restarts_train_on_the_candidate_with_the_best_validation_score(tmp_path):
    task = get_task("translation")
    train(small_config(tmp_path / "run", restarts=3, restart_steps=10), task)
    run_dir = tmp_path / "run"
    summary = json.loads((run_dir / "restarts.json").read_text())
    scores = {candidate["seed"]: candidate["chrf"] for candidate in summary["candidates"]}
    assert sorted(scores) == [42, 43, 44] and len(set(scores.values())) > 1  # the seeds differ
    assert summary["chosen_seed"] == max(scores, key=scores.get)
    assert json.loads((run_dir / "config.json").read_text())["training"]["seed"] == summary["chosen_seed"]
    assert [p.name for p in list_checkpoints(run_dir)] == ["step_10", "step_20"]
    for seed in scores:  # every candidate was trained, the losers are left for inspection
        assert (run_dir / "restarts" / f"seed_{seed}").is_dir()
    state = last_trainer_state(run_dir)
    assert state["step"] == 20 and state["stop_reason"] == "reached max_steps=20"
    # training.max_time_minutes covers the candidates: the losers' time was spent too.
    losers = [seed for seed in scores if seed != summary["chosen_seed"]]
    spent = sum(last_trainer_state(run_dir / "restarts" / f"seed_{seed}")["elapsed_seconds"] for seed in losers)
    assert state["elapsed_seconds"] > spent > 0

    # The winner trained on exactly as a run with its seed would have, without the stop.
    alone = tmp_path / "alone"
    train(small_config(alone, seed=summary["chosen_seed"]), task)
    assert_same_weights(run_dir / "last", alone / "last")

    # Resuming the command continues the chosen run (the config still says seed 42).
    train(small_config(run_dir, restarts=3, restart_steps=10, max_steps=25), task, resume=True)
    assert last_trainer_state(run_dir)["step"] == 25


def assert_same_weights(first, second):
    weights, others = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert weights.keys() == others.keys()
    assert all(weights[name].equal(others[name]) for name in weights)


@pytest.mark.parametrize("training", [{"restarts": 2}, {"restarts": 2, "restart_steps": 20}])
def test_restarts_need_fewer_candidate_steps_than_the_run(tmp_path, training):
    with pytest.raises(ConfigError, match="training.restarts=2 needs training.restart_steps"):
        train(small_config(tmp_path, **training), get_task("translation"))
