import json
import pickle
import shutil

import pytest
import torch
from accelerate import Accelerator
from conftest import collate, make_model, tiny_config

from pipelines import get_task
from seq2seq.checkpoints import (
    STATE_FILE,
    CheckpointError,
    find_resume_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)
from seq2seq.training import train
from seq2seq.update import train_step


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A short real run with checkpoints at updates 10, 20, 30 and 40."""
    directory = tmp_path_factory.mktemp("checkpointed")
    config = tiny_config(str(directory), data={"generated_sizes": {"train": 600, "validation": 20}},
                         training={"max_steps": 40, "checkpoint_every_steps": 10, "eval_every_steps": 10,
                                   "keep_checkpoints": 10, "early_stopping_patience": 0})
    train(config, get_task("translation"))
    return directory


def copy_run(run_dir, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


def test_checkpoints_are_complete_and_verified(run_dir):
    assert [p.name for p in list_checkpoints(run_dir)] == ["step_10", "step_20", "step_30", "step_40"]
    trainer = verify_checkpoint(run_dir / "checkpoints" / "step_30")
    assert trainer["step"] == 30 and "scheduler" in trainer
    assert (run_dir / "checkpoints" / "step_30" / "model.safetensors").is_file()
    assert not list((run_dir / "checkpoints").glob(".staging*"))


def test_a_half_written_checkpoint_is_ignored_and_reported(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    shutil.copytree(run / "checkpoints" / "step_40", run / "checkpoints" / ".staging_step_50")
    (run / "checkpoints" / ".staging_step_50" / STATE_FILE).unlink()
    shutil.copytree(run / "checkpoints" / "step_40", run / "checkpoints" / "step_60")
    (run / "checkpoints" / "step_60" / STATE_FILE).unlink()  # killed before sealing
    warnings = []
    assert find_resume_checkpoint(run, warnings.append).name == "step_40"
    assert any("incomplete checkpoint" in w and "staging_step_50" in w for w in warnings)


@pytest.mark.parametrize("damage", ["truncate", "delete", "bad_state"])
def test_a_corrupt_newest_checkpoint_is_reported_and_the_previous_one_used(run_dir, tmp_path, damage):
    run = copy_run(run_dir, tmp_path)
    newest = run / "checkpoints" / "step_40"
    if damage == "truncate":
        data = (newest / "optimizer.bin").read_bytes()
        (newest / "optimizer.bin").write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        (newest / "model.safetensors").unlink()
    else:
        (newest / STATE_FILE).write_text("{not json")
    warnings = []
    assert find_resume_checkpoint(run, warnings.append).name == "step_30"
    assert len(warnings) == 1 and "step_40" in warnings[0]
    with pytest.raises(CheckpointError, match="step_40"):
        verify_checkpoint(newest)


def test_no_usable_checkpoint_is_an_error(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    for path in list_checkpoints(run):
        (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        find_resume_checkpoint(run, lambda message: None)


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("touch EXPLOITED",))


def test_a_tampered_state_file_is_refused_not_executed(run_dir, tmp_path, monkeypatch):
    """Even with matching checksums (an attacker re-sealed it), pickles load with weights_only=True."""
    monkeypatch.chdir(tmp_path)
    run = copy_run(run_dir, tmp_path)
    checkpoint = run / "checkpoints" / "step_40"
    (checkpoint / "optimizer.bin").write_bytes(pickle.dumps({"state": _Exploit()}))
    sealed = json.loads((checkpoint / STATE_FILE).read_text())
    from seq2seq.checkpoints import _sha256
    sealed["files"]["optimizer.bin"] = _sha256(checkpoint / "optimizer.bin")
    (checkpoint / STATE_FILE).write_text(json.dumps(sealed))
    accelerator = Accelerator(cpu=True)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters())
    model, optimizer = accelerator.prepare(model, optimizer)
    with pytest.raises(CheckpointError, match="cannot load the saved state"):
        load_checkpoint(accelerator, checkpoint)
    assert not (tmp_path / "EXPLOITED").exists()


def test_pruning_keeps_the_newest_and_the_best(tmp_path):
    accelerator = Accelerator(cpu=True)
    model, optimizer = accelerator.prepare(make_model(), torch.optim.Adam(make_model().parameters()))
    for step in (5, 10, 15, 20):
        save_checkpoint(accelerator, tmp_path, {"step": step}, step=step, keep=2, protect={5})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_5", "step_15", "step_20"]


def test_non_finite_loss_skips_the_update():
    accelerator = Accelerator(cpu=True)
    model = make_model()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    batch = collate([{"src_ids": [5, 6, 3], "tgt_ids": [7, 8]}])
    good = train_step(model, optimizer, [batch], accelerator, clip_grad_norm=1.0)
    assert good.finite and good.num_tokens == 3
    with torch.no_grad():
        model.decoder.output_layer.bias[7] = float("nan")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    bad = train_step(model, optimizer, [batch], accelerator, clip_grad_norm=1.0)
    assert not bad.finite
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]) or name == "decoder.output_layer.bias", name
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.slow
def test_training_stops_after_too_many_bad_updates(tmp_path, caplog, monkeypatch):
    """From the 6th forward pass on, the loss is NaN (an injected numerical blow-up)."""
    from seq2seq.model import Seq2SeqModel

    original, calls = Seq2SeqModel.forward, []

    def blowing_up(self, batch):
        calls.append(1)
        output = original(self, batch)
        return output._replace(loss_sum=output.loss_sum * float("nan")) if len(calls) > 5 else output

    monkeypatch.setattr(Seq2SeqModel, "forward", blowing_up)
    config = tiny_config(str(tmp_path), data={"generated_sizes": {"train": 300, "validation": 10}},
                         training={"max_bad_steps": 3, "max_steps": 200, "eval_every_steps": 0,
                                   "early_stopping_patience": 0})
    with caplog.at_level("WARNING"):
        train(config, get_task("translation"))
    skipped = [r.getMessage().removeprefix("[RANK 0] ") for r in caplog.records if "non-finite" in r.getMessage()]
    assert skipped == [f"update {step} skipped: non-finite loss or gradient ({n} in a row)"
                       for n, step in enumerate((6, 7, 8), start=1)]
    state = verify_checkpoint(list_checkpoints(tmp_path)[-1])
    assert "3 consecutive updates had a non-finite loss or gradient" in state["stop_reason"]
    assert state["step"] == 8


def test_a_weight_shared_by_two_inputs_stays_shared_through_a_checkpoint_and_a_saved_model(tmp_path):
    from test_hops import two_text_inputs

    from seq2seq.model import Seq2SeqModel

    model = two_text_inputs()
    accelerator = Accelerator(cpu=True)
    prepared = accelerator.prepare(model)
    save_checkpoint(accelerator, tmp_path, step=1, trainer_state={}, keep=1)
    other = Accelerator(cpu=True)
    restored = other.prepare(_perturbed(two_text_inputs()))
    other.load_state(str(tmp_path / "checkpoints" / "step_1"))
    assert restored.encoders["question"].embedding is restored.encoders["context"].embedding
    for (name, value), (_, expected) in zip(restored.state_dict().items(), prepared.state_dict().items(), strict=True):
        torch.testing.assert_close(value, expected, msg=name)
    model.config = {"task": "question_answering"} | model.config
    model.save_pretrained(tmp_path / "model")
    loaded = Seq2SeqModel.from_pretrained(tmp_path / "model")
    assert loaded.encoders["question"].embedding is loaded.encoders["context"].embedding
    torch.testing.assert_close(loaded.encoders["question"].embedding.weight, model.encoders["context"].embedding.weight)


def _perturbed(model):
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    return model
