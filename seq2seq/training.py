"""The Accelerate training loop: updates, evaluation, checkpoints and logs.

A run directory holds ``tokenizer/``, ``model/`` (best by the validation metric), ``last/``,
``checkpoints/step_N/`` (see ``checkpoints.py``), and ``metrics.jsonl``. One update sees the
configured batch whatever the number of processes and accumulation steps, and its loss is the
sum over the batch's target tokens divided by their global count, so runs on 1 or P processes, with
or without accumulation, follow the same curve. Only the main process writes files.
``experiment.py`` assembles what the loop works with; this module runs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from tqdm.auto import tqdm

from seq2seq.checkpoints import load_checkpoint, save_checkpoint
from seq2seq.columns import resolve_columns
from seq2seq.config import Config, config_to_dict, flatten
from seq2seq.data import Batch, Examples
from seq2seq.evaluation import generate_distributed, search_options
from seq2seq.experiment import Experiment, Task, assemble
from seq2seq.model import Seq2SeqModel
from seq2seq.plots import plot_learning_curve
from seq2seq.restarts import start_from_best_candidate
from seq2seq.sources import sample_indices

logger = get_logger(__name__)  # logs on the main process only


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


def iterate_updates(loader: Iterable[Batch], micro_batches: int,
                    accelerator: Accelerator | None = None) -> Iterable[list[Batch]]:
    """The loader's micro-batches grouped by optimizer update, while every process has one (a
    stream gives processes different numbers of updates; an update all of them cannot join
    would wait forever in its collectives).

    A stream's loader groups its updates itself (``StreamingLoader.iter_updates``): there an
    update whose examples were all dropped is an empty list, for the loop to count as read."""
    if hasattr(loader, "iter_updates"):
        updates = iter(loader.iter_updates())
    else:
        batches = iter(loader)
        updates = iter(lambda: list(itertools.islice(batches, micro_batches)), [])
    for group in itertools.chain(updates, [None]):
        if accelerator is not None and any_process(accelerator, group is None) or group is None:
            return
        yield group


# ---------------------------------------------------------------------------------------------
# evaluation and logging


def evaluate(model, data: Examples, tokenizer, task: Task, config: Config,
             accelerator: Accelerator) -> tuple[dict[str, float], list[str], list[str]]:
    """Task metrics on ``data`` (at most training.max_eval_examples), predictions and references."""
    limit = config.training.max_eval_examples
    if limit and len(data) > limit:  # a sample across the split, in proportion to the references
        data = data.select(sample_indices(len(data), limit, seed=config.training.seed, strata=data.references))
    references = data.references
    ids = generate_distributed(
        model, data, accelerator, batch_size=config.generation.batch_size,
        **search_options(config.generation, num_beams=config.training.eval_num_beams),
    )
    predictions = tokenizer.decode_target(ids)
    return task.compute_metrics(predictions, references, config.training.metrics or None), predictions, references


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


# ---------------------------------------------------------------------------------------------
# the loop


def train(config: Config, task: Task, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Train a model as ``config`` says; returns the run directory.

    ``resume`` continues the run in ``training.output_dir``; a new run refuses a directory that
    holds another run's files unless ``overwrite`` (see ``run_directory.py``). With
    ``training.restarts`` the run trains on from the best of several short runs (``restarts.py``).
    """
    if config.training.restarts > 1:
        config = start_from_best_candidate(config, task, train_run, resume=resume, overwrite=overwrite)
        resume = True
    return train_run(config, task, resume=resume, overwrite=overwrite)


