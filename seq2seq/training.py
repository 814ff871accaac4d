"""The Accelerate training loop: data, model, optimizer, schedule, evaluation, checkpoints.

A run directory holds ``tokenizer/``, ``model/`` (best by the validation metric), ``last/``,
``checkpoints/step_N/`` (see ``checkpoints.py``), and ``metrics.jsonl``. One update sees the
configured batch whatever the number of processes and accumulation steps, and its loss is the
sum over the batch's target tokens divided by their global count, so runs on 1 or P processes, with
or without accumulation, follow the same curve. Only the main process writes files. The task
layer plugs in through :class:`Task`: how a dataset row becomes ``source_text``/``target_text``,
and how predictions are scored.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import datasets
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from seq2seq.checkpoints import find_resume_checkpoint, load_checkpoint, save_checkpoint
from seq2seq.config import Config, ConfigError, DataConfig, TrainingConfig, config_to_dict, did_you_mean, flatten
from seq2seq.data import (
    Batch,
    BucketBatchSampler,
    MicroBatchSampler,
    collate,
    example_lengths,
    get_split,
    load_raw_dataset,
    tokenize_dataset,
)
from seq2seq.evaluation import generate_distributed, search_options
from seq2seq.model import Seq2SeqModel, build_model
from seq2seq.plots import plot_learning_curve
from seq2seq.run_directory import check_new_run, check_resumable, clear_run_files
from seq2seq.tokenization import Tokenizer

logger = get_logger(__name__)  # logs on the main process only


class Task(Protocol):
    name: str
    metric_names: tuple[str, ...]  # what compute_metrics can report

    def make_to_example(self, data: DataConfig) -> Callable[[dict[str, Any]], dict[str, Any]]: ...

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]: ...


def check_config(config: Config, task: Task) -> None:
    """Settings that depend on the task, checked before any work starts."""
    tc = config.training
    for name in tc.metrics:
        if name not in task.metric_names:
            raise ConfigError(f"training.metrics: the {task.name} task has no metric {name!r}"
                              f"{did_you_mean(name, task.metric_names)} (available: {', '.join(task.metric_names)})")
    reported = tc.metrics or list(task.metric_names)
    if tc.eval_metric not in reported:
        raise ConfigError(f"training.eval_metric: {tc.eval_metric!r} is not among the reported metrics"
                          f"{did_you_mean(tc.eval_metric, reported)} (reported: {', '.join(reported)})")


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
    bad_steps: int = 0
    # Sums since the last log line, so a resumed run logs the same averages.
    window_loss: float = 0.0
    window_tokens: int = 0
    window_examples: int = 0
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


def load_data(config: Config, task: Task, run_dir: Path, accelerator: Accelerator):
    """Raw rows -> tokenizer -> tokenized train split and (rows, tokenized) validation split."""
    to_example = task.make_to_example(config.data)
    with accelerator.main_process_first():
        raw = load_raw_dataset(config.data)
    train_rows = get_split(raw, config.data.train_split, config.data.max_train_examples)
    valid_rows = get_split(raw, config.data.valid_split, config.data.max_valid_examples)
    tokenizer = prepare_tokenizer(config, train_rows, to_example, run_dir, accelerator)
    common = dict(to_example=to_example, cache_dir=run_dir / "cache")
    with accelerator.main_process_first():
        train_data = tokenize_dataset(
            train_rows, tokenizer, max_source_length=config.data.max_source_length,
            max_target_length=config.data.max_target_length, **common,
        )
        valid_data = tokenize_dataset(valid_rows, tokenizer, **common)
    references = [to_example(row)["target_text"] for row in valid_rows]
    return tokenizer, train_data, valid_data, references


# ---------------------------------------------------------------------------------------------
# one update


@dataclass
class StepResult:
    loss_sum: float  # over the whole update, all processes
    num_tokens: int
    num_examples: int
    finite: bool  # False: the loss (or, without a loss scaler, a gradient) was not finite; no update
    overflow: bool = False  # fp16: the loss scaler skipped this update and lowered its scale


def train_step(model, optimizer, micro_batches: list[Batch], accelerator: Accelerator,
               clip_grad_norm: float) -> StepResult:
    """One optimizer update from this process's micro-batches.

    Each micro-batch's summed loss is scaled by ``P / global_tokens``: DDP averages gradients over
    the P processes, so the update follows the gradient of (sum of token losses) / (global tokens).
    Gradients are synchronised once, on the last micro-batch.

    With fp16's loss scaler, overflowing gradients are normal early in training: the scaler's
    ``step`` skips the update and lowers the scale, and it must run on every update, or the
    next ``unscale_`` fails. Without a scaler a non-finite gradient skips the update here.
    """
    device = accelerator.device
    counts = torch.tensor([sum(b.num_target_tokens for b in micro_batches), sum(len(b) for b in micro_batches)],
                          device=device)
    global_tokens, global_examples = accelerator.reduce(counts, reduction="sum").tolist()
    scale = accelerator.num_processes / max(global_tokens, 1)
    loss_sum = torch.zeros((), device=device)
    for index, batch in enumerate(micro_batches):
        last = index == len(micro_batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            output = model(batch.to(device))
            accelerator.backward(output.loss_sum * scale)
        loss_sum += output.loss_sum.detach().float()
    loss_sum = accelerator.reduce(loss_sum, reduction="sum")
    grad_norm = accelerator.clip_grad_norm_(model.parameters(), clip_grad_norm if clip_grad_norm > 0 else math.inf)
    loss_finite = bool(torch.isfinite(loss_sum))
    overflow = False
    if accelerator.scaler is not None:
        optimizer.step()
        overflow = loss_finite and optimizer.step_was_skipped
        finite = loss_finite
    else:
        finite = loss_finite and bool(torch.isfinite(torch.as_tensor(grad_norm)))
        if finite:
            optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return StepResult(float(loss_sum), int(global_tokens), int(global_examples), finite, overflow)


def make_train_sampler(data: datasets.Dataset, config: TrainingConfig, accelerator: Accelerator) -> MicroBatchSampler:
    parts = accelerator.num_processes * config.gradient_accumulation_steps
    updates = BucketBatchSampler(example_lengths(data), batch_size=config.batch_size, batch_type=config.batch_type,
                                 shuffle=True, seed=config.seed, min_batch_size=parts)
    return MicroBatchSampler(updates, num_shards=accelerator.num_processes, shard_index=accelerator.process_index,
                             micro_batches=config.gradient_accumulation_steps)


def iterate_updates(loader: DataLoader, micro_batches: int) -> Iterable[list[Batch]]:
    """The loader's micro-batches grouped by optimizer update."""
    iterator = iter(loader)
    while group := list(itertools.islice(iterator, micro_batches)):
        yield group


