"""The Accelerate training loop: updates, evaluation, checkpoints and logs.

A run directory holds ``tokenizer/``, ``model/`` (best by the validation metric), ``last/``,
``checkpoints/step_N/`` (see ``checkpoints.py``), and ``metrics.jsonl``. One update sees the
configured batch whatever the number of processes and accumulation steps, and its loss is the
sum over the batch's target tokens divided by their global count, so runs on 1 or P processes, with
or without accumulation, follow the same curve. Only the main process writes files.
``experiment.py`` assembles what the loop works with; this module runs it, one update at a time
(``update.py``), with ``run.py`` keeping the run's counters, logs, evaluations and saves.
"""

from __future__ import annotations

from pathlib import Path

from accelerate.logging import get_logger

from seq2seq.config import Config
from seq2seq.experiment import assemble
from seq2seq.restarts import start_from_best_candidate
from seq2seq.run import Run
from seq2seq.task import Task
from seq2seq.update import any_process, iterate_updates, train_step

logger = get_logger(__name__)  # logs on the main process only


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


