"""Measure training and inference throughput and peak memory for a config.

    python scripts/benchmark.py                                     # the generated default corpus
    python scripts/benchmark.py --config configs/multi30k_de_en.yaml data.kind=parallel_text \
        "data.source_files={train: $D/train.de, validation: $D/val.de}" \
        "data.target_files={train: $D/train.en, validation: $D/val.en}"

Prints a table and writes the same numbers as JSON (--json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines import get_task  # noqa: E402
from seq2seq import cli  # noqa: E402
from seq2seq.benchmark import run_benchmark  # noqa: E402
from seq2seq.config import load_config  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "translation.yaml"


def main(argv: list[str] | None = None) -> None:
    parser = cli.make_parser(__doc__)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    parser.add_argument("--warmup-updates", type=int, default=10)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--window-updates", type=int, default=20)
    parser.add_argument("--inference-sentences", type=int, default=1000)
    parser.add_argument("--beams", default="1,5", help="comma-separated beam sizes to time")
    parser.add_argument("--model", help="trained model directory to time inference with (default: the untrained one)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("overrides", nargs="*", help="section.key=value settings")
    args = parser.parse_intermixed_args(argv)
    config = load_config(args.config, args.overrides)
    results = run_benchmark(
        config, get_task(config.task), warmup_updates=args.warmup_updates, windows=args.windows,
        window_updates=args.window_updates, inference_sentences=args.inference_sentences,
        beams=tuple(int(b) for b in args.beams.split(",")), model_dir=args.model,
    )
    width = max(len(key) for key in results)
    for key, value in results.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    cli.run(main)