def train_run(config: Config, task: Task, *, resume: bool = False, overwrite: bool = False,
              stop_after_steps: int = 0) -> Path:
    """One training run; ``stop_after_steps`` ends a restart candidate (and keeps Accelerate up
    for the runs after it)."""
    experiment = assemble(config, task, resume=resume, overwrite=overwrite)
    run, tc = Run(experiment), config.training
    state = run.state
    experiment.model.train()
    while not state.stop_reason:
        if state.epoch >= tc.max_epochs:
            state.stop_reason = f"reached max_epochs={tc.max_epochs}"
            break
        experiment.sampler.set_epoch(state.epoch, start_update=state.batches_in_epoch)
        experiment.train_data.set_epoch(state.epoch)
        # Only a stream gives processes different numbers of updates: map-style needs no check.
        accelerator_or_none = experiment.accelerator if config.data.streaming else None
        for micro_batches in iterate_updates(experiment.loader, tc.gradient_accumulation_steps, accelerator_or_none):
            if not micro_batches if accelerator_or_none is None else any_process(accelerator_or_none,
                                                                                not micro_batches):
                # Every example of this update was dropped (on some process): it was read, not trained.
                state.batches_in_epoch += 1
                continue
            result = train_step(experiment.model, experiment.optimizer, micro_batches, experiment.accelerator,
                                tc.clip_grad_norm)
            experiment.scheduler.step()
            run.record(result)
            if state.step % tc.log_every_steps == 0:
                run.log_window()
            run.check_limits()
            if stop_after_steps and state.step >= stop_after_steps:
                state.stop_reason = state.stop_reason or f"restart candidate: {stop_after_steps} updates"
            with run.paused():
                evaluate_now = bool(tc.eval_every_steps and state.step % tc.eval_every_steps == 0 or state.stop_reason)
                if evaluate_now:
                    run.evaluate_and_save()
                if (tc.checkpoint_every_steps and state.step % tc.checkpoint_every_steps == 0) or \
                        (evaluate_now and not tc.checkpoint_every_steps):
                    run.checkpoint()
            if state.stop_reason:
                break
        else:
            run.log_dropped()
            state.epoch += 1
            state.batches_in_epoch = 0
            if not tc.eval_every_steps:
                with run.paused():
                    run.evaluate_and_save()
                    run.checkpoint()
    run.finish(end_training=not stop_after_steps)
    return experiment.run_dir


