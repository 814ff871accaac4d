"""Leave-one-group-out cross-validation: one model per group (a person, a speaker), trained with that
group held out for validation; prints every fold's score and their mean.

    python scripts/cross_validate.py --config configs/weizmann_actions.yaml --output-dir runs/weizmann_lopo \
        data.path=$W [--groups p0,p3] [section.key=value ...]

``data.group_column`` names the groups (``data.metadata_file`` can bring the column to class
folders); the folds are all groups of the training and validation splits together, or ``--groups``.
Each fold is ``scripts/train.py`` in its own process with ``data.valid_groups=[GROUP]`` and
``training.output_dir=OUTPUT_DIR/GROUP``; a fold whose run finished is read, not trained again, so
an interrupted cross-validation continues where it stopped (``--overwrite`` trains every fold anew).

Per fold: ``final``, the final weights' validation metric (the number to quote: nothing was chosen
on the held-out group), and ``best``, the best evaluation's (chosen on the held-out group itself, so
optimistic). Writes ``OUTPUT_DIR/cross_validation.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines import get_task  # noqa: E402
from seq2seq import cli  # noqa: E402
from seq2seq.config import load_config  # noqa: E402
from seq2seq.sources import group_names  # noqa: E402

TRAIN = Path(__file__).resolve().parent / "train.py"
RESULT_FILE = "cross_validation.json"


def fold_scores(run_dir: Path, metric: str, *, lower_is_better: bool = False) -> dict[str, float] | None:
    """``final`` and ``best`` validation ``metric`` of a finished run (None if it did not finish)."""
    log = run_dir / "metrics.jsonl"
    if not (run_dir / "last").is_dir() or not log.is_file():
        return None
    key = f"valid/{metric}"
    scores = [record[key] for record in map(json.loads, log.read_text().splitlines()) if key in record]
    return {"final": scores[-1], "best": (min if lower_is_better else max)(scores)} if scores else None


def main(argv: list[str] | None = None) -> None:
    parser = cli.make_parser(__doc__)
    parser.add_argument("--config", required=True, help="YAML experiment file with data.group_column")
    parser.add_argument("--output-dir", required=True, help="one run directory per fold goes here")
    parser.add_argument("--groups", help="comma-separated groups to hold out, one fold each (default: all)")
    parser.add_argument("--overwrite", action="store_true", help="train every fold anew")
    parser.add_argument("overrides", nargs="*", help="section.key=value settings for every fold")
    args = parser.parse_intermixed_args(argv)
    config = load_config(args.config, args.overrides)
    if not config.data.group_column:
        raise ValueError(f"{args.config}: cross-validation needs data.group_column (the column naming each "
                         "row's group, e.g. person or speaker)")
    available = group_names(config.data)
    groups = args.groups.split(",") if args.groups else available
    unknown = sorted(set(groups) - set(available))
    if unknown:
        raise ValueError(f"--groups: no {config.data.group_column} {', '.join(unknown)} "
                         f"(groups: {', '.join(available)})")
    output_dir, metric = Path(args.output_dir), config.training.eval_metric
    lower_is_better = metric in getattr(get_task(config.task), "lower_is_better", ())
    folds: dict[str, dict[str, float]] = {}
    for number, group in enumerate(groups, start=1):
        run_dir = output_dir / group
        scores = None if args.overwrite else fold_scores(run_dir, metric, lower_is_better=lower_is_better)
        if scores is None:
            print(f"fold {number}/{len(groups)}: {config.data.group_column} {group} held out", flush=True)
            command = [sys.executable, str(TRAIN), "--config", args.config, *args.overrides,
                       f"data.valid_groups={json.dumps([group])}", f"training.output_dir={run_dir}", "--overwrite"]
            if subprocess.run(command).returncode != 0:
                raise RuntimeError(f"fold {group} failed (its log is above; rerun to continue from this fold)")
            scores = fold_scores(run_dir, metric, lower_is_better=lower_is_better)
            if scores is None:
                raise RuntimeError(f"fold {group} left no finished run in {run_dir}")
        folds[group] = scores
        print(json.dumps({"fold": group, metric: scores}), flush=True)
    mean = {kind: sum(scores[kind] for scores in folds.values()) / len(folds) for kind in ("final", "best")}
    result = {"metric": metric, "group_column": config.data.group_column, "mean": mean, "folds": folds}
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"mean": mean, "folds": len(folds)}))


if __name__ == "__main__":
    cli.run(main)
