import json
import re

import pytest
import torch
from accelerate import Accelerator
from conftest import collate, last_trainer_state, make_model, tiny_config

from pipelines import get_task
from seq2seq.checkpoints import CheckpointError, list_checkpoints
from seq2seq.config import ConfigError, config_to_dict
from seq2seq.evaluation import translate_dataset
from seq2seq.experiment import make_accelerator
from seq2seq.model import Seq2SeqModel
from seq2seq.optimization import lr_factor
from seq2seq.run import MetricsLog
from seq2seq.run_directory import RunDirectoryError
from seq2seq.tokenization import Tokenizer
from seq2seq.training import train
from seq2seq.update import train_step


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
    state = last_trainer_state(run_dir)
    assert state["stop_reason"] == "reached the target: exact_match 100.00 >= 100"
    assert evals[-1]["valid/exact_match"] == 100.0 and state["best_step"] == evals[-1]["step"]
    for name in ("model", "last", "tokenizer"):
        assert (run_dir / name).is_dir()
    assert (run_dir / "learning_curve.png").stat().st_size > 0
    assert list_checkpoints(run_dir)

    # The saved best model (every validation example right) generalises to fresh examples from a
    # new seed: an untrained model gets none right, this one nearly all.
    from conftest import prepare

    from seq2seq.data import Examples
    from seq2seq.processors import TextProcessor
    from seq2seq.synthetic import make_corpus
    fresh = make_corpus("reverse", {"test": 200}, seed=99)["test"]
    tokenizer = Tokenizer.from_pretrained(run_dir / "model")
    model = Seq2SeqModel.from_pretrained(run_dir / "model")
    to_example = lambda row: {"source": row["source"]}  # noqa: E731
    data = Examples(prepare(fresh, tokenizer, to_example=to_example), {"source": TextProcessor(tokenizer)})
    predictions = translate_dataset(model, data, tokenizer, batch_size=64, num_beams=1, max_length=30,
                                    length_penalty=1.0, device=torch.device("cpu"))
    assert sum(p == t for p, t in zip(predictions, fresh["target"], strict=True)) >= 180  # 90 %


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
    with pytest.raises(RunDirectoryError, match="cannot resume.*config.json is missing"):
        train(tiny_config(str(tmp_path)), get_task("translation"), resume=True)
    config = tiny_config(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(config_to_dict(config)))
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        train(config, get_task("translation"), resume=True)


SHORT = dict(data={"generated_sizes": {"train": 300, "validation": 10}},
             training={"max_steps": 10, "eval_every_steps": 5, "early_stopping_patience": 0})


@pytest.mark.slow
def test_a_used_run_directory_needs_resume_or_overwrite(tmp_path):
    """A new run beside an old one would prune its own checkpoints (the old step numbers are
    higher), reuse the old tokenizer and append to the old metrics: it is refused instead."""
    task = get_task("translation")
    old = tiny_config(str(tmp_path), **SHORT)
    old.training.max_steps = 40
    train(old, task)
    (tmp_path / "notes.txt").write_text("mine")  # not a run file: never touched
    new = tiny_config(str(tmp_path), **SHORT)
    new.tokenizer.vocab_size = 30
    with pytest.raises(RunDirectoryError, match=r"already holds a training run.*--resume.*--overwrite"):
        train(new, task)
    assert [p.name for p in list_checkpoints(tmp_path)][-1] == "step_40"  # nothing was changed

    train(new, task, overwrite=True)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_5", "step_10"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 10  # a fresh log, not the old one continued
    assert Tokenizer.from_pretrained(tmp_path / "model").source_vocab_size <= 30  # retrained with the new setting
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_resume_refuses_a_config_that_changes_the_experiment(tmp_path):
    task = get_task("translation")
    config = tiny_config(str(tmp_path), **SHORT)
    train(config, task)
    changed = tiny_config(str(tmp_path), **SHORT)
    changed.model.decoder.hidden_size = 64
    changed.training.learning_rate = 1e-2
    with pytest.raises(ConfigError, match=r"cannot resume.*model\.decoder\.hidden_size: 128 -> 64.*"
                                          r"training\.learning_rate"):
        train(changed, task, resume=True)
    longer = tiny_config(str(tmp_path), **SHORT)
    longer.training.max_steps = 15  # limits, evaluation and logging may change
    longer.generation.num_beams = 1
    # A run started before a setting existed resumes: the missing setting is taken at its default.
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["forecasting"], saved["tokenizer"]["keep_whitespace"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    train(longer, task, resume=True)
    assert list_checkpoints(tmp_path)[-1].name == "step_15"


@pytest.mark.slow
def test_training_stops_once_the_target_metric_is_reached(trained_reverse_model, tmp_path):
    config = tiny_config(str(tmp_path), training={"target_metric": 50.0, "eval_every_steps": 50,
                                                  "metrics": ["exact_match", "chrf"]})
    train(config, get_task("translation"))
    state = last_trainer_state(tmp_path)
    evaluations = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
                   if "valid/exact_match" in line]
    assert state["stop_reason"].startswith("reached the target: exact_match")
    assert evaluations[-1]["valid/exact_match"] >= 50 > max(e["valid/exact_match"] for e in evaluations[:-1])
    assert state["step"] == evaluations[-1]["step"] < 1000
    assert all(set(e) == {"step", "valid/exact_match", "valid/chrf"} for e in evaluations)  # no bleu


