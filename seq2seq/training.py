"""The Accelerate training loop: data, model, optimizer, schedule, evaluation, checkpoints.

A run directory holds ``tokenizer/``, ``model/`` (best by the validation metric), ``last/``,
``checkpoints/step_N/`` (``accelerator.save_state`` plus ``trainer_state.json``), and
``metrics.jsonl``. The task layer plugs in through :class:`Task`: how a dataset row becomes
``source_text``/``target_text``, and how predictions are scored.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import datasets
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from seq2seq.config import Config, DataConfig, TrainingConfig, config_to_dict
from seq2seq.data import (
    BucketBatchSampler,
    collate,
    example_lengths,
    get_split,
    load_raw_dataset,
    tokenize_dataset,
)
from seq2seq.model import Seq2SeqModel, build_model
from seq2seq.plots import plot_learning_curve
from seq2seq.tokenization import Tokenizer

logger = logging.getLogger(__name__)
STATE_FILE = "trainer_state.json"


class Task(Protocol):
    name: str

    def make_to_example(self, data: DataConfig) -> Callable[[dict[str, Any]], dict[str, Any]]: ...

    def compute_metrics(self, predictions: list[str], references: list[str]) -> dict[str, float]: ...


@dataclass
class TrainerState:
    """Everything besides model/optimizer/RNG that a resumed run needs."""

    step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0
    best_metric: float | None = None
    best_step: int = 0
    evals_without_improvement: int = 0
    elapsed_seconds: float = 0.0
    last_eval_step: int = -1
    stop_reason: str = ""


def tune_cpu_allocator() -> None:
    """Keep freed activation buffers in glibc's heap instead of returning them to the OS.

    Each training step allocates and frees the same large activations; with glibc's defaults
    they are mmap'ed and unmapped every time, and the page faults cost about 10 % of CPU
    training time (measured on Multi30k, 2 cores). No effect off glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: never trim the heap top
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: glibc's maximum on 64-bit
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------------------------
# builders


def build_optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    lr, decay = config.learning_rate, config.weight_decay
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=decay)
    raise ValueError(f"training.optimizer must be adam, adamw or rmsprop; got {config.optimizer!r}")


def lr_factor(step: int, *, schedule: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at update ``step`` (linear warm-up, then decay)."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "inverse_sqrt":
        return math.sqrt(max(warmup_steps, 1) / max(step + 1, 1))
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"training.lr_schedule must be constant, linear, cosine or inverse_sqrt; got {schedule!r}")


def prepare_tokenizer(config: Config, train_rows: datasets.Dataset, to_example, run_dir: Path,
                      accelerator: Accelerator) -> Tokenizer:
    """Train SentencePiece on the training split once (main process) and reuse it on resume."""
    directory = run_dir / "tokenizer"
    with accelerator.main_process_first():
        if not (directory / "tokenizer_config.json").is_file() and accelerator.is_main_process:
            examples = [to_example(row) for row in train_rows]
            tok = config.tokenizer
            tokenizer = Tokenizer.train(
                [e["source_text"] for e in examples], [e["target_text"] for e in examples],
                vocab_size=tok.vocab_size, model_type=tok.model_type, joint=tok.joint,
                character_coverage=tok.character_coverage, max_sentences=tok.max_sentences,
            )
            tokenizer.save_pretrained(directory)
    return Tokenizer.from_pretrained(directory)


def _fingerprint(tokenizer: Tokenizer) -> str:
    digest = hashlib.sha256(tokenizer.source.serialized_model_proto())
    digest.update(tokenizer.target.serialized_model_proto())
    return digest.hexdigest()[:16]


def load_data(config: Config, task: Task, run_dir: Path, accelerator: Accelerator):
    """Raw rows -> tokenizer -> tokenized train split and (rows, tokenized) validation split."""
    to_example = task.make_to_example(config.data)
    with accelerator.main_process_first():
        raw = load_raw_dataset(config.data)
    train_rows = get_split(raw, config.data.train_split, config.data.max_train_examples)
    valid_rows = get_split(raw, config.data.valid_split, config.data.max_valid_examples)
    tokenizer = prepare_tokenizer(config, train_rows, to_example, run_dir, accelerator)
    common = dict(to_example=to_example, tokenizer_fingerprint=_fingerprint(tokenizer))
    with accelerator.main_process_first():
        train_data = tokenize_dataset(
            train_rows, tokenizer, max_source_length=config.data.max_source_length,
            max_target_length=config.data.max_target_length, **common,
        )
        valid_data = tokenize_dataset(valid_rows, tokenizer, **common)
    references = [to_example(row)["target_text"] for row in valid_rows]
    return tokenizer, train_data, valid_data, references


