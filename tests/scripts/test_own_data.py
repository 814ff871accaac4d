"""Using your own data: each form a user brings a dataset in trains (map-style and streamed) and
evaluates through the scripts, for translation and for an audio task read from an audiofolder."""

import json

import datasets
import pytest
import torch
import yaml
from conftest import DATA_FORMS, tiny_audio_classifier_config, tiny_config, write_dataset, write_tone_folder

from seq2seq.config import config_to_dict
from seq2seq.synthetic import make_corpus


@pytest.fixture(scope="module")
def reverse_splits():
    """The generated reverse task as a user's dataset: an ``id`` column, ``de``/``en`` columns."""
    corpus = make_corpus("reverse", {"train": 1500, "validation": 40}, seed=5)
    return {split: datasets.Dataset.from_dict({"id": [f"{split}-{i}" for i in range(len(rows))],
                                               "de": rows["source"], "en": rows["target"]})
            for split, rows in corpus.items()}


def write_config(path, values) -> str:
    path.write_text(yaml.safe_dump(values))
    return str(path)


def evaluated(run_script, model, config, output_dir) -> tuple[dict, list[dict]]:
    status, _, err = run_script("evaluate", "--model", str(model), "--config", config, "--split", "validation",
                                "--num-beams", "1", "--output-dir", str(output_dir))
    assert status == 0, err
    metrics = json.loads((output_dir / "metrics.json").read_text())["results"][0]
    predictions = [json.loads(line) for line in (output_dir / "predictions.jsonl").read_text().splitlines()]
    return metrics, predictions


@pytest.mark.parametrize("form", [*DATA_FORMS, "json streamed"])
def test_translation_trains_and_evaluates_from_each_form(tmp_path, run_script, reverse_splits, form):
    data = write_dataset(tmp_path, reverse_splits, form.split()[0])
    data.update(columns={"source": "de", "target": "en"}, streaming=form.endswith("streamed"))
    values = config_to_dict(tiny_config(str(tmp_path / "run"), training={
        "max_steps": 80, "eval_every_steps": 80, "lr_schedule": "constant", "log_every_steps": 40,
        "metrics": ["exact_match", "chrf"]}))
    config = write_config(tmp_path / "config.yaml", {**values, "data": data})
    status, _, err = run_script("train", "--config", config)
    assert status == 0, err
    metrics, predictions = evaluated(run_script, tmp_path / "run" / "model", config, tmp_path / "eval")
    assert metrics["examples"] == len(predictions) == 40
    assert [p["id"] for p in predictions] == [f"validation-{i}" for i in range(40)]
    assert [p["reference"] for p in predictions] == list(reverse_splits["validation"]["en"])
    matches = sum(p["prediction"] == p["reference"] for p in predictions)
    assert metrics["exact_match"] == round(100 * matches / 40, 2)
    assert all(p["score"] <= 0 for p in predictions)  # log-probabilities
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    [validated] = [record for record in logged if "valid/chrf" in record]  # greedy, as evaluated here
    assert (metrics["exact_match"], metrics["chrf"]) == (round(validated["valid/exact_match"], 2),
                                                         round(validated["valid/chrf"], 2))
    assert metrics["chrf"] > 30  # 80 updates: far from untrained (about 10), not yet perfect (about 80)
    if form == "save_to_disk":  # no --config: the data from overrides, the metrics the model was trained with
        status, out, err = run_script("evaluate", "--model", str(tmp_path / "run" / "model"), "--num-beams", "1",
                                      *(f"data.{key}={json.dumps(value)}" for key, value in data.items()))
        assert status == 0, err
        [line] = [json.loads(row) for row in out.splitlines()]
        assert {key: line[key] for key in ("exact_match", "chrf")} == {key: metrics[key]
                                                                      for key in ("exact_match", "chrf")}
        assert "bleu" not in line


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    return write_tone_folder(tmp_path_factory.mktemp("tones"), {"train": 20, "validation": 10})


@pytest.mark.parametrize("streaming", [False, True])
def test_an_audiofolder_trains_map_style_and_streamed_to_the_same_quality(tmp_path, run_script, tones, streaming):
    data = {"kind": "huggingface", "path": str(tones), "streaming": streaming, "shuffle_buffer": 100}
    config = write_config(tmp_path / "config.yaml", tiny_audio_classifier_config(str(tmp_path / "run"), data))
    torch.manual_seed(0)
    status, _, err = run_script("train", "--config", config)
    assert status == 0, err
    saved = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert saved["labels"] == ["high", "low", "middle", "very high"]  # the ClassLabel names, not numbers
    metrics, predictions = evaluated(run_script, tmp_path / "run" / "model", config, tmp_path / "eval")
    assert metrics["accuracy"] >= 90, metrics  # 4 classes: chance is 25 %
    assert [p["id"] for p in predictions] == list(range(40))  # no id column: the row numbers


@pytest.mark.parametrize("streaming", [False, True])
def test_a_videofolder_trains_and_evaluates(tmp_path, run_script, streaming):
    """Video column values (torchcodec decoders) go through the video processor: no temporary files."""
    import shutil

    from conftest import tiny_action_config

    from seq2seq.synthetic_video import make_video_corpus

    corpus = make_video_corpus(tmp_path / "clips", {"train": 12, "validation": 6}, seed=1)
    for split, rows in corpus.items():
        for index, row in enumerate(rows):
            folder = tmp_path / "videos" / split / row["label"].replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(row["video"], folder / f"{index}.mp4")
    values = config_to_dict(tiny_action_config(str(tmp_path / "run"), str(tmp_path / "unused"), max_steps=6,
                                               eval_every_steps=6, batch_size=4))
    values["data"] = {"kind": "huggingface", "path": "videofolder", "data_dir": str(tmp_path / "videos"),
                      "streaming": streaming, "shuffle_buffer": 20}
    config = write_config(tmp_path / "config.yaml", values)
    status, _, err = run_script("train", "--config", config)
    assert status == 0, err
    metrics, predictions = evaluated(run_script, tmp_path / "run" / "model", config, tmp_path / "eval")
    labels = {row["label"].replace(" ", "_") for row in corpus["validation"]}
    assert metrics["examples"] == len(predictions) == 6
    assert {p["reference"] for p in predictions} == labels  # the folder names, through the ClassLabel column
