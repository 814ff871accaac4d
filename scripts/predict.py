"""Run a trained model: translate sentences, name the action in videos, transcribe audio, or continue text.

    python scripts/predict.py --model runs/translation/model "three hundred forty-two"
    python scripts/predict.py --model runs/multi30k/model --input val.de --num-beams 5 > hyp.en
    python scripts/predict.py --model runs/multi30k/model --num-beams 1 --do-sample --top-p 0.9 --seed 1 "Ein Hund."
    python scripts/predict.py --model runs/action_recognition/model clip.mp4 other.mp4 --top-k 3
    python scripts/predict.py --model runs/speech_recognition/model keys.wav other.flac
    echo '{"context": "Mary went to the kitchen.", "question": "Where is Mary?"}' | \
        python scripts/predict.py --model runs/question_answering/model
    python scripts/predict.py --model runs/shakespeare_char/model --max-new-tokens 300 --do-sample --seed 0 "ROMEO:"

Inputs are arguments, lines of --input FILE, or lines of stdin: sentences for a translation model,
video paths for an action recognition model (one line each: path, then label:score pairs), audio
paths for a speech recognition model (one line each: path, then the transcription), JSON objects
with "context" and "question" for a question answering model (one line each: answer, then score),
prompts for a language model (each prompt with its continuation, then an empty line; "" starts from
nothing).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines import pipeline  # noqa: E402
from seq2seq import cli  # noqa: E402
from seq2seq.model_files import read_model_config  # noqa: E402
from seq2seq.text_files import decode_lines, read_lines  # noqa: E402

GENERATION = ("num_beams", "batch_size", "max_length", "max_length_a", "max_length_b", "do_sample", "temperature",
              "top_k", "top_p", "seed")
# The command-line settings each task's pipeline takes (None = the model's own).
SETTINGS = {"translation": (*GENERATION, "split_sentences"), "speech_recognition": GENERATION,
            "question_answering": GENERATION, "action_recognition": ("batch_size",),
            "language_modeling": (*GENERATION, "max_new_tokens")}


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--model", required=True, help="model directory written by training")
    parser.add_argument("--input", help="text file, one sentence per line (default: stdin)")
    parser.add_argument("--num-beams", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--max-length", type=int, help="absolute output limit in tokens")
    parser.add_argument("--max-length-a", type=float, help="output limit relative to the input: a * tokens + b")
    parser.add_argument("--max-length-b", type=int)
    parser.add_argument("--max-new-tokens", type=int, help="language model: tokens to add to each prompt")
    parser.add_argument("--do-sample", action="store_true", default=None,
                        help="sample each output instead of searching (with --num-beams 1)")
    parser.add_argument("--temperature", type=float, help="sampling: divide the logits by this (default 1)")
    parser.add_argument("--top-p", type=float, help="sampling: keep the most likely tokens up to this mass (default 1)")
    parser.add_argument("--seed", type=int, help="sampling: the same seed gives the same outputs")
    parser.add_argument("--split-sentences", action=argparse.BooleanOptionalAction, default=None,
                        help="translate a multi-sentence line sentence by sentence (default: the model's setting)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="run under bfloat16 autocast (faster, same quality); default: where the hardware has "
                        "native bf16")
    parser.add_argument("--quantize", choices=["int8"], help="run the Linear, GRU and LSTM layers in int8 (CPU)")
    parser.add_argument("--top-k", type=int, help="action recognition: labels to print per video (default 1); "
                        "sampling: keep the k most likely tokens (default 0: all)")
    parser.add_argument("sentences", nargs="*", help="sentences to translate, or video or audio paths")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.sentences:
        lines = args.sentences
    elif args.input:
        lines = read_lines(args.input, "input file")
    else:
        lines = decode_lines(sys.stdin.buffer.read(), "standard input")
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)
    task = read_model_config(args.model).get("task", "translation")
    run = pipeline(task, model=args.model, device=args.device, bf16=args.bf16, quantize=args.quantize,
                   **{name: getattr(args, name) for name in SETTINGS[task]})
    PRINT[task](run, lines, args)


def print_transcripts(recognize, lines: list[str], args) -> None:
    paths = [line.strip() for line in lines if line.strip()]
    for path, result in zip(paths, recognize(paths) if paths else [], strict=True):
        print(path, result["text"], sep="\t")


def print_answers(answer, lines: list[str], args) -> None:
    questions = [read_question(line, number) for number, line in enumerate(lines, start=1) if line.strip()]
    for result in answer(questions) if questions else []:
        print(result["answer"], f"{result['score']:.4f}", sep="\t")


def print_labels(classify, lines: list[str], args) -> None:
    paths = [line.strip() for line in lines if line.strip()]
    for path, result in zip(paths, classify(paths, top_k=args.top_k or 1) if paths else [], strict=True):
        print(path, *(f"{r['label']}:{r['score']:.3f}" for r in result), sep="\t")


def print_translations(translate, lines: list[str], args) -> None:
    # Blank lines stay blank so output lines match input lines. The pipeline itself warns about
    # outputs that hit the length limit; stdout stays clean for the translations.
    texts = [line for line in lines if line.strip()]
    results = iter(translate(texts)) if texts else iter(())
    for line in lines:
        print(next(results)["translation_text"] if line.strip() else "")


def print_generated(generate, lines: list[str], args) -> None:
    for result in generate(lines) if lines else []:
        print(result[0]["generated_text"], end="\n\n")


PRINT = {"translation": print_translations, "speech_recognition": print_transcripts,
         "question_answering": print_answers, "action_recognition": print_labels,
         "language_modeling": print_generated}


def read_question(line: str, number: int) -> dict:
    """One input line of a question answering model: a JSON object with context and question."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"input line {number}: not a JSON object with 'context' and 'question' ({error})") from None
    if not isinstance(item, dict):
        raise ValueError(f"input line {number}: expected a JSON object with 'context' and 'question'")
    return item


if __name__ == "__main__":
    cli.run(main)