# ---------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def translate_dataset(model: Seq2SeqModel, data: datasets.Dataset, tokenizer: Tokenizer, *,
                      batch_size: int, num_beams: int, max_length: int, length_penalty: float,
                      device: torch.device) -> list[str]:
    """Decode every example of a tokenized dataset, returned in dataset order."""
    model.eval()
    sampler = BucketBatchSampler(
        [len(ids) for ids in data["src_ids"]], batch_size=batch_size, shuffle=False
    )
    predictions: list[str] = [""] * len(data)
    for indices in sampler:
        batch = collate([{"src_ids": data[i]["src_ids"]} for i in indices]).to(device)
        output = model.generate(batch, num_beams=num_beams, max_length=max_length,
                                length_penalty=length_penalty)
        for index, text in zip(indices, tokenizer.decode_target(output.tokens[:, 0].tolist()), strict=True):
            predictions[index] = text
    return predictions


def evaluate(model, data, references, tokenizer, task: Task, config: Config,
             device: torch.device) -> tuple[dict[str, float], list[str]]:
    limit = config.training.max_eval_examples
    if limit and len(data) > limit:
        data, references = data.select(range(limit)), references[:limit]
    predictions = translate_dataset(
        model, data, tokenizer, batch_size=config.generation.batch_size,
        num_beams=config.training.eval_num_beams, max_length=config.generation.max_length,
        length_penalty=config.generation.length_penalty, device=device,
    )
    return task.compute_metrics(predictions, references), predictions


