"""A training run in progress: its state across resumes, metrics log, progress bar, clocks, evaluation and saving."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from tqdm.auto import tqdm

from seq2seq.checkpoints import load_checkpoint, save_checkpoint
from seq2seq.columns import resolve_columns
from seq2seq.config import config_to_dict
from seq2seq.evaluation import evaluate
from seq2seq.experiment import Experiment
from seq2seq.model import Seq2SeqModel
from seq2seq.plots import plot_learning_curve
from seq2seq.strict import flatten
from seq2seq.update import StepResult, any_process

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
