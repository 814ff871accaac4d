"""Assembling an experiment: accelerator, run directory, data and tokenizer, model, optimizer.

``assemble`` turns a config and a task (``task.py``) into everything the training loop needs
(``Experiment``), restoring a checkpoint when resuming; ``training.py`` runs the loop. The parts
live by concern: ``config_checks.py`` (settings checked before any work), ``training_data.py``
(rows -> examples -> loader), ``tokenizer_training.py``, ``optimization.py`` (optimizer and
schedule) and ``builders.py`` (the model).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed

from seq2seq.batching import MicroBatchSampler
from seq2seq.builders import build_model
from seq2seq.checkpoints import find_resume_checkpoint
from seq2seq.config import Config, TrainingConfig, config_to_dict
from seq2seq.config_checks import check_config
from seq2seq.continued import continued_model, with_saved_architecture
from seq2seq.data import Batch, Examples
from seq2seq.model import Seq2SeqModel
from seq2seq.optimization import build_optimizer, build_scheduler, tune_cpu_allocator
from seq2seq.processors import Processor
from seq2seq.run_directory import check_new_run, check_resumable, clear_run_files
from seq2seq.streaming import StreamingExamples, StreamingLoader
from seq2seq.task import Task
from seq2seq.tokenization import Tokenizer
from seq2seq.training_data import (
    cache_frame_features,
    describe_training_data,
    load_data,
    make_train_loader,
    warn_if_targets_exceed_the_length_limit,
)

logger = get_logger(__name__)  # logs on the main process only


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


@dataclass
class Experiment:
    """Everything a training run works with; model and optimizer are prepared by Accelerate."""

    config: Config
    task: Task
    accelerator: Accelerator
    run_dir: Path
    checkpoint: Path | None  # to resume from
    tokenizer: Tokenizer
    processors: dict[str, Processor]
    train_data: Examples | StreamingExamples
    valid_data: Examples
    model: Seq2SeqModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    sampler: MicroBatchSampler | StreamingLoader
    loader: Iterable[Batch]  # a DataLoader, or the StreamingLoader
    total_steps: int | None  # None: a stream without training.max_steps
    # What the saved model records about its training data (the longest input, a task's label
    # set): computed once here, not re-read from the data at every save.
    training_description: dict[str, Any]
    dropped: dict[str, int]  # training examples dropped when map-style data was prepared, by reason


def assemble(config: Config, task: Task, *, resume: bool = False, overwrite: bool = False) -> Experiment:
    """Check the config, claim the run directory, then build data, tokenizer, model and optimizer."""
    if config.training.init_from:  # the saved model's architecture, before the run records its config
        config = with_saved_architecture(config)
    check_config(config, task)
    tc = config.training
    run_dir = Path(tc.output_dir)
    tune_cpu_allocator()
    accelerator = make_accelerator(tc, run_dir)
    set_seed(tc.seed)
    checkpoint = prepare_run_directory(run_dir, config, accelerator, resume=resume, overwrite=overwrite)
    accelerator.print(f"training on {accelerator.num_processes} process(es), device {accelerator.device}")
    data = load_data(config, task, run_dir, accelerator)
    tokenizer, processors, train_data, valid_data = data.tokenizer, data.processors, data.train, data.valid
    warn_if_targets_exceed_the_length_limit(data.described_target_ids, config.generation.max_length)
    if tc.init_from:
        model = continued_model(tc.init_from, tokenizer)
        model.label_smoothing = tc.label_smoothing
    else:
        model = build_model(config.model, config.inputs, source_vocab_size=tokenizer.source_vocab_size,
                            target_vocab_size=tokenizer.target_vocab_size, label_smoothing=tc.label_smoothing)
    train_data, valid_data = cache_frame_features(config, model, [train_data, valid_data], accelerator)
    optimizer = build_optimizer(model, tc)
    sampler, loader = make_train_loader(train_data, tc, accelerator)
    total_steps = tc.max_steps or (tc.max_epochs * sampler.num_updates if sampler.num_updates is not None else None)
    scheduler = build_scheduler(optimizer, tc, total_steps or 1)
    model, optimizer = accelerator.prepare(model, optimizer)
    return Experiment(config, task, accelerator, run_dir, checkpoint, tokenizer, processors, train_data, valid_data,
                      model, optimizer, scheduler, sampler, loader, total_steps,
                      describe_training_data(task, processors, data.described_ids, data.described_targets,
                                             data.described_target_ids), data.dropped)