# ---------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(accelerator: Accelerator, run_dir: Path, state: TrainerState, keep: int) -> None:
    """``save_state`` into a temporary directory, then rename: a crash never leaves half a checkpoint."""
    checkpoints = run_dir / "checkpoints"
    final = checkpoints / f"step_{state.step}"
    staging = checkpoints / f".tmp_step_{state.step}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    if accelerator.is_main_process:
        (staging / STATE_FILE).write_text(json.dumps(dataclasses.asdict(state), indent=2))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints (those with a trainer state), oldest first."""
    checkpoints = run_dir / "checkpoints"
    if not checkpoints.is_dir():
        return []
    complete = [p for p in checkpoints.glob("step_*") if (p / STATE_FILE).is_file()]
    return sorted(complete, key=lambda p: int(p.name.split("_")[1]))


# ---------------------------------------------------------------------------------------------
# the loop


def make_train_loader(data: datasets.Dataset, config: TrainingConfig) -> tuple[DataLoader, BucketBatchSampler]:
    sampler = BucketBatchSampler(
        example_lengths(data), batch_size=config.batch_size, batch_type=config.batch_type,
        shuffle=True, seed=config.seed,
    )
    loader = DataLoader(data, batch_sampler=sampler, collate_fn=collate, num_workers=config.num_workers)
    return loader, sampler


class MetricsLog:
    """metrics.jsonl on the main process, mirrored to Accelerate trackers."""

    def __init__(self, accelerator: Accelerator, path: Path):
        self.accelerator, self.path = accelerator, path

    def __call__(self, step: int, **values: float) -> None:
        self.accelerator.log(values, step=step)
        if self.accelerator.is_main_process:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": step, **values}) + "\n")


def train(config: Config, task: Task, *, resume: bool = False) -> Path:
    """Train a model as ``config`` says; returns the run directory."""
    tc = config.training
    run_dir = Path(tc.output_dir)
    tune_cpu_allocator()
    accelerator = Accelerator(
        mixed_precision=tc.mixed_precision, gradient_accumulation_steps=tc.gradient_accumulation_steps,
        log_with=tc.log_with or None, project_dir=str(run_dir),
    )
    set_seed(tc.seed)
    checkpoints = list_checkpoints(run_dir) if resume else []
    if resume and not checkpoints:
        raise FileNotFoundError(f"--resume: no complete checkpoint under {run_dir / 'checkpoints'}")
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config_to_dict(config), indent=2))
    tokenizer, train_data, valid_data, references = load_data(config, task, run_dir, accelerator)
    model = build_model(
        config.model, source_vocab_size=tokenizer.source_vocab_size,
        target_vocab_size=tokenizer.target_vocab_size, label_smoothing=tc.label_smoothing,
    )
    optimizer = build_optimizer(model, tc)
    train_loader, sampler = make_train_loader(train_data, tc)
    total_steps = tc.max_steps or tc.max_epochs * math.ceil(len(sampler) / tc.gradient_accumulation_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, schedule=tc.lr_schedule, warmup_steps=tc.warmup_steps, total_steps=total_steps))
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    accelerator.register_for_checkpointing(scheduler)
    state = TrainerState()
    if checkpoints:
        accelerator.load_state(str(checkpoints[-1]))
        state = TrainerState(**json.loads((checkpoints[-1] / STATE_FILE).read_text()))
        state.stop_reason = ""  # the limits may have been raised for this run
        accelerator.print(f"resumed from {checkpoints[-1]} (step {state.step}, epoch {state.epoch})")
    if tc.log_with:
        accelerator.init_trackers(run_dir.name, config={k: v for k, v in _flatten(config_to_dict(config)).items()
                                                        if isinstance(v, (int, float, str, bool))})
    log = MetricsLog(accelerator, run_dir / "metrics.jsonl")
    progress = tqdm(total=total_steps, initial=state.step, disable=not accelerator.is_local_main_process,
                    desc="training", dynamic_ncols=True, mininterval=2.0)

    def evaluate_and_save() -> None:
        state.last_eval_step = state.step
        unwrapped = accelerator.unwrap_model(model)
        metrics, predictions = evaluate(unwrapped, valid_data, references, tokenizer, task, config,
                                        accelerator.device)
        model.train()
        log(state.step, **{f"valid/{k}": v for k, v in metrics.items()})
        score = metrics[tc.eval_metric]
        if state.best_metric is None or score > state.best_metric:
            state.best_metric, state.best_step, state.evals_without_improvement = score, state.step, 0
            if accelerator.is_main_process:
                _save_model(unwrapped, run_dir / "model", tokenizer, config, task)
                (run_dir / "valid_predictions.txt").write_text("\n".join(predictions) + "\n", encoding="utf-8")
        else:
            state.evals_without_improvement += 1
        progress.write(f"step {state.step}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
                       + f" (best {tc.eval_metric} {state.best_metric:.2f} at step {state.best_step})")
        if tc.early_stopping_patience and state.evals_without_improvement >= tc.early_stopping_patience:
            state.stop_reason = f"early stopping: no {tc.eval_metric} gain in {tc.early_stopping_patience} evaluations"

    started = time.monotonic() - state.elapsed_seconds
    window = {"loss": 0.0, "tokens": 0, "examples": 0, "updates": 0, "time": time.monotonic()}
    model.train()
    while not state.stop_reason:
        if state.epoch >= tc.max_epochs:
            state.stop_reason = f"reached max_epochs={tc.max_epochs}"
            break
        sampler.set_epoch(state.epoch)
        batches = accelerator.skip_first_batches(train_loader, state.batches_in_epoch) \
            if state.batches_in_epoch else train_loader
        for batch in batches:
            with accelerator.accumulate(model):
                output = model(batch)
                accelerator.backward(output.loss)
                if accelerator.sync_gradients and tc.clip_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), tc.clip_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            state.batches_in_epoch += 1
            window["loss"] += output.loss.item()
            window["tokens"] += int(output.num_tokens)
            window["examples"] += len(batch)
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            state.step += 1
            window["updates"] += 1
            progress.update(1)
            if state.step % tc.log_every_steps == 0:
                seconds = time.monotonic() - window["time"]
                values = {"train/loss": window["loss"] / max(1, window["updates"] * tc.gradient_accumulation_steps),
                          "train/lr": scheduler.get_last_lr()[0],
                          "train/target_tokens_per_second": window["tokens"] / seconds,
                          "train/examples_per_second": window["examples"] / seconds}
                log(state.step, **values)
                progress.set_postfix(loss=f"{values['train/loss']:.3f}",
                                     tok_s=f"{values['train/target_tokens_per_second']:.0f}")
                window.update(loss=0.0, tokens=0, examples=0, updates=0, time=time.monotonic())
            state.elapsed_seconds = time.monotonic() - started
            if tc.max_steps and state.step >= tc.max_steps:
                state.stop_reason = f"reached max_steps={tc.max_steps}"
            if tc.max_time_minutes and state.elapsed_seconds >= 60 * tc.max_time_minutes:
                state.stop_reason = f"reached max_time_minutes={tc.max_time_minutes}"
            if tc.eval_every_steps and state.step % tc.eval_every_steps == 0 or state.stop_reason:
                evaluate_and_save()
                if not tc.checkpoint_every_steps:
                    save_checkpoint(accelerator, run_dir, state, tc.keep_checkpoints)
            if tc.checkpoint_every_steps and state.step % tc.checkpoint_every_steps == 0:
                save_checkpoint(accelerator, run_dir, state, tc.keep_checkpoints)
            if state.stop_reason:
                break
        else:
            state.epoch += 1
            state.batches_in_epoch = 0
            if not tc.eval_every_steps:
                evaluate_and_save()
                save_checkpoint(accelerator, run_dir, state, tc.keep_checkpoints)
    progress.close()
    if state.last_eval_step != state.step:  # the final weights have not been validated yet
        evaluate_and_save()
    if accelerator.is_main_process:
        _save_model(accelerator.unwrap_model(model), run_dir / "last", tokenizer, config, task)
        plot_learning_curve(run_dir / "metrics.jsonl", run_dir / "learning_curve.png")
    accelerator.print(f"stopped: {state.stop_reason}; best {tc.eval_metric} {state.best_metric} "
                      f"at step {state.best_step}; model in {run_dir / 'model'}")
    accelerator.end_training()
    return run_dir


def _save_model(model: Seq2SeqModel, directory: Path, tokenizer: Tokenizer, config: Config, task: Task) -> None:
    model.save_pretrained(directory, tokenizer=tokenizer, extra={
        "task": task.name,
        "generation": config_to_dict(config.generation),
        "data": {"source_column": config.data.source_column, "target_column": config.data.target_column},
    })


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat
