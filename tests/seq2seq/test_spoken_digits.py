"""FSDD reading and connected digits, on a fake FSDD folder of generated tones (no real data)."""

import json
import math

import pytest
import torch

from seq2seq.config import DataConfig
from seq2seq.media import load_audio, write_audio
from seq2seq.sources import load_raw_dataset
from seq2seq.spoken_digits import make_connected_digits, read_fsdd


@pytest.fixture(scope="module")
def fake_fsdd(tmp_path_factory):
    """recordings/{digit}_{speaker}_{index}.wav: a 0.2 s tone per digit, indices 3-11 (test, validation, train)."""
    root = tmp_path_factory.mktemp("fsdd")
    t = torch.arange(1600) / 8000
    for digit in range(10):
        for speaker in ("ana", "bo"):
            for index in range(3, 12):
                write_audio(root / "recordings" / f"{digit}_{speaker}_{index}.wav",
                            0.5 * torch.sin(2 * math.pi * (300 + 100 * digit) * t), sampling_rate=8000)
    (root / "recordings" / "README.txt").write_text("not a recording")
    return root


def test_fsdd_splits_by_recording_index_as_its_readme_says(fake_fsdd):
    dataset = read_fsdd(fake_fsdd)
    assert {split: len(rows) for split, rows in dataset.items()} == {"test": 40, "validation": 100, "train": 40}
    row = dataset["train"][0]
    assert row["label"] == "zero" and row["digit"] == "0" and row["audio"].endswith("0_ana_10.wav")
    assert all(int(path.rsplit("_", 1)[1][:-4]) >= 10 for path in dataset["train"]["audio"])
    assert read_fsdd(fake_fsdd / "recordings")["validation"]["audio"] == dataset["validation"]["audio"]
    with pytest.raises(FileNotFoundError, match="no FSDD recordings"):
        read_fsdd(fake_fsdd / "missing")


def test_connected_digits_join_recordings_of_one_split_only(fake_fsdd, tmp_path):
    sizes = {"train": 12, "validation": 6, "test": 4}
    dataset = make_connected_digits(fake_fsdd, tmp_path / "cd", sizes, seed=7)
    manifest = json.loads((tmp_path / "cd" / "manifest.json").read_text())["utterances"]
    for split, rows in dataset.items():
        assert len(rows) == sizes[split]
        for text, files in zip(rows["text"], manifest[split], strict=True):
            assert 2 <= len(text) <= 6 and text == "".join(name[0] for name in files)
            indices = {int(name.rsplit("_", 1)[1][:-4]) for name in files}
            assert all({"train": i >= 10, "validation": 5 <= i < 10, "test": i < 5}[split] for i in indices)
    waveform, rate = load_audio(dataset["train"][0]["audio"])
    digits = len(dataset["train"][0]["text"])
    assert rate == 8000 and waveform.numel() >= digits * 1600 + (digits - 1) * 400  # recordings + gaps
    again = make_connected_digits(fake_fsdd, tmp_path / "cd", sizes, seed=7)
    assert again["train"]["text"] == dataset["train"]["text"]


def test_the_data_kinds_read_fsdd_and_make_connected_digits(fake_fsdd, tmp_path):
    digits = load_raw_dataset(DataConfig(kind="fsdd", path=str(fake_fsdd)))
    assert set(digits) == {"train", "validation", "test"}
    connected = load_raw_dataset(DataConfig(kind="fsdd_connected", path=str(fake_fsdd), generated_dir=str(tmp_path),
                                            generated_sizes={"train": 3, "validation": 2}))
    assert {split: len(rows) for split, rows in connected.items()} == {"train": 3, "validation": 2}
    assert (tmp_path / "fsdd_connected" / "train" / "00000.wav").is_file()
