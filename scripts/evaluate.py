"""Score a trained model (any task) on a dataset split, with greedy search and/or beam search.

A language model is scored by likelihood instead: one JSON line with loss (nats per token),
perplexity, nats_per_character and bits_per_character of the split's text, read in blocks of
``data.valid_block_size`` characters (default: each text whole, every character in context).

    python scripts/evaluate.py --model runs/multi30k_de_en/model --config configs/multi30k_de_en.yaml \
        --split test --num-beams 1,5 --output-dir runs/multi30k_de_en/test [section.key=value ...]

The data section (of ``--config``, with overrides as in train.py; without ``--config``, from the
overrides alone: ``data.kind=huggingface data.path=... data.columns={...}``, and the search settings
and metrics are then those the model was trained with) says where the data is; a streamed split is
read into memory (``data.max_valid_examples`` caps it). Metrics are the task's own, computed by the
code training uses (BLEU and chrF with sacreBLEU's defaults for
translation). Prints one JSON line per beam size, with ``hit_length_limit``: how many outputs
stopped at the generation length limit without eos. ``--group-by COLUMN`` adds one line per
value of a dataset column (bAbI's ``task``). ``--output-dir`` writes ``metrics.json`` and
``predictions.jsonl``: one line per example and beam size with its ``id`` (``--id-column``, else
the row number), ``prediction``, ``reference`` and ``score`` (the search's log-probability over
the length penalty). ``--plot-hops N`` (question answering with ``model.hops``) also writes
``hops_<id>.png`` to the output directory for the first N examples: which sentences each hop read.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from pipelines import get_task  # noqa: E402
from seq2seq import cli  # noqa: E402
from seq2seq.config import load_config  # noqa: E402
from seq2seq.data import Examples  # noqa: E402
from seq2seq.evaluation import (  # noqa: E402
    count_hit_limit,
    generate_with_scores,
    likelihood_metrics,
    search_options,
)
from seq2seq.model import Seq2SeqModel  # noqa: E402
from seq2seq.model_files import read_model_config  # noqa: E402
from seq2seq.prepare import prepare_dataset  # noqa: E402
from seq2seq.processors import load_processors  # noqa: E402
from seq2seq.quantization import quantize_int8  # noqa: E402
from seq2seq.sources import load_raw_dataset  # noqa: E402
from seq2seq.splits import get_split  # noqa: E402
from seq2seq.tokenization import Tokenizer  # noqa: E402
from seq2seq.training_data import task_rows  # noqa: E402


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--model", required=True, help="model directory written by training")
    parser.add_argument("--config", help="YAML whose data section names the dataset (default: overrides only)")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--num-beams", default="1,5", help="comma-separated beam sizes; 1 is greedy search")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="decode under bfloat16 autocast (faster on hardware "
                        "with native bf16; the default fp32 gives the same numbers on every machine)")
    parser.add_argument("--quantize", choices=["int8"], help="decode with the Linear, GRU and LSTM layers in int8 "
                        "(CPU; seq2seq/quantization.py)")
    parser.add_argument("--output", help="write the last beam size's hypotheses here, one per line")
    parser.add_argument("--output-dir", help="write metrics.json and predictions.jsonl here")
    parser.add_argument("--id-column", default="id", help="the column that identifies an example in "
                        "predictions.jsonl (default: id, else the row number)")
    parser.add_argument("--group-by", help="also report the metrics per value of this dataset column "
                        "(bAbI: task; generated stories: type)")
    parser.add_argument("--plot-hops", type=int, default=0, metavar="N", help="question answering with hops: plot "
                        "which sentences each hop read for the first N examples (needs --output-dir)")
    parser.add_argument("--arima-order", default="2,1,1", help="forecasting: the ARIMA baseline's p,d,q")
    parser.add_argument("--seasonal-order", default="0,1,1", help="forecasting: its seasonal P,D,Q (period: "
                        "forecasting.season)")
    parser.add_argument("--no-baselines", action="store_true", help="forecasting: skip the statsmodels baselines")
    parser.add_argument("--plot", help="forecasting: draw the held-out end, the model's forecast from its first "
                        "origin and the quantile band to this .png")
    parser.add_argument("overrides", nargs="*")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_intermixed_args(argv)
    if args.plot_hops and not args.output_dir:
        raise ValueError("--plot-hops writes pictures: give --output-dir")
    beam_sizes = parse_beam_sizes(args.num_beams)
    model_config = read_model_config(args.model)
    if model_config.get("task") == "forecasting":
        report_forecasting(args, model_config)
        return
    saved = [] if args.config else trained_settings(model_config)  # the overrides win over both
    config = load_config(args.config, saved + args.overrides)
    task = get_task(model_config.get("task", config.task))
    limit = config.data.max_valid_examples if config.data.streaming else 0
    rows = task_rows(task, get_split(load_raw_dataset(config.data), args.split, limit), config.data, train=False)
    to_example = task.make_to_example(config.data, rows.features)
    tokenizer = Tokenizer.from_pretrained(args.model)
    processors = load_processors(args.model, tokenizer, model_config["inputs"])
    model = Seq2SeqModel.from_pretrained(args.model, device=args.device)
    if args.quantize:
        if args.bf16:
            raise ValueError("--quantize int8 and --bf16 exclude each other: choose one")
        quantize_int8(model)
    prepared = prepare_dataset(rows, tokenizer, processors, to_example=to_example,
                               skip_bad_examples=config.data.skip_bad_examples)
    data = Examples(prepared, processors, rows=rows, to_example=to_example)
    if getattr(task, "scored_by_likelihood", False):  # a language model: the split's likelihood
        report_likelihood(model, data, args)
        return
    ids = example_ids(rows, list(prepared["row"]), args.id_column)
    groups = group_rows(rows, prepared["row"], args.group_by) if args.group_by else {}
    results, predicted = [], []
    for num_beams in beam_sizes:
        predictions, scores = decode(model, tokenizer, data, args, config, num_beams, results)
        report(task, predictions, list(data.references), config, args, num_beams, groups, results)
        predicted += [{"id": id_, "num_beams": num_beams, "prediction": prediction, "reference": reference,
                       "score": round(score, 4)}
                      for id_, prediction, reference, score in zip(ids, predictions, data.references, scores,
                                                                   strict=True)]
        if args.output:
            Path(args.output).write_text("\n".join(predictions) + "\n", encoding="utf-8")
    if args.output_dir:
        write_outputs(Path(args.output_dir), args.model, results, predicted)
    if args.plot_hops:
        examples = [to_example(rows[row]) for row in list(prepared["row"])[: args.plot_hops]]
        plot_hops(args.model, examples, ids, Path(args.output_dir))


def decode(model, tokenizer, data, args, config, num_beams: int, results: list[dict]) -> tuple[list[str], list[float]]:
    """Decode the split with one beam size; its speed and outputs cut at their length limit go
    into the next result line (``results``)."""
    started = time.perf_counter()
    with torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16, enabled=args.bf16):
        outputs, scores = generate_with_scores(model, data, batch_size=args.batch_size,
                                               device=torch.device(args.device),
                                               **search_options(config.generation, num_beams=num_beams))
    seconds = time.perf_counter() - started
    # hit_length_limit: outputs cut at generation.max_length(_a/_b) before eos (counted, never hidden)
    results.append({"split": args.split, "num_beams": num_beams, "examples": len(outputs),
                    "examples_per_second": round(len(outputs) / seconds, 1),
                    "hit_length_limit": count_hit_limit(outputs)})
    return tokenizer.decode_target(outputs), scores


def report(task, predictions: list[str], references: list[str], config, args, num_beams: int,
           groups: dict, results: list[dict]) -> None:
    """The metrics of one beam size (completing its result line), then per group; each printed as JSON."""
    metrics = task.compute_metrics(predictions, references, config.training.metrics or None)
    results[-1].update({k: round(v, 2) for k, v in metrics.items()})
    print(json.dumps(results[-1]), flush=True)
    for value, positions in groups.items():
        part = task.compute_metrics([predictions[i] for i in positions], [references[i] for i in positions],
                                    config.training.metrics or None)
        results.append({"split": args.split, "num_beams": num_beams, args.group_by: value,
                        "examples": len(positions), **{k: round(v, 2) for k, v in part.items()}})
        print(json.dumps(results[-1]), flush=True)


def report_forecasting(args, model_config: dict) -> None:
    """Forecasting: the model and the baselines on the held-out end of the series, one JSON line each."""
    from pipelines.forecasting import ForecastingPipeline
    from seq2seq.forecast_training import evaluate_forecaster, load_series
    from seq2seq.forecasting import Forecaster

    saved = {f"forecasting.{key}={json.dumps(value)}" for key, value in model_config["forecasting"].items()}
    config = load_config(args.config, [*args.overrides, *saved])  # the model's own windows and horizon
    split = load_series(config)
    model = Forecaster.from_pretrained(args.model, device=args.device)
    orders = [tuple(int(v) for v in text.split(",")) for text in (args.arima_order, args.seasonal_order)]
    if any(len(order) != 3 for order in orders):
        raise ValueError("--arima-order and --seasonal-order take three whole numbers: p,d,q")
    results = evaluate_forecaster(model, split, config, baselines=not args.no_baselines, arima_order=orders[0],
                                  seasonal_order=orders[1])
    lines = [{"method": name, **{k: round(v, 4) for k, v in metrics.items()}} for name, metrics in results.items()]
    for line in lines:
        print(json.dumps(line), flush=True)
    if args.output_dir:
        write_outputs(Path(args.output_dir), args.model, lines, [])
    if args.plot:
        from seq2seq.plots import plot_forecast

        start = split.train_end
        result = ForecastingPipeline(args.model, device=args.device)(split.series[:start])
        shown = split.series[max(0, start - 4 * config.forecasting.horizon):]
        plot_forecast(shown[:, 0], start - max(0, start - 4 * config.forecasting.horizon), result,
                      Path(args.plot), title=f"{config.data.path}: forecast from step {start}")


def report_likelihood(model, data, args) -> None:
    """A language model's loss, perplexity and bits per character on the split, printed as JSON."""
    with torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16, enabled=args.bf16):
        metrics = likelihood_metrics(model, data)
    result = {"split": args.split, "texts": len(data), **{k: round(v, 4) for k, v in metrics.items()}}
    print(json.dumps(result), flush=True)
    if args.output_dir:
        write_outputs(Path(args.output_dir), args.model, [result], [])