@pytest.mark.parametrize(("training", "message"), [
    ({"eval_metric": "exact_macth"}, "eval_metric: 'exact_macth' is not among the reported metrics "
                                     "(did you mean 'exact_match'?)"),
    ({"metrics": ["chrf"], "eval_metric": "bleu"}, "'bleu' is not among the reported metrics"),
    ({"metrics": ["blue"]}, "training.metrics: the translation task has no metric 'blue' (did you mean 'bleu'?)"),
])
def test_metric_names_are_checked_before_any_work(tmp_path, training, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        train(tiny_config(str(tmp_path / "run"), training=training), get_task("translation"))
    assert not (tmp_path / "run").exists()


def test_a_partially_written_metrics_line_is_dropped_on_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 5, "train/loss": 1.0}\n{"step": 10, "train/loss": 0.5}\n{"step": 15, "train/lo')
    MetricsLog(Accelerator(cpu=True), path).truncate_after(10)
    assert path.read_text() == '{"step": 5, "train/loss": 1.0}\n{"step": 10, "train/loss": 0.5}\n'


def test_the_config_precision_wins_over_the_launcher_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    with caplog.at_level("WARNING"):
        accelerator = make_accelerator(tiny_config(str(tmp_path)).training, tmp_path)
    assert accelerator.mixed_precision == "no"
    assert "the launcher asks for mixed_precision=bf16 but the config says 'no'; using the config's" in caplog.text


def test_fp16_gradient_overflow_is_left_to_the_loss_scaler(monkeypatch):
    """Accelerate's fp16 path with a CPU GradScaler; the first backward pass overflows (an infinite
    gradient from a finite loss, as fp16 gives early in training).

    The overflowing update is skipped by the scaler, which halves its scale, and is not a bad
    update; the next one trains. Skipping the scaler's step instead broke the next update."""
    accelerator = Accelerator(cpu=True)
    accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    model = make_model()
    model.train()
    model, optimizer = accelerator.prepare(model, torch.optim.Adam(model.parameters(), lr=0.01))
    accelerator.native_amp = True  # what Accelerator(mixed_precision="fp16") sets on a GPU
    monkeypatch.setattr(Accelerator, "mixed_precision", property(lambda self: "fp16"))
    backward_passes = []

    def overflow_once(grad):
        backward_passes.append(1)
        return torch.full_like(grad, float("inf")) if len(backward_passes) == 1 else grad

    model.decoder.output_layer.weight.register_hook(overflow_once)
    batch = collate([{"src_ids": [5, 6, 3], "tgt_ids": [7, 8]}])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    overflow = train_step(model, optimizer, [batch], accelerator, clip_grad_norm=1.0)
    assert overflow.overflow and overflow.finite
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
    assert accelerator.scaler.get_scale() == 2.0**15
    trained = train_step(model, optimizer, [batch], accelerator, clip_grad_norm=1.0)
    assert trained.finite and not trained.overflow
    assert not all(torch.equal(p, before[name]) for name, p in model.named_parameters())
