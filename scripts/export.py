"""Make a trained model smaller or portable for deployment.

    python scripts/export.py --model runs/multi30k/model --output deploy/multi30k_int8 --int8
    python scripts/export.py --model runs/multi30k/model --output deploy/multi30k_onnx --onnx

--int8 writes a model directory whose Linear, GRU and LSTM layers are int8 (seq2seq/quantization.py):
about a quarter of the size of those weights, faster on a CPU, and loaded like any model
(pipeline(..., model=DIR), predict.py, evaluate.py). --onnx writes ONNX graphs of a text model's
encoder and decoder step with the runner translate.py (seq2seq/export.py): the folder translates
greedily with numpy, onnxruntime and sentencepiece alone (`python DIR/translate.py "Ein Hund."`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seq2seq import cli  # noqa: E402


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--model", required=True, help="model directory written by training")
    parser.add_argument("--output", required=True, help="directory to write (replaced if it exists)")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--int8", action="store_true", help="a dynamically quantized int8 model directory")
    kind.add_argument("--onnx", action="store_true", help="ONNX graphs and a runner for greedy decoding")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if Path(args.output).resolve() == Path(args.model).resolve():
        raise ValueError("--output must differ from --model: the trained model is kept as it is")
    if args.onnx:
        from seq2seq.export import export_onnx

        export_onnx(args.model, args.output)
    else:
        save_int8(args.model, args.output)
    print(f"wrote {args.output}")


def save_int8(model_dir: str, output: str) -> None:
    from seq2seq.model import Seq2SeqModel
    from seq2seq.model_files import read_model_config
    from seq2seq.processors import load_processors
    from seq2seq.quantization import quantize_int8
    from seq2seq.tokenization import Tokenizer

    config = read_model_config(model_dir)
    tokenizer = Tokenizer.from_pretrained(model_dir)
    processors = load_processors(model_dir, tokenizer, config["inputs"])
    model = quantize_int8(Seq2SeqModel.from_pretrained(model_dir))
    model.save_pretrained(output, tokenizer=tokenizer, processors=processors)


if __name__ == "__main__":
    cli.run(main)