def plot_hops(model: str, examples: list[dict], ids: list, directory: Path) -> None:
    """hops_<id>.png per example: its sentences down, the hops across, the question and answer above."""
    from pipelines import pipeline
    from seq2seq.plots import plot_attention

    answer = pipeline("question-answering", model=model)
    if answer.model.reader is None:
        raise ValueError(f"--plot-hops: the model in {model} has no hops (model.hops is 0)")
    results = answer([{"context": e["context"], "question": e["question"]} for e in examples], return_attention=True)
    for id_, example, result in zip(ids, examples, results, strict=False):
        title = f"{example['question']} -> {result['answer']}"
        plot_attention(result["hops"].T.numpy(), answer.model.reader.labels, result["context_units"],
                       directory / f"hops_{id_}.png", title=title)


def trained_settings(model_config: dict) -> list[str]:
    """Overrides that search and report metrics as the model was trained to (used without --config)."""
    saved = [f"generation.{key}={json.dumps(value)}" for key, value in model_config.get("generation", {}).items()]
    if "metrics" in model_config:
        saved.append(f"training.metrics={json.dumps(model_config['metrics'])}")
    columns = model_config.get("data", {}).get("columns")
    if columns:  # the rows are read as in training (data.columns=... among the overrides wins)
        saved.append(f"data.columns={json.dumps({field: path for field, path in columns.items() if path})}")
    return saved


