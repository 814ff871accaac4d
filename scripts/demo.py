"""Start a local web demo of trained models: one tab per model, chosen by its task.

    pip install -e ".[demo]"
    python scripts/demo.py --model runs/translation/model --model runs/action_recognition/model
    python scripts/demo.py --model runs/speech_recognition/model --port 7870 --quantize int8

Translation (with the attention heat map and beam size), action recognition (label scores and the
attention over the frames), speech recognition (microphone or upload), question answering (the
story's sentences shaded by attention, per hop), text generation and forecasting. It serves on
127.0.0.1 only unless --host says otherwise; open the address it prints. Ctrl-C stops it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.demo import build_demo, launch  # noqa: E402
from pipelines.demo.common import require_gradio  # noqa: E402
from seq2seq import cli  # noqa: E402


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--model", action="append", required=True,
                        help="model directory written by training (repeat for more tabs)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quantize", choices=["int8"], help="run the models in int8 (smaller and faster on CPU)")
    parser.add_argument("--examples-dir", help="where the generated example inputs are written (default: a "
                        "temporary folder)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        require_gradio()
    except ImportError as error:  # a missing extra is the user's to install: one line, status 2
        raise ValueError(str(error)) from None
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)
    options = {"device": args.device, **({"quantize": args.quantize} if args.quantize else {})}
    demo = build_demo(args.model, examples_dir=args.examples_dir, **options)
    launch(demo, host=args.host, port=args.port, block=True)


if __name__ == "__main__":
    cli.run(main)
