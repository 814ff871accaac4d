"""Train a model from a YAML config.

    accelerate launch scripts/train.py --config configs/translation.yaml [section.key=value ...]
    python scripts/train.py --config configs/translation.yaml training.max_epochs=2

A new run needs an output directory without another run's files: --resume continues that run,
--overwrite deletes its files first.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

from pipelines import get_task  # noqa: E402
from seq2seq import cli  # noqa: E402
from seq2seq.config import load_config  # noqa: E402
from seq2seq.training import train  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = cli.make_parser(__doc__)
    parser.add_argument("--config", required=True, help="YAML experiment file")
    parser.add_argument("--resume", action="store_true", help="continue the run in training.output_dir from its "
                        "newest complete checkpoint (the config must describe the same experiment)")
    parser.add_argument("--overwrite", action="store_true", help="delete the run files in training.output_dir "
                        "and start a new run there")
    parser.add_argument("overrides", nargs="*", help="section.key=value settings that replace the file's")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per saved file is noise
    config = load_config(args.config, args.overrides)
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the run in the output directory, --overwrite deletes it: choose one")
    task = get_task(config.task)
    if task.name == "forecasting":  # a regression model with a loop of its own (seq2seq/forecast_training.py)
        from seq2seq.config_checks import check_config
        from seq2seq.forecast_training import train_forecaster

        check_config(config, task)
        if args.resume:
            raise ValueError("forecasting runs take seconds to minutes and are not resumed: start again with "
                             "--overwrite")
        train_forecaster(config, overwrite=args.overwrite)
        return
    train(config, task, resume=args.resume, overwrite=args.overwrite)


if __name__ == "__main__":
    cli.run(main)