def write_outputs(directory: Path, model: str, results: list[dict], predicted: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics.json").write_text(json.dumps({"model": str(model), "results": results}, indent=2) + "\n",
                                            encoding="utf-8")
    with open(directory / "predictions.jsonl", "w", encoding="utf-8") as handle:
        for record in predicted:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def example_ids(rows, row_indices: list[int], column: str) -> list:
    """Each prepared example's id: the value of ``column`` in its row if the dataset has it, else the row number."""
    if column in rows.column_names:
        values = rows[column]
        return [values[row] for row in row_indices]
    return row_indices


def group_rows(rows, row_indices: list[int], column: str) -> dict:
    """Positions of the prepared examples by the value of ``column`` in their raw rows (sorted)."""
    if column not in rows.column_names:
        raise KeyError(f"--group-by: column '{column}' not found (available: {', '.join(rows.column_names)})")
    values = rows[column]
    groups: dict = {}
    for position, row in enumerate(row_indices):
        groups.setdefault(values[row], []).append(position)
    return dict(sorted(groups.items()))


def parse_beam_sizes(text: str) -> list[int]:
    try:
        sizes = [int(size) for size in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--num-beams takes comma-separated whole numbers >= 1 (1 is greedy), got {text!r}")
    return sizes


if __name__ == "__main__":
    cli.run(main)
