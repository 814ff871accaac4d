"""Video through the data path: preparation, per-epoch augmentation, cached CNN features, class folders."""

import shutil

import pytest
import torch

from pipelines.action_recognition import ActionRecognitionTask
from seq2seq.config import DataConfig
from seq2seq.data import Examples, add_frame_features
from seq2seq.encoders import VideoEncoder
from seq2seq.prepare import prepare_dataset
from seq2seq.processors import VideoProcessor
from seq2seq.sources import load_raw_dataset
from seq2seq.synthetic_video import make_video_corpus
from seq2seq.tokenization import Tokenizer


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return make_video_corpus(root, {"train": 8}, frames=8, frame_size=32)["train"]


def examples(rows, *, train=False, seed=0, tmp_path=None):
    to_example = ActionRecognitionTask().make_to_example(DataConfig())
    tokenizer = Tokenizer.train(None, list(rows["label"]) * 3, vocab_size=24, model_type="word")
    processors = {"video": VideoProcessor(num_frames=4, frame_size=24)}
    prepared = prepare_dataset(rows, tokenizer, processors, to_example=to_example, cache_dir=tmp_path)
    return Examples(prepared, processors, rows=rows, to_example=to_example, train=train, seed=seed)


def test_evaluation_examples_are_the_processor_output_and_batch_by_name(clips):
    data = examples(clips)
    assert data.prepared["video_length"] == [8] * 8 and data.references == list(clips["label"])
    first = data[0]
    assert torch.equal(first["video"], VideoProcessor(num_frames=4, frame_size=24)(clips[0]["video"]))
    batch = data.collate(data.__getitems__([0, 1, 2]))
    values, mask = batch.inputs["video"]
    assert values.shape == (3, 4, 3, 24, 24) and mask.all() and batch.tgt_out.size(0) == 3


def test_training_augmentation_is_reproducible_per_epoch_and_leaves_the_global_rng_alone(clips):
    one, two = examples(clips, train=True, seed=5), examples(clips, train=True, seed=5)
    state = torch.get_rng_state()
    assert torch.equal(one[3]["video"], two[3]["video"])
    assert torch.equal(torch.get_rng_state(), state)  # dropout masks do not depend on augmentation
    before = one[3]["video"]
    one.set_epoch(1)
    assert not torch.equal(one[3]["video"], before)
    assert not torch.equal(one[3]["video"], examples(clips)[3]["video"])  # not the eval preset


def test_cached_frame_features_are_the_encoders_and_are_computed_once(clips, tmp_path):
    torch.manual_seed(0)
    encoder = VideoEncoder(hidden_size=8, feature_size=16, freeze_cnn=True).eval()
    data = examples(clips, tmp_path=tmp_path)
    cached = add_frame_features(data, "video", encoder.frame_features, "cnn-a", cache_dir=tmp_path)
    assert cached.features == ["video"] and cached.media == []
    batch, frames = cached.collate(cached.__getitems__([0, 5])), data.collate(data.__getitems__([0, 5]))
    features, mask = batch.inputs["video"]
    assert features.shape == (2, 4, 16)
    torch.testing.assert_close(features, encoder.frame_features(*frames.inputs["video"]))
    torch.testing.assert_close(encoder(features, mask).final, encoder(*frames.inputs["video"]).final)
    again = add_frame_features(data, "video", lambda *_: pytest.fail("recomputed"), "cnn-a", cache_dir=tmp_path)
    assert again.prepared["video"] == cached.prepared["video"]
    other = add_frame_features(data, "video", lambda v, m: torch.zeros(*m.shape, 16), "cnn-b", cache_dir=tmp_path)
    assert other.prepared["video"] != cached.prepared["video"]  # another CNN, another cache entry


def test_class_folders_read_splits_and_labels(clips, tmp_path):
    for split, count in (("train", 3), ("val", 2)):
        for label in ("0_wave", "1_bend"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                shutil.copy(clips[index]["video"], folder / f"{index}.mp4")
    config = DataConfig(kind="class_folders", path=str(tmp_path),
                        folder_labels={"0_wave": "wave"})
    loaded = load_raw_dataset(config)
    assert sorted(loaded) == ["train", "val"] and len(loaded["train"]) == 6
    assert loaded["val"]["label"] == ["wave", "wave", "1_bend", "1_bend"]
    assert loaded["val"][0]["video"].endswith("val/0_wave/0.mp4")
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        load_raw_dataset(DataConfig(kind="class_folders", path=str(tmp_path / "nope")))


def test_targets_longer_than_the_generation_limit_are_warned_about(clips, caplog):
    from accelerate import PartialState

    from seq2seq.training_data import warn_if_targets_exceed_the_length_limit

    PartialState()  # Accelerate's logger needs it
    target_ids = list(examples(clips).prepared["tgt_ids"])
    with caplog.at_level("WARNING"):
        warn_if_targets_exceed_the_length_limit(target_ids, max_length=3)  # "moving left" + eos fits
    assert "generation.max_length" not in caplog.text
    with caplog.at_level("WARNING"):
        warn_if_targets_exceed_the_length_limit(target_ids, max_length=2)
    assert "longest training target has 3 tokens" in caplog.text


def test_cached_features_of_clips_of_different_lengths_come_back_exactly():
    import datasets
    import numpy as np

    from seq2seq.data import _clips_from_arrow

    clips = [np.random.default_rng(i).random((length, 5), dtype=np.float32) for i, length in enumerate((3, 1, 4))]
    table = datasets.Dataset.from_dict({"video": clips}).with_format("arrow", columns=["video"])[[2, 0, 1]]
    for tensor, index in zip(_clips_from_arrow(table.column("video")), [2, 0, 1], strict=True):
        assert tensor.dtype == torch.float32 and torch.equal(tensor, torch.from_numpy(clips[index]))
