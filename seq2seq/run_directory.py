"""Who may use a run directory: a new run, a resumed one, or an explicit overwrite.

A run directory (``training.output_dir``) belongs to one run. Starting a new run where another
left its files would mix them: checkpoint pruning keeps the highest step numbers (the old run's),
the old tokenizer would be reused, and ``metrics.jsonl`` would be appended to. So a new run needs
a directory without run files; ``--resume`` continues the run that is there, after checking that
the config describes the same experiment; ``--overwrite`` deletes the old run's files (and only
those) first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from seq2seq.strict import ConfigError, flatten

CONFIG_FILE = "config.json"
# Everything a run writes; --overwrite deletes these and leaves anything else alone.
RUN_FILES = ("config.json", "tokenizer", "cache", "model", "last", "checkpoints", "metrics.jsonl",
             "learning_curve.png", "valid_predictions.txt", "valid_report.json", "confusion_matrix.png",
             "restarts", "restarts.json")

# Settings a resumed run may change: limits, evaluation, logging and checkpoint cadence, decoding.
# Everything else (task, inputs, data, tokenizer, model, optimisation, batching, seed) must be unchanged,
# or the resumed run would silently be a different experiment.
RESUMABLE_SECTIONS = ("generation.",)
RESUMABLE = {f"training.{name}" for name in (
    "output_dir", "max_epochs", "max_steps", "max_time_minutes", "max_bad_steps", "eval_every_steps", "metrics",
    "eval_metric", "target_metric", "eval_num_beams", "max_eval_examples", "early_stopping_patience",
    "log_every_steps", "checkpoint_every_steps", "keep_checkpoints", "num_workers", "log_with",
)}


class RunDirectoryError(RuntimeError):
    """The run directory holds another run, or a run that cannot be resumed with this config."""


def existing_run_files(run_dir: Path) -> list[str]:
    return [name for name in RUN_FILES if (run_dir / name).exists()]


def check_new_run(run_dir: Path, *, overwrite: bool) -> None:
    """A new run may start here: no run files, or ``overwrite`` (then the caller clears them)."""
    found = existing_run_files(run_dir)
    if found and not overwrite:
        raise RunDirectoryError(
            f"{run_dir} already holds a training run ({', '.join(found)}); pass --resume to continue it, "
            "or --overwrite to delete it and start again (or set training.output_dir)"
        )


def clear_run_files(run_dir: Path) -> None:
    for name in existing_run_files(run_dir):
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def check_resumable(run_dir: Path, config: dict[str, Any]) -> None:
    """The saved run's config describes the same experiment as ``config`` (a dict of sections)."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunDirectoryError(f"cannot resume: {path} is missing (no run was started in {run_dir})")
    from seq2seq.config import Config, config_to_dict

    saved = flatten(json.loads(path.read_text(encoding="utf-8")))
    current = flatten(config)
    # A setting added after the run started is taken at its default: the run was made without it.
    defaults = flatten(config_to_dict(Config()))
    saved.update({key: defaults[key] for key in current if key not in saved and key in defaults})
    fixed = [key for key in sorted(set(saved) | set(current))
             if key not in RESUMABLE and not key.startswith(RESUMABLE_SECTIONS)]
    changed = [key for key in fixed if saved.get(key) != current.get(key)]
    if changed:
        shown = "; ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise ConfigError(
            f"cannot resume the run in {run_dir}: the config changed ({shown}{more}). Resume with the run's own "
            f"settings (they are in {path}), or start a new run with --overwrite or another training.output_dir"
        )
