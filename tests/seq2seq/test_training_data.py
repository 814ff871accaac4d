"""Data assembly for runs: prepared in-memory data is shared by every run with the same data and settings."""

import datasets
import pytest
from conftest import tiny_config

from pipelines import get_task
from seq2seq.training import train
from seq2seq.training_data import prepared_cache_dir


def test_a_second_run_reads_the_prepared_data_back(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_CACHE", str(tmp_path / "cache"))
    assert prepared_cache_dir() == tmp_path / "cache" / "prepared"

    def run(name, **data):
        config = tiny_config(str(tmp_path / name), data={"generated_sizes": {"train": 300, "validation": 20}, **data},
                             training={"max_steps": 2, "eval_every_steps": 2})
        train(config, get_task("translation"))
        return {path.name: path.stat().st_mtime_ns for path in prepared_cache_dir().iterdir()}

    first = run("one")
    assert first and not (tmp_path / "one" / "cache").exists()
    assert run("two") == first  # same data, tokenizer and settings: read back, not written again
    assert len(run("three", max_source_length=8)) > len(first)  # another length filter: prepared anew


@pytest.mark.parametrize("class_label", [False, True])
def test_map_style_and_streamed_classifiers_get_the_same_label_set(tmp_path, class_label):
    """Training labels (and a ClassLabel column's names), never validation-only ones."""
    import json

    from accelerate import Accelerator
    from conftest import tiny_audio_classifier_config, write_tone_folder

    from seq2seq.config import config_from_dict
    from seq2seq.training_data import describe_training_data, load_data

    folder = write_tone_folder(tmp_path / "tones", {"train": 2})
    files = sorted((folder / "train").rglob("*.wav"))
    for split, labels in (("train", ["low", "high"]), ("validation", ["low", "high", "unseen"])):
        with open(tmp_path / f"{split}.jsonl", "w") as handle:
            for file, label in zip(files, labels * 4, strict=False):
                handle.write(json.dumps({"audio": str(file), "label": label}) + "\n")
    data = {"kind": "huggingface", "path": "json",
            "data_files": {split: str(tmp_path / f"{split}.jsonl") for split in ("train", "validation")}}
    if class_label:  # declared names: a ClassLabel column's are part of the label set
        data["path"] = str(tmp_path / "saved")
        features = datasets.Features({"audio": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["high", "low", "mid", "unseen"])})
        datasets.DatasetDict({split: datasets.Dataset.from_json(str(tmp_path / f"{split}.jsonl")).cast(features)
                              for split in ("train", "validation")}).save_to_disk(str(tmp_path / "saved"))
        del data["data_files"]
    task = get_task("action_recognition")
    label_sets = []
    for streaming in (False, True):
        config = config_from_dict(tiny_audio_classifier_config(
            str(tmp_path / f"run_{streaming}"), {**data, "streaming": streaming}, max_steps=10, lr_schedule="constant"))
        loaded = load_data(config, task, tmp_path / f"run_{streaming}", Accelerator(cpu=True))
        label_sets.append(describe_training_data(task, loaded.processors, loaded.described_ids,
                                                 loaded.described_targets)["labels"])
    expected = ["high", "low", "mid", "unseen"] if class_label else ["high", "low"]
    assert label_sets == [expected, expected]


def test_the_tokenizer_reads_the_text_columns_without_decoding_media(tmp_path, monkeypatch):
    """An Audio column decodes on access: the tokenizer must not open every recording (memory and
    file handles grow with the dataset); preparing the data does, once."""
    from accelerate import Accelerator
    from conftest import tiny_audio_classifier_config, write_tone_folder

    from seq2seq import training_data
    from seq2seq.config import config_from_dict

    files = sorted(str(path) for path in (write_tone_folder(tmp_path / "tones", {"train": 1}) / "train").rglob("*.wav"))
    rows = datasets.Dataset.from_dict({"audio": files, "label": ["low"] * len(files)})
    rows = rows.cast_column("audio", datasets.Audio(sampling_rate=8000))
    datasets.DatasetDict({"train": rows, "validation": rows.select(range(2))}).save_to_disk(str(tmp_path / "saved"))
    decoded, decoded_for_the_tokenizer = [], []
    decode = datasets.Audio.decode_example
    monkeypatch.setattr(datasets.Audio, "decode_example",
                        lambda self, *args, **kwargs: decoded.append(1) or decode(self, *args, **kwargs))
    prepare_tokenizer = training_data.prepare_tokenizer

    def counting(*args, **kwargs):
        tokenizer = prepare_tokenizer(*args, **kwargs)
        decoded_for_the_tokenizer.append(len(decoded))
        return tokenizer

    monkeypatch.setattr(training_data, "prepare_tokenizer", counting)
    config = config_from_dict(tiny_audio_classifier_config(
        str(tmp_path / "run"), {"kind": "huggingface", "path": str(tmp_path / "saved")}))
    loaded = training_data.load_data(config, get_task("action_recognition"), tmp_path / "run", Accelerator(cpu=True))
    assert decoded_for_the_tokenizer == [0] and len(decoded) >= len(files)
    assert loaded.tokenizer.decode_target(loaded.tokenizer.encode_target(["low"]))[0] == "low"
