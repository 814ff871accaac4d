"""Every way a user brings a dataset (data.kind: huggingface), map-style and streamed."""

import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
from conftest import DATA_FORMS, write_dataset

from pipelines import get_task
from seq2seq.config import DataConfig
from seq2seq.media import write_audio, write_video
from seq2seq.sources import load_raw_dataset
from seq2seq.splits import get_split

ROWS = {"train": {"de": ["a b", "c d e", "f"], "en": ["b a", "e d c", "f"]},
        "validation": {"de": ["g h"], "en": ["h g"]}}
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def write_text_dataset(root: Path, form: str) -> DataConfig:
    """ROWS stored the way ``form`` says; the data config that reads them back."""
    splits = {split: datasets.Dataset.from_dict(columns) for split, columns in ROWS.items()}
    return DataConfig(**write_dataset(root, splits, form))


@pytest.mark.parametrize("form", DATA_FORMS)
@pytest.mark.parametrize("streaming", [False, True])
def test_each_form_reads_the_same_rows(tmp_path, form, streaming):
    config = write_text_dataset(tmp_path, form)
    config.streaming = streaming
    loaded = load_raw_dataset(config)
    assert isinstance(loaded, datasets.IterableDatasetDict if streaming else datasets.DatasetDict)
    for split, columns in ROWS.items():
        rows = get_split(loaded, split)  # a stream is read into memory here
        assert isinstance(rows, datasets.Dataset)
        assert {name: list(rows[name]) for name in columns} == columns
    assert len(get_split(loaded, "train", limit=2)) == 2


def test_generated_corpora_stream_too():
    config = DataConfig(kind="generated", path="reverse", generated_sizes={"train": 50, "validation": 5},
                        streaming=True)
    loaded = load_raw_dataset(config)
    assert isinstance(loaded["train"], datasets.IterableDataset)
    assert sum(1 for _ in loaded["train"]) == 50


def test_builder_and_folder_errors_name_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match="give data.data_files"):
        load_raw_dataset(DataConfig(kind="huggingface", path="csv"))
    with pytest.raises(FileNotFoundError, match="split 'train' not found: .*nothing.csv"):
        load_raw_dataset(DataConfig(kind="huggingface", path="csv",
                                    data_files={"train": str(tmp_path / "nothing.csv")}))
    with pytest.raises(FileNotFoundError, match="data_dir not found"):
        load_raw_dataset(DataConfig(kind="huggingface", path="audiofolder", data_dir=str(tmp_path / "none")))
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        load_raw_dataset(DataConfig(kind="huggingface", path=str(tmp_path / "missing")))
    datasets.Dataset.from_dict({"x": [1]}).save_to_disk(tmp_path / "single")
    with pytest.raises(ValueError, match="single Dataset; save a DatasetDict"):
        load_raw_dataset(DataConfig(kind="huggingface", path=str(tmp_path / "single")))


def test_an_unreachable_hub_id_is_one_line_showing_the_local_config(tmp_path):
    environment = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, str(SCRIPTS / "train.py"), "--config",
                             str(SCRIPTS.parent / "configs" / "translation.yaml"), "data.kind=huggingface",
                             "data.path=someone/not-here", f"training.output_dir={tmp_path / 'run'}"],
                            capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "cannot reach dataset 'someone/not-here'" in last and "offline mode" in last
    assert "path: json, data_files: {train: train.jsonl" in last


def write_media_folders(root: Path) -> None:
    """An audiofolder and a videofolder (class folders per split) of small generated files."""
    generator = torch.Generator().manual_seed(0)
    for split, count in (("train", 2), ("validation", 1)):
        for label, pitch in (("low", 300.0), ("high", 1200.0)):
            for index in range(count):
                time = torch.arange(4000) / 8000
                tone = 0.3 * torch.sin(2 * torch.pi * pitch * time)
                write_audio(root / "audio" / split / label / f"{index}.wav", tone, sampling_rate=8000)
                frames = torch.randint(0, 255, (6, 3, 16, 16), dtype=torch.uint8, generator=generator)
                write_video(root / "video" / split / label / f"{index}.mp4", frames, fps=10)


@pytest.mark.parametrize("streaming", [False, True])
def test_audio_and_video_folders_give_decoders_and_class_label_names(tmp_path, streaming):
    write_media_folders(tmp_path)
    audio = load_raw_dataset(DataConfig(kind="huggingface", path=str(tmp_path / "audio"), streaming=streaming))
    video = load_raw_dataset(DataConfig(kind="huggingface", path="videofolder", data_dir=str(tmp_path / "video"),
                                        streaming=streaming))
    assert isinstance(audio["train"].features["label"], datasets.ClassLabel)
    from seq2seq.processors import AudioProcessor, VideoProcessor

    audio_rows = get_split(audio, "train")
    to_example = get_task("action_recognition").make_to_example(DataConfig(columns={"audio": "audio"}),
                                                                audio_rows.features)
    examples = [to_example({"video": None, **row}) for row in audio_rows]
    assert sorted(e["target_text"] for e in examples) == ["high", "high", "low", "low"]
    features = AudioProcessor(sampling_rate=8000, num_mel_bins=20)(examples[0]["audio"])  # no temporary files
    assert features.shape == (51, 20)
    video_rows = get_split(video, "validation")
    to_example = get_task("action_recognition").make_to_example(DataConfig(), video_rows.features)
    example = to_example(video_rows[0])
    assert example["target_text"] in ("low", "high")
    assert VideoProcessor(num_frames=4, frame_size=8)(example["video"]).shape == (4, 3, 8, 8)


