"""Run under the 2-process launcher: train with a time limit while rank 1's clock runs 100x fast.

Each process checks its own clock, so without an agreed decision rank 1 would stop (and enter
evaluation's collectives) while rank 0 enters the next update's. Writes each rank's number of
updates to ``<output>.rank<R>``.
"""

import os
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
from conftest import tiny_config  # noqa: E402

import seq2seq.run  # noqa: E402
import seq2seq.training as training  # noqa: E402
from pipelines import get_task  # noqa: E402


class FastClock:
    def __init__(self, speed: float):
        self.speed, self.origin = speed, time.monotonic()

    def monotonic(self) -> float:
        return self.origin + (time.monotonic() - self.origin) * self.speed


if __name__ == "__main__":
    run_dir, output = sys.argv[1], Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    if rank == 1:
        seq2seq.run.time = FastClock(100.0)  # the run's clock: its time limit
    updates = []
    original_step = training.train_step

    def counted_step(*args, **kwargs):
        updates.append(1)
        return original_step(*args, **kwargs)

    training.train_step = counted_step
    config = tiny_config(run_dir, data={"generated_sizes": {"train": 2000, "validation": 16, "test": 4}},
                         training={"max_time_minutes": 0.1, "max_steps": 100_000, "eval_every_steps": 0,
                                   "early_stopping_patience": 0, "max_epochs": 1000})
    training.train(config, get_task("translation"))
    output.with_suffix(f".rank{rank}").write_text(str(len(updates)))