# ---------------------------------------------------------------------------------------------
# evaluation and logging


def evaluate(model, data, references, tokenizer, task: Task, config: Config,
             accelerator: Accelerator) -> tuple[dict[str, float], list[str]]:
    limit = config.training.max_eval_examples
    if limit and len(data) > limit:
        data, references = data.select(range(limit)), references[:limit]
    ids = generate_distributed(
        model, data, accelerator, batch_size=config.generation.batch_size,
        **search_options(config.generation, num_beams=config.training.eval_num_beams),
    )
    predictions = tokenizer.decode_target(ids)
    return task.compute_metrics(predictions, references, config.training.metrics or None), predictions


class MetricsLog:
    """metrics.jsonl on the main process, mirrored to Accelerate trackers."""

    def __init__(self, accelerator: Accelerator, path: Path):
        self.accelerator, self.path = accelerator, path

    def __call__(self, step: int, **values: float) -> None:
        self.accelerator.log(values, step=step)
        if self.accelerator.is_main_process:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": step, **values}) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop records a killed run wrote after its last checkpoint (the resumed run rewrites them),
        and a last line the kill cut short."""
        if self.accelerator.is_main_process and self.path.is_file():
            kept = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("step", math.inf) <= step:
                    kept.append(line)
            self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def any_process(accelerator: Accelerator, flag: bool) -> bool:
    """True on every process if ``flag`` is true on any: decisions that end the loop must agree,
    or one process waits in a collective that the others never enter."""
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.reduce(torch.tensor(float(flag), device=accelerator.device), reduction="sum") > 0)


def make_accelerator(tc: TrainingConfig, run_dir: Path) -> Accelerator:
    """Accelerate with the config's precision (which wins over the launcher's, with a warning)."""
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    # Without an accelerator, say so: Accelerate then runs processes started by torchrun (the
    # multi-GPU launcher) as one CPU group over gloo instead of as independent single runs.
    on_cpu = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    accelerator = Accelerator(cpu=on_cpu, mixed_precision=tc.mixed_precision, log_with=tc.log_with or None,
                              project_dir=str(run_dir))
    if launcher not in ("", "no", tc.mixed_precision):
        logger.warning("the launcher asks for mixed_precision=%s but the config says %r; using the config's "
                       "(set training.mixed_precision=%s to use the launcher's)", launcher, tc.mixed_precision,
                       launcher)
    return accelerator


def prepare_run_directory(run_dir: Path, config: Config, accelerator: Accelerator, *, resume: bool,
                          overwrite: bool) -> Path | None:
    """Apply the run-directory rules (``run_directory.py``); the checkpoint to resume from, if any."""
    if resume:
        check_resumable(run_dir, config_to_dict(config))
        checkpoint = find_resume_checkpoint(run_dir, logger.warning)
    else:
        check_new_run(run_dir, overwrite=overwrite)
        checkpoint = None
    accelerator.wait_for_everyone()  # every process has looked before the main one changes anything
    if accelerator.is_main_process:
        if overwrite and not resume:
            clear_run_files(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config_to_dict(config), indent=2))
    return checkpoint


# ---------------------------------------------------------------------------------------------
# the loop


def train(config: Config, task: Task, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Train a model as ``config`` says; returns the run directory.

    ``resume`` continues the run in ``training.output_dir``; a new run refuses a directory that
    holds another run's files unless ``overwrite`` (see ``run_directory.py``).
    """
    check_config(config, task)
    tc = config.training
    run_dir = Path(tc.output_dir)
    tune_cpu_allocator()
    accelerator = make_accelerator(tc, run_dir)
    set_seed(tc.seed)
    checkpoint = prepare_run_directory(run_dir, config, accelerator, resume=resume, overwrite=overwrite)
    accelerator.print(f"training on {accelerator.num_processes} process(es), device {accelerator.device}")
    tokenizer, train_data, valid_data, references = load_data(config, task, run_dir, accelerator)
    longest_source = max(map(len, train_data["src_ids"]))
    model = build_model(
        config.model, source_vocab_size=tokenizer.source_vocab_size,
        target_vocab_size=tokenizer.target_vocab_size, label_smoothing=tc.label_smoothing,
    )
    optimizer = build_optimizer(model, tc)
    sampler = make_train_sampler(train_data, tc, accelerator)
    # A private generator: the loader must not draw from the global RNG, or a resumed run's
    # dropout masks would drift from an uninterrupted run's.
    loader = DataLoader(train_data, batch_sampler=sampler, collate_fn=collate, num_workers=tc.num_workers,
                        generator=torch.Generator())
    total_steps = tc.max_steps or tc.max_epochs * sampler.num_updates
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, schedule=tc.lr_schedule, warmup_steps=tc.warmup_steps, total_steps=total_steps))
    model, optimizer = accelerator.prepare(model, optimizer)
    log = MetricsLog(accelerator, run_dir / "metrics.jsonl")
    state = TrainerState()
    if checkpoint is not None:
        saved = load_checkpoint(accelerator, checkpoint)
        scheduler.load_state_dict(saved.pop("scheduler"))
        state = TrainerState(**saved)
        state.stop_reason = ""  # the limits may have been raised for this run
        log.truncate_after(state.step)
        accelerator.print(f"resumed from {checkpoint} (update {state.step}, epoch {state.epoch}, "
                          f"batch {state.batches_in_epoch})")
    if tc.log_with:
        accelerator.init_trackers(run_dir.name, config={k: v for k, v in flatten(config_to_dict(config)).items()
                                                        if isinstance(v, (int, float, str, bool))})
    progress = tqdm(total=total_steps, initial=state.step, disable=not accelerator.is_local_main_process,
                    desc="training" + (f" (at most {tc.max_time_minutes:g} min)" if tc.max_time_minutes else ""),
                    dynamic_ncols=True, mininterval=2.0)

    def checkpoint_now() -> None:
        save_checkpoint(accelerator, run_dir, {**dataclasses.asdict(state), "scheduler": scheduler.state_dict()},
                        step=state.step, keep=tc.keep_checkpoints, protect={state.best_step})

    def evaluate_and_save() -> None:
        state.last_eval_step = state.step
        unwrapped = accelerator.unwrap_model(model)
        metrics, predictions = evaluate(unwrapped, valid_data, references, tokenizer, task, config, accelerator)
        model.train()
        log(state.step, **{f"valid/{k}": v for k, v in metrics.items()})
        score = metrics[tc.eval_metric]
        if state.best_metric is None or score > state.best_metric:
            state.best_metric, state.best_step, state.evals_without_improvement = score, state.step, 0
            if accelerator.is_main_process:
                _save_model(unwrapped, run_dir / "model", tokenizer, config, task, longest_source)
                (run_dir / "valid_predictions.txt").write_text("\n".join(predictions) + "\n", encoding="utf-8")
        else:
            state.evals_without_improvement += 1
        if accelerator.is_main_process:
            progress.write(f"step {state.step}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
                           + f" (best {tc.eval_metric} {state.best_metric:.2f} at step {state.best_step})")
        if tc.target_metric is not None and score >= tc.target_metric:
            state.stop_reason = f"reached the target: {tc.eval_metric} {score:.2f} >= {tc.target_metric:g}"
        elif tc.early_stopping_patience and state.evals_without_improvement >= tc.early_stopping_patience:
            state.stop_reason = f"early stopping: no {tc.eval_metric} gain in {tc.early_stopping_patience} evaluations"

    started = time.monotonic() - state.elapsed_seconds
    started_here = window_started = time.monotonic()
    model.train()
    while not state.stop_reason:
        if state.epoch >= tc.max_epochs:
            state.stop_reason = f"reached max_epochs={tc.max_epochs}"
            break
        sampler.set_epoch(state.epoch, start_update=state.batches_in_epoch)
        for micro_batches in iterate_updates(loader, tc.gradient_accumulation_steps):
            result = train_step(model, optimizer, micro_batches, accelerator, tc.clip_grad_norm)
            scheduler.step()
            state.step += 1
            state.batches_in_epoch += 1
            progress.update(1)
            if result.overflow:
                logger.info("update %d skipped by the fp16 loss scaler (gradient overflow)", state.step)
            if result.finite:
                state.bad_steps = 0
                state.window_loss += result.loss_sum
                state.window_tokens += result.num_tokens
                state.window_examples += result.num_examples
            else:
                state.bad_steps += 1
                logger.warning("update %d skipped: non-finite loss or gradient (%d in a row)", state.step,
                               state.bad_steps)
                if state.bad_steps >= tc.max_bad_steps:
                    state.stop_reason = (f"{state.bad_steps} consecutive updates had a non-finite loss or gradient "
                                         f"(training.max_bad_steps={tc.max_bad_steps}); lower the learning rate "
                                         "or check the data")
            if state.step % tc.log_every_steps == 0:
                seconds = time.monotonic() - window_started
                values = {"train/loss": state.window_loss / max(1, state.window_tokens),
                          "train/lr": scheduler.get_last_lr()[0],
                          "train/target_tokens_per_second": state.window_tokens / seconds,
                          "train/examples_per_second": state.window_examples / seconds}
                log(state.step, **values)
                progress.set_postfix(loss=f"{values['train/loss']:.3f}",
                                     tok_s=f"{values['train/target_tokens_per_second']:.0f}")
                if tc.max_time_minutes:  # the bar's end is where the time limit will stop training
                    rate = (state.step - progress.initial) / max(time.monotonic() - started_here, 1e-9)
                    left = 60 * tc.max_time_minutes - (time.monotonic() - started)
                    progress.total = min(total_steps, state.step + max(0, round(rate * left)))
                state.window_loss, state.window_tokens, state.window_examples = 0.0, 0, 0
                window_started = time.monotonic()
            state.elapsed_seconds = time.monotonic() - started
            if tc.max_steps and state.step >= tc.max_steps:
                state.stop_reason = f"reached max_steps={tc.max_steps}"
            # Each process has its own clock: they must agree, or one would stop while another trains on.
            if tc.max_time_minutes and any_process(accelerator, state.elapsed_seconds >= 60 * tc.max_time_minutes):
                state.stop_reason = state.stop_reason or f"reached max_time_minutes={tc.max_time_minutes:g}"
            paused = time.monotonic()
            evaluated = False
            if tc.eval_every_steps and state.step % tc.eval_every_steps == 0 or state.stop_reason:
                evaluate_and_save()
                evaluated = True
            if (tc.checkpoint_every_steps and state.step % tc.checkpoint_every_steps == 0) or \
                    (evaluated and not tc.checkpoint_every_steps):
                checkpoint_now()
            window_started += time.monotonic() - paused  # logged throughput counts training time only
            if state.stop_reason:
                break
        else:
            state.epoch += 1
            state.batches_in_epoch = 0
            if not tc.eval_every_steps:
                paused = time.monotonic()
                evaluate_and_save()
                checkpoint_now()
                window_started += time.monotonic() - paused
    progress.close()
    if state.last_eval_step != state.step:  # the final weights have not been validated yet
        evaluate_and_save()
    if accelerator.is_main_process:
        _save_model(accelerator.unwrap_model(model), run_dir / "last", tokenizer, config, task, longest_source)
        plot_learning_curve(run_dir / "metrics.jsonl", run_dir / "learning_curve.png")
    accelerator.print(f"stopped: {state.stop_reason}; best {tc.eval_metric} {state.best_metric} "
                      f"at step {state.best_step}; model in {run_dir / 'model'}")
    accelerator.wait_for_everyone()
    accelerator.end_training()  # tears the process group down before the interpreter exits
    return run_dir


def _save_model(model: Seq2SeqModel, directory: Path, tokenizer: Tokenizer, config: Config, task: Task,
                longest_source: int) -> None:
    model.save_pretrained(directory, tokenizer=tokenizer, extra={
        "task": task.name,
        "generation": config_to_dict(config.generation),
        # longest_source: the longest training input in tokens; pipelines warn beyond it.
        "data": {"source_column": config.data.source_column, "target_column": config.data.target_column,
                 "longest_source": longest_source},
    })
