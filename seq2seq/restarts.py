"""Restarts: short runs from several seeds, then the best of them by validation trains on.

On small data (bAbI 1k) what a run finds depends on its initialisation: some seeds pick up the
chaining of facts in the first minutes, others much later. Memory networks and QRN report the
best of several runs by validation; within one time budget this module does the same early on.

With ``training.restarts: N`` a run first trains N candidates, seeds ``seed`` .. ``seed + N - 1``,
for ``training.restart_steps`` updates each in ``output_dir/restarts/seed_S/``. The candidate with
the best validation score then moves into ``output_dir`` and continues as if it had been trained
there (its seed is the run's seed from then on). ``training.max_time_minutes`` covers the
candidates too: the continued run starts with all of their training time spent. ``restarts.json``
records every candidate's score. ``--resume`` continues wherever the command stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from accelerate import PartialState

from seq2seq.checkpoints import STATE_FILE, list_checkpoints
from seq2seq.config import Config
from seq2seq.config_checks import check_config
from seq2seq.run_directory import RUN_FILES, check_new_run, clear_run_files

CANDIDATES_DIR = "restarts"
SUMMARY_FILE = "restarts.json"


def with_training(config: Config, **changes) -> Config:
    return dataclasses.replace(config, training=dataclasses.replace(config.training, **changes))


def candidate_dir(run_dir: Path, seed: int) -> Path:
    return run_dir / CANDIDATES_DIR / f"seed_{seed}"


def _newest_state(run_dir: Path) -> tuple[Path | None, dict]:
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        return None, {}
    path = checkpoints[-1] / STATE_FILE
    return path, json.loads(path.read_text(encoding="utf-8"))


def _last_score(run_dir: Path, metric: str) -> float:
    """The candidate's score at its final evaluation: the weights that would train on."""
    scores = [row[f"valid/{metric}"] for row in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
              if f"valid/{metric}" in row]
    if not scores:
        raise RuntimeError(f"{run_dir}: the restart candidate has no validation {metric} in metrics.jsonl")
    return scores[-1]


def _spend_time(state_path: Path, seconds: float) -> None:
    """Start the continued run's clock at ``seconds`` (the state file is not among the checksummed files)."""
    sealed = json.loads(state_path.read_text(encoding="utf-8"))
    sealed["trainer"]["elapsed_seconds"] = seconds
    staging = state_path.with_suffix(".tmp")
    staging.write_text(json.dumps(sealed, indent=2), encoding="utf-8")
    os.replace(staging, state_path)


def _adopt(candidate: Path, run_dir: Path) -> None:
    """Move the winner's run files into the run directory (the others stay for inspection)."""
    for name in RUN_FILES:
        if (candidate / name).exists():
            shutil.move(str(candidate / name), str(run_dir / name))


def start_from_best_candidate(config: Config, task, train_run: Callable[..., Path], *, resume: bool,
                              overwrite: bool) -> Config:
    """Train (or finish) the candidates and move the best into ``training.output_dir``; returns
    the config to continue it with (resume=True): the winner's seed."""
    check_config(config, task)  # before the first candidate, not after it
    tc, state = config.training, PartialState()
    run_dir = Path(tc.output_dir)
    summary_path = run_dir / SUMMARY_FILE
    if resume and summary_path.is_file():  # the candidates are done: continue the chosen one
        return with_training(config, seed=json.loads(summary_path.read_text())["chosen_seed"])
    if not resume:
        check_new_run(run_dir, overwrite=overwrite)
        state.wait_for_everyone()
        if overwrite and state.is_main_process:
            clear_run_files(run_dir)
    lower_is_better = tc.eval_metric in getattr(task, "lower_is_better", ())
    candidates, spent = [], 0.0
    for seed in range(tc.seed, tc.seed + tc.restarts):
        directory = candidate_dir(run_dir, seed)
        _, saved = _newest_state(directory)
        step = saved.get("trainer", {}).get("step", 0)
        if step < tc.restart_steps:  # not started, or stopped before its end: (re)train it
            train_run(with_training(config, seed=seed, output_dir=str(directory)), task, resume=step > 0,
                      overwrite=step == 0, stop_after_steps=tc.restart_steps)
        _, saved = _newest_state(directory)
        spent += saved["trainer"]["elapsed_seconds"]
        candidates.append({"seed": seed, tc.eval_metric: _last_score(directory, tc.eval_metric)})
    best = (min if lower_is_better else max)(candidates, key=lambda candidate: candidate[tc.eval_metric])
    if state.is_main_process:
        _adopt(candidate_dir(run_dir, best["seed"]), run_dir)
        _spend_time(_newest_state(run_dir)[0], spent)
        summary = {"metric": tc.eval_metric, "restart_steps": tc.restart_steps, "chosen_seed": best["seed"],
                   "candidates": candidates}
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    state.wait_for_everyone()
    if tc.max_time_minutes and spent >= 60 * tc.max_time_minutes:
        state.print(f"restarts: the candidates used all of training.max_time_minutes={tc.max_time_minutes:g}; the "
                    "chosen one trains no further (raise the limit or lower training.restart_steps)")
    scores = ", ".join(f"seed {candidate['seed']}: {candidate[tc.eval_metric]:.2f}" for candidate in candidates)
    state.print(f"restarts: seed {best['seed']} has the best {tc.eval_metric} after {tc.restart_steps} updates "
                f"({scores}); training it on")
    return with_training(config, seed=best["seed"])