def test_an_audiofolder_with_transcripts_feeds_speech_recognition(tmp_path):
    """The README's speech example: <split>/metadata.csv names each file and its transcription."""
    for split in ("train", "validation"):
        for index in range(2):
            write_audio(tmp_path / "clips" / split / f"{index}.wav", 0.1 * torch.randn(800), sampling_rate=8000)
        metadata = "file_name,transcription\n0.wav,one two\n1.wav,three\n"
        (tmp_path / "clips" / split / "metadata.csv").write_text(metadata)
    config = DataConfig(kind="huggingface", path=str(tmp_path / "clips"), columns={"target": "transcription"})
    rows = get_split(load_raw_dataset(config), "validation")
    to_example = get_task("speech_recognition").make_to_example(config, rows.features)
    examples = [to_example(row) for row in rows]
    assert sorted(e["target_text"] for e in examples) == ["one two", "three"]
    from seq2seq.processors import AudioProcessor

    assert AudioProcessor(sampling_rate=8000, num_mel_bins=20)(examples[0]["audio"]).shape == (11, 20)


def write_person_clips(root: Path) -> None:
    """class_folders with persons p0-p2: p0, p1 in train, p2 in val; clip files are never decoded here."""
    lines = ["file\tperson\tpath"]
    for split, persons in (("train", ("p0", "p1")), ("val", ("p2",))):
        for person in persons:
            for label in ("0_wave", "1_bend"):
                clip = root / split / label / f"{person}_{label}.png"
                clip.parent.mkdir(parents=True, exist_ok=True)
                clip.touch()
                lines.append(f"{clip.name}\t{person}\t{split}/{label}/{clip.name}")
    (root / "index.tsv").write_text("\n".join(lines) + "\n")


def test_class_folders_join_the_metadata_file_and_validate_on_held_out_groups(tmp_path):
    from seq2seq.sources import group_names

    write_person_clips(tmp_path)
    config = DataConfig(kind="class_folders", path=str(tmp_path), valid_split="val", metadata_file="index.tsv")
    loaded = load_raw_dataset(config)
    assert list(loaded["train"]["person"]) == ["p0", "p1", "p0", "p1"]  # clips sorted by class folder, then name
    assert [Path(v).name.split("_")[0] for v in loaded["train"]["video"]] == list(loaded["train"]["person"])
    config.group_column = "person"
    assert group_names(config) == ["p0", "p1", "p2"]
    config.valid_groups = ["p0"]
    fold = load_raw_dataset(config)
    assert sorted(fold["val"]["person"]) == ["p0", "p0"] and sorted(set(fold["train"]["person"])) == ["p1", "p2"]
    every_clip = sorted([*loaded["train"]["video"], *loaded["val"]["video"]])
    assert sorted([*fold["train"]["video"], *fold["val"]["video"]]) == every_clip


def test_held_out_groups_fail_clearly(tmp_path):
    write_person_clips(tmp_path)
    base = dict(kind="class_folders", path=str(tmp_path), valid_split="val", metadata_file="index.tsv")
    for settings, error, message in [
        (dict(valid_groups=["p0"]), ValueError, "needs data.group_column"),
        (dict(valid_groups=["p0"], group_column="speaker"), KeyError, "'speaker' is not a dataset column"),
        (dict(valid_groups=["p9"], group_column="person"), ValueError, "no row has person = p9 .groups: p0, p1, p2"),
        (dict(valid_groups=["p0", "p1", "p2"], group_column="person"), ValueError, "nothing is left to train on"),
        (dict(metadata_file="missing.tsv"), FileNotFoundError, "metadata_file not found: .*missing.tsv"),
    ]:
        with pytest.raises(error, match=message):
            load_raw_dataset(DataConfig(**base | settings))
    index = tmp_path / "index.tsv"
    index.write_text("\n".join(index.read_text().splitlines()[:-1]) + "\n")  # the last clip loses its row
    with pytest.raises(ValueError, match=r"index.tsv has no row for 1 clip\(s\), e.g. val/1_bend/p2_1_bend.png"):
        load_raw_dataset(DataConfig(**base))
    index.write_text("path\tlabel\nval/1_bend/p2_1_bend.png\tbend\n")
    with pytest.raises(ValueError, match="column.s. label would replace the clips' own columns"):
        load_raw_dataset(DataConfig(**base))


def test_a_cap_samples_across_the_split_and_keeps_every_class():
    """Folder datasets are sorted by class: the first 6 rows would all be "clap"."""
    from seq2seq.splits import sample_indices

    labels = ["clap"] * 10 + ["jump"] * 10 + ["wave"] * 10
    rows = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"label": labels, "clip": list(range(30))})})
    capped = get_split(rows, "train", limit=6, seed=1, label_column="label")
    assert sorted(capped["label"]) == ["clap"] * 2 + ["jump"] * 2 + ["wave"] * 2
    assert capped["clip"] == sorted(capped["clip"])  # the split's order is kept
    assert get_split(rows, "train", limit=6, seed=1, label_column="label")["clip"] == capped["clip"]
    assert get_split(rows, "train", limit=6, seed=2, label_column="label")["clip"] != capped["clip"]
    unlabelled = get_split(rows, "train", limit=6, seed=1)["clip"]
    assert len(set(unlabelled)) == 6 and max(unlabelled) >= 10  # not the head
    # Uneven classes get their shares by largest remainder: 7 of (15, 10, 5) -> 3.5, 2.33, 1.17 -> 4, 2, 1.
    counts = [0] * 3
    for index in sample_indices(30, 7, seed=0, strata=[0] * 15 + [1] * 10 + [2] * 5):
        counts[0 if index < 15 else 1 if index < 25 else 2] += 1
    assert counts == [4, 2, 1]
    assert sample_indices(5, 0) == sample_indices(5, 9) == list(range(5))
