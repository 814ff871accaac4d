"""Run under `accelerate launch --num_processes 2 --cpu`: decode N sources shared across processes."""

import json
import sys
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator

# The project first (tests/seq2seq must not shadow the package), then tests/ for conftest.
sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
from conftest import make_model  # noqa: E402

from seq2seq.data import Examples  # noqa: E402
from seq2seq.evaluation import generate_distributed  # noqa: E402
from seq2seq.processors import TextProcessor  # noqa: E402


def sources(count: int) -> Examples:
    generator = torch.Generator().manual_seed(0)
    rows = [torch.randint(4, 30, (int(torch.randint(2, 9, (1,), generator=generator)),), generator=generator).tolist()
            + [3] for _ in range(count)]
    return Examples(datasets.Dataset.from_dict({"source": rows}), {"source": TextProcessor(None)})


if __name__ == "__main__":
    count, output = int(sys.argv[1]), sys.argv[2]
    accelerator = Accelerator(cpu=True)
    ids = generate_distributed(make_model(target_vocab_size=8), sources(count), accelerator, batch_size=8,
                               num_beams=2, max_length=12, length_penalty=1.0)
    if accelerator.is_main_process:
        Path(output).write_text(json.dumps({"processes": accelerator.num_processes, "ids": ids}))
    accelerator.wait_for_everyone()
    accelerator.end_training()  # tears the process group down before the interpreter exits
