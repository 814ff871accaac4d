"""Train a model from a YAML config.

    accelerate launch scripts/train.py --config configs/translation.yaml [section.key=value ...]
    python scripts/train.py --config configs/translation.yaml training.max_epochs=2
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout too

from pipelines import get_task  # noqa: E402
from seq2seq.config import load_config  # noqa: E402
from seq2seq.training import train  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML experiment file")
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    parser.add_argument("overrides", nargs="*", help="section.key=value settings that replace the file's")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per saved file is noise
    config = load_config(args.config, args.overrides)
    train(config, get_task(config.task), resume=args.resume)


if __name__ == "__main__":
    main()
