"""Resumable training checkpoints: written atomically, verified before use, pruned.

A checkpoint is ``run_dir/checkpoints/step_N/``: ``accelerator.save_state`` output (weights as
safetensors, optimizer and RNG states read back with ``torch.load(weights_only=True)``) plus
``trainer_state.json``, written last, with the trainer's counters and a SHA-256 of every file.
It is assembled in a hidden staging directory and renamed into place, so a directory named
``step_N`` with a trainer state is complete; a changed, truncated or missing file is caught by the
checksums before anything is loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelerate import Accelerator

STATE_FILE = "trainer_state.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or unreadable."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _step(path: Path) -> int:
    return int(path.name.split("_")[1])


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint directories that were fully written (they have a trainer state), oldest first."""
    directory = Path(run_dir) / "checkpoints"
    if not directory.is_dir():
        return []
    complete = [p for p in directory.glob("step_*") if p.name[5:].isdigit() and (p / STATE_FILE).is_file()]
    return sorted(complete, key=_step)


def save_checkpoint(accelerator: Accelerator, run_dir: str | Path, trainer_state: dict[str, Any], *,
                    step: int, keep: int, protect: set[int] = frozenset()) -> None:
    """Save on all processes; the main process seals, renames and prunes.

    Keeps the newest ``keep`` checkpoints (all when ``keep <= 0``) and those whose step is in
    ``protect`` (the best one).
    """
    directory = Path(run_dir) / "checkpoints"
    staging, final = directory / f".staging_step_{step}", directory / f"step_{step}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    # Accelerate stores a weight shared by two modules once and warns about it at every save;
    # loading restores the sharing (tested), so the warning would only be noise.
    accelerate_logger = logging.getLogger("accelerate.utils.other")
    level = accelerate_logger.level
    accelerate_logger.setLevel(logging.ERROR)
    try:
        accelerator.save_state(str(staging))
    finally:
        accelerate_logger.setLevel(level)
    accelerator.wait_for_everyone()  # every process has written its RNG state
    if accelerator.is_main_process:
        files = {p.relative_to(staging).as_posix(): _sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()}
        sealed = staging / STATE_FILE
        with open(sealed, "w", encoding="utf-8") as handle:
            json.dump({"trainer": trainer_state, "files": files}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        old = list_checkpoints(run_dir)[:-keep] if keep > 0 else []
        for path in old:
            if _step(path) not in protect:
                shutil.rmtree(path, ignore_errors=True)
    accelerator.wait_for_everyone()


def verify_checkpoint(path: str | Path) -> dict[str, Any]:
    """The trainer state of a checkpoint whose files all match their checksums."""
    path = Path(path)
    try:
        sealed = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        trainer, files = sealed["trainer"], sealed["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: unreadable {STATE_FILE} ({error})") from error
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{path}: {name} is missing")
        if _sha256(file) != expected:
            raise CheckpointError(f"{path}: {name} does not match its checksum (truncated or modified)")
    return trainer


def find_resume_checkpoint(run_dir: str | Path, warn: Callable[[str], Any] = print) -> Path:
    """The newest checkpoint that verifies; skipped ones (partial, corrupt) are reported."""
    directory = Path(run_dir) / "checkpoints"
    for partial in sorted(directory.glob(".staging_step_*")) if directory.is_dir() else []:
        warn(f"ignoring incomplete checkpoint {partial} (the run stopped while writing it)")
    for path in reversed(list_checkpoints(run_dir)):
        try:
            verify_checkpoint(path)
            return path
        except CheckpointError as error:
            warn(f"skipping corrupt checkpoint: {error}")
    raise CheckpointError(f"no complete checkpoint to resume from under {directory}")


def load_checkpoint(accelerator: Accelerator, path: str | Path) -> dict[str, Any]:
    """Restore model, optimizer and RNG states in place; returns the trainer state."""
    trainer = verify_checkpoint(path)
    try:
        accelerator.load_state(str(path))  # torch.load(weights_only=True) for every pickle file
    except Exception as error:  # noqa: BLE001 - any failure to read a state is the same problem
        raise CheckpointError(f"{path}: cannot load the saved state ({type(error).__name__}: {error})") from error
    return trainer
