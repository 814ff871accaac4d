"""Continued training: a run starts from a saved model, keeps its tokenizer and processors, learns
new labels only when allowed (the vocabulary grows, known ids keep their meaning), and can
rehearse old data."""

import json

import datasets
import pytest
import torch
from conftest import tiny_config

from pipelines import get_task, pipeline
from seq2seq.config import ConfigError, config_from_dict
from seq2seq.continued import mix_replay
from seq2seq.synthetic_video import ACTIONS, make_video_corpus
from seq2seq.tokenization import Tokenizer

OLD, NEW = ACTIONS[:6], ACTIONS[6:]  # six motions; then circling clockwise and anticlockwise


def _config(run_dir, data_dir, **training):
    return config_from_dict({
        "task": "action_recognition",
        "data": {"kind": "huggingface", "path": str(data_dir)},
        "tokenizer": {"vocab_size": 32, "model_type": "word"},
        "inputs": {"video": {"modality": "video", "processor": {"num_frames": 4, "frame_size": 32},
                             "encoder": {"feature_size": 16, "spatial_grid": 2, "hidden_size": 16, "dropout": 0.0}}},
        "model": {"embedding_size": 16, "embedding_dropout": 0.0,
                  "decoder": {"hidden_size": 32, "attention": "luong_general", "dropout": 0.0}},
        "training": {"output_dir": str(run_dir), "max_steps": 8, "batch_size": 8, "eval_every_steps": 8,
                     "eval_metric": "accuracy", "log_every_steps": 4, **training},
        "generation": {"num_beams": 1, "max_length": 6, "max_length_a": 0.0, "max_length_b": 0},
    })


@pytest.fixture(scope="module")
def split_actions(tmp_path_factory):
    """The generated actions split by label: the six old ones, and the two new ones."""
    root = tmp_path_factory.mktemp("split_actions")
    corpus = make_video_corpus(root / "clips", {"train": 64, "validation": 16}, frames=4, frame_size=32)
    for name, labels in (("old", OLD), ("new", NEW)):
        corpus.filter(lambda row, labels=labels: row["label"] in labels).save_to_disk(root / name)
    from seq2seq.training import train

    torch.manual_seed(0)
    train(_config(root / "base", root / "old"), get_task("action_recognition"))
    return root


def test_new_labels_are_an_error_unless_allowed(split_actions, tmp_path):
    from seq2seq.training import train

    config = _config(tmp_path / "run", split_actions / "new", init_from=str(split_actions / "base" / "model"))
    with pytest.raises(ValueError, match="allow_new_labels") as error:
        train(config, get_task("action_recognition"))
    assert "circling clockwise" in str(error.value)


def test_allowed_new_labels_grow_the_vocabulary_and_the_label_set(split_actions, tmp_path):
    from seq2seq.training import train

    base = split_actions / "base" / "model"
    config = _config(tmp_path / "run", split_actions / "new", init_from=str(base), allow_new_labels=True,
                     max_steps=4, eval_every_steps=4)
    config.model.decoder.hidden_size = 99  # ignored: the saved model's architecture wins
    train(config, get_task("action_recognition"))
    old_tokens, new_tokens = Tokenizer.from_pretrained(base), Tokenizer.from_pretrained(tmp_path / "run" / "model")
    assert new_tokens.target_vocab_size == old_tokens.target_vocab_size + 3  # circling, clockwise, anticlockwise
    assert new_tokens.encode_target(list(OLD)) == old_tokens.encode_target(list(OLD))
    saved = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert saved["labels"] == sorted(ACTIONS) and saved["model"]["decoder"]["hidden_size"] == 32
    assert saved["target_vocab_size"] == new_tokens.target_vocab_size
    scores = pipeline("action-recognition", model=tmp_path / "run" / "model")(
        str(split_actions / "clips" / "validation" / "00006.mp4"), top_k=None)
    assert sorted(r["label"] for r in scores) == sorted(ACTIONS)


def test_a_continued_run_starts_from_the_saved_weights(trained_reverse_model, tmp_path):
    """The reverse model, continued for one update at a tiny learning rate: already perfect."""
    from seq2seq.training import train

    config = tiny_config(str(tmp_path / "run"), training={
        "init_from": str(trained_reverse_model / "model"), "max_steps": 1, "eval_every_steps": 1,
        "learning_rate": 1e-6, "max_eval_examples": 64})
    train(config, get_task("translation"))
    evals = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if "valid/exact_match" in line]
    assert evals[0]["valid/exact_match"] >= 95.0  # from scratch: 0


def test_replay_mixes_a_seeded_share_of_the_old_rows():
    new = datasets.Dataset.from_dict({"video": [f"n{i}" for i in range(40)], "label": ["new"] * 40})
    old = datasets.Dataset.from_dict({"video": [f"o{i}" for i in range(100)], "label": ["old"] * 100})
    config = config_from_dict({"task": "action_recognition", "data": {"replay_path": "x", "replay_fraction": 0.25}})
    mixed = mix_replay(new, config, None, lambda data: old)
    assert len(mixed) == 50 and mixed["label"].count("old") == 10
    assert list(mix_replay(new, config, None, lambda data: old)["video"]) == list(mixed["video"])  # seeded
    with pytest.raises(ConfigError, match="go together"):
        from seq2seq.config_checks import check_continued

        check_continued(config_from_dict({"data": {"replay_path": "x"}}))