class Run:
    """A training run in progress: its counters, metrics log, progress bar and clocks."""

    def __init__(self, experiment: Experiment):
        self.experiment, self.tc = experiment, experiment.config.training
        self.accelerator = experiment.accelerator
        self.log = MetricsLog(self.accelerator, experiment.run_dir / "metrics.jsonl")
        self.state = self._restore()
        if experiment.dropped and not self.state.step:  # map-style drops happen once, at preparation
            self.log(0, **{f"data/dropped_{reason}": count for reason, count in sorted(experiment.dropped.items())})
        if self.tc.log_with:
            flat = flatten(config_to_dict(experiment.config))
            self.accelerator.init_trackers(experiment.run_dir.name, config={
                k: v for k, v in flat.items() if isinstance(v, (int, float, str, bool))})
        limit = f" (at most {self.tc.max_time_minutes:g} min)" if self.tc.max_time_minutes else ""
        self.progress = tqdm(total=experiment.total_steps, initial=self.state.step, desc="training" + limit,
                             disable=not self.accelerator.is_local_main_process, dynamic_ncols=True, mininterval=2.0)
        self.started = time.monotonic() - self.state.elapsed_seconds  # the run's clock, across resumes
        self.started_here = self.window_started = time.monotonic()
        self.steps_at_start = self.state.step  # a disabled bar (other processes) keeps no ``initial``
        self.best_predictions: tuple[list[str], list[str]] | None = None  # of this process's best evaluation

    def _restore(self) -> TrainerState:
        checkpoint = self.experiment.checkpoint
        if checkpoint is None:
            return TrainerState()
        saved = load_checkpoint(self.accelerator, checkpoint)
        self.experiment.scheduler.load_state_dict(saved.pop("scheduler"))
        state = TrainerState(**saved)
        state.stop_reason = ""  # the limits may have been raised for this run
        self.log.truncate_after(state.step)
        self.accelerator.print(f"resumed from {checkpoint} (update {state.step}, epoch {state.epoch}, "
                               f"batch {state.batches_in_epoch})")
        return state

    def record(self, result: StepResult) -> None:
        """Count an update: the logging window, or a skipped update (and stop after too many)."""
        state, tc = self.state, self.tc
        state.step += 1
        state.batches_in_epoch += 1
        self.progress.update(1)
        if result.overflow:
            logger.info("update %d skipped by the fp16 loss scaler (gradient overflow)", state.step)
        if result.finite:
            state.bad_steps = 0
            state.window_loss += result.loss_sum
            state.window_tokens += result.num_tokens
            state.window_examples += result.num_examples
            return
        state.bad_steps += 1
        logger.warning("update %d skipped: non-finite loss or gradient (%d in a row)", state.step, state.bad_steps)
        if state.bad_steps >= tc.max_bad_steps:
            state.stop_reason = (f"{state.bad_steps} consecutive updates had a non-finite loss or gradient "
                                 f"(training.max_bad_steps={tc.max_bad_steps}); lower the learning rate "
                                 "or check the data")

    def log_window(self) -> None:
        """Average loss and throughput since the last log line."""
        state = self.state
        seconds = time.monotonic() - self.window_started
        values = {"train/loss": state.window_loss / max(1, state.window_tokens),
                  "train/lr": self.experiment.scheduler.get_last_lr()[0],
                  "train/target_tokens_per_second": state.window_tokens / seconds,
                  "train/examples_per_second": state.window_examples / seconds}
        self.log(state.step, **values)
        self.progress.set_postfix(loss=f"{values['train/loss']:.3f}",
                                  tok_s=f"{values['train/target_tokens_per_second']:.0f}")
        if self.tc.max_time_minutes:  # the bar's end is where the time limit will stop training
            rate = (state.step - self.steps_at_start) / max(time.monotonic() - self.started_here, 1e-9)
            left = 60 * self.tc.max_time_minutes - (time.monotonic() - self.started)
            self.progress.total = min(self.experiment.total_steps or math.inf, state.step + max(0, round(rate * left)))
        state.window_loss, state.window_tokens, state.window_examples = 0.0, 0, 0
        self.window_started = time.monotonic()

    def log_dropped(self) -> None:
        """A stream's examples dropped this epoch, by reason and summed over processes, in
        metrics.jsonl (map-style data drops them once, when it is prepared, with a warning)."""
        dropped = getattr(self.experiment.train_data, "dropped", None)
        if dropped is None:
            return
        # Rows of this process's share an epoch ended without (another process's share ran out).
        dropped = {**dropped, "uneven_shards": self.experiment.loader.unread_examples()}
        reasons = ("unreadable", "unlabelled", "length", "duration", "uneven_shards")
        counts = torch.tensor([float(dropped.get(reason, 0)) for reason in reasons])
        counts = self.accelerator.reduce(counts.to(self.accelerator.device), reduction="sum").tolist()
        if any(counts):
            self.log(self.state.step, epoch=self.state.epoch,
                     **{f"data/dropped_{reason}": int(count) for reason, count in zip(reasons, counts, strict=True)})
            if counts[-1]:
                logger.warning("%d streamed examples were not trained this epoch: the processes' shares of the stream "
                               "are uneven and an epoch ends when the first runs out (more, equal shards help)",
                               int(counts[-1]))

    def check_limits(self) -> None:
        state, tc = self.state, self.tc
        state.elapsed_seconds = time.monotonic() - self.started
        if tc.max_steps and state.step >= tc.max_steps:
            state.stop_reason = f"reached max_steps={tc.max_steps}"
        # Each process has its own clock: they must agree, or one would stop while another trains on.
        if tc.max_time_minutes and any_process(self.accelerator, state.elapsed_seconds >= 60 * tc.max_time_minutes):
            state.stop_reason = state.stop_reason or f"reached max_time_minutes={tc.max_time_minutes:g}"

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Evaluation and checkpoints do not count as training time in the logged throughput."""
        paused = time.monotonic()
        yield
        self.window_started += time.monotonic() - paused

    def checkpoint(self) -> None:
        state, experiment = self.state, self.experiment
        save_checkpoint(self.accelerator, experiment.run_dir,
                        {**dataclasses.asdict(state), "scheduler": experiment.scheduler.state_dict()},
                        step=state.step, keep=self.tc.keep_checkpoints, protect={state.best_step})

    def evaluate_and_save(self) -> None:
        """Validate; keep the best model; decide on early stopping and the target metric."""
        state, tc, experiment = self.state, self.tc, self.experiment
        state.last_eval_step = state.step
        model = self.accelerator.unwrap_model(experiment.model)
        metrics, predictions, references = evaluate(model, experiment.valid_data, experiment.tokenizer,
                                                    experiment.task, experiment.config, self.accelerator)
        experiment.model.train()
        self.log(state.step, **{f"valid/{k}": v for k, v in metrics.items()})
        # Error rates (a task's lower_is_better metrics) are compared negated: higher is better.
        sign = -1.0 if tc.eval_metric in getattr(experiment.task, "lower_is_better", ()) else 1.0
        score = metrics[tc.eval_metric]
        if state.best_metric is None or sign * score > sign * state.best_metric:
            state.best_metric, state.best_step, state.evals_without_improvement = score, state.step, 0
            if self.accelerator.is_main_process:
                self.save_model("model")
                (experiment.run_dir / "valid_predictions.txt").write_text("\n".join(predictions) + "\n",
                                                                          encoding="utf-8")
                self.best_predictions = (predictions, references)
        else:
            state.evals_without_improvement += 1
        if self.accelerator.is_main_process:
            self.progress.write(f"step {state.step}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
                                + f" (best {tc.eval_metric} {state.best_metric:.2f} at step {state.best_step})")
        if tc.target_metric is not None and sign * score >= sign * tc.target_metric:
            state.stop_reason = (f"reached the target: {tc.eval_metric} {score:.2f} {'>=' if sign > 0 else '<='} "
                                 f"{tc.target_metric:g}")
        elif tc.early_stopping_patience and state.evals_without_improvement >= tc.early_stopping_patience:
            state.stop_reason = f"early stopping: no {tc.eval_metric} gain in {tc.early_stopping_patience} evaluations"

    def save_model(self, name: str) -> None:
        experiment = self.experiment
        _save_model(self.accelerator.unwrap_model(experiment.model), experiment.run_dir / name, experiment)

    def finish(self, *, end_training: bool = True) -> None:
        """Validate the final weights if needed, save them as ``last``, draw the learning curve."""
        state, accelerator, run_dir = self.state, self.accelerator, self.experiment.run_dir
        self.progress.close()
        if state.last_eval_step != state.step:  # the final weights have not been validated yet
            self.evaluate_and_save()
        if accelerator.is_main_process:
            self.save_model("last")
            plot_learning_curve(run_dir / "metrics.jsonl", run_dir / "learning_curve.png")
            report = getattr(self.experiment.task, "save_report", None)  # e.g. a confusion matrix
            if report is not None and self.best_predictions is not None:
                report(*self.best_predictions, run_dir)
        accelerator.print(f"stopped: {state.stop_reason}; best {self.tc.eval_metric} {state.best_metric} "
                          f"at step {state.best_step}; model in {run_dir / 'model'}")
        accelerator.wait_for_everyone()
        if end_training:
            accelerator.end_training()  # tears the process group down before the interpreter exits


def _save_model(model: Seq2SeqModel, directory: Path, experiment: Experiment) -> None:
    config = experiment.config
    task_fields = dict(experiment.training_description)  # e.g. labels
    longest_source = task_fields.pop("longest_source")
    length_ratio = task_fields.pop("length_ratio", None)
    model.save_pretrained(directory, tokenizer=experiment.tokenizer, processors=experiment.processors, extra={
        **task_fields,
        "task": experiment.task.name,
        "generation": config_to_dict(config.generation),
        # What the run reported, so evaluate.py without a config scores the model the same way.
        "metrics": list(config.training.metrics or experiment.task.metric_names),
        # longest_source: the longest training input in tokens; pipelines warn beyond it.
        "data": {"columns": resolve_columns(experiment.task.columns, config.data.columns, experiment.task.name),
                 "longest_source": longest_source,
                 **({"length_ratio": length_ratio} if length_ratio is not None else {})},
    })
