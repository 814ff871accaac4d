"""Audio training data: features computed once at preparation, SpecAugment drawn per access."""

from pathlib import Path

import pytest
import torch

from pipelines import get_task
from pipelines.speech_recognition import SpeechRecognitionTask
from seq2seq.config import DataConfig
from seq2seq.data import Examples
from seq2seq.prepare import prepare_dataset
from seq2seq.processors import AudioProcessor
from seq2seq.synthetic_audio import make_dtmf_corpus
from seq2seq.tokenization import Tokenizer


@pytest.fixture(scope="module")
def utterances(tmp_path_factory):
    return make_dtmf_corpus(tmp_path_factory.mktemp("dtmf"), {"train": 6}, max_keys=3)["train"]


def examples(rows, *, cache_features=True, train=False, seed=0):
    to_example = SpeechRecognitionTask().make_to_example(DataConfig())
    tokenizer = Tokenizer.train(None, list(rows["text"]) * 3, vocab_size=24, model_type="char")
    processors = {"audio": AudioProcessor(sampling_rate=8000, num_mel_bins=20, cache_features=cache_features)}
    prepared = prepare_dataset(rows, tokenizer, processors, to_example=to_example)
    return Examples(prepared, processors, rows=rows, to_example=to_example, train=train, seed=seed)


def test_cached_features_are_the_processor_output_and_are_not_decoded_again(utterances):
    cached, decoded = examples(utterances), examples(utterances, cache_features=False)
    assert cached.features == ["audio"] and cached.media == [] and decoded.media == ["audio"]
    processor = AudioProcessor(sampling_rate=8000, num_mel_bins=20)
    for index in range(len(utterances)):
        expected = processor(utterances[index]["audio"])
        assert cached.prepared["audio_length"][index] == len(expected)
        torch.testing.assert_close(cached[index]["audio"], expected, rtol=0, atol=0)
        torch.testing.assert_close(decoded[index]["audio"], expected, rtol=0, atol=0)


def test_spec_augment_on_cached_features_is_per_epoch_and_reproducible(utterances):
    one, two = examples(utterances, train=True, seed=3), examples(utterances, train=True, seed=3)
    state = torch.get_rng_state()
    assert torch.equal(one[2]["audio"], two[2]["audio"])
    assert torch.equal(torch.get_rng_state(), state)
    plain = examples(utterances)[2]["audio"]
    masked = one[2]["audio"]
    assert not torch.equal(masked, plain) and bool(((masked == plain) | (masked == 0)).all())  # masks are zeros
    one.set_epoch(1)
    assert not torch.equal(one[2]["audio"], masked)


def test_a_changed_processor_setting_invalidates_the_cached_features(tmp_path):
    """An audiofolder's prepared features are cached by `datasets`: the same settings read them back,
    another num_mel_bins computes them anew."""
    import datasets
    from conftest import write_tone_folder

    rows = datasets.load_dataset(str(write_tone_folder(tmp_path, {"train": 2})))["train"]
    to_example = get_task("action_recognition").make_to_example(DataConfig(columns={"audio": "audio"}), rows.features)

    def prepare(mel_bins):
        processors = {"audio": AudioProcessor(sampling_rate=8000, num_mel_bins=mel_bins)}
        labels = ["low", "middle", "high", "very high"] * 5
        tokenizer = Tokenizer.train(["x"] * 5, labels, vocab_size=8, model_type="word")
        return prepare_dataset(rows, tokenizer, processors, to_example=to_example)

    first, again, other = prepare(20), prepare(20), prepare(24)
    assert again.cache_files == first.cache_files  # a second run starts at once
    assert other.cache_files != first.cache_files
    assert len(first[0]["audio"][0]) == 20 and len(other[0]["audio"][0]) == 24


def test_duration_limits_drop_training_audio_outside_them(tmp_path):
    import datasets
    from conftest import write_tone_folder

    from seq2seq.preparation import media_seconds
    from seq2seq.streaming import StreamingExamples, StreamingLoader

    rows = datasets.load_dataset(str(write_tone_folder(tmp_path, {"train": 3})))["train"]
    to_example = get_task("action_recognition").make_to_example(DataConfig(columns={"audio": "audio"}), rows.features)
    processor = AudioProcessor(sampling_rate=8000, num_mel_bins=20)
    seconds = sorted(media_seconds(processor, row["audio"], "audio") for row in rows)
    low, high = seconds[2], seconds[-3]  # keeps the middle 8 of 12 clips
    tokenizer = Tokenizer.train(["x"] * 5, ["low", "middle", "high", "very high"] * 5, vocab_size=8, model_type="word")
    dropped = {}
    prepared = prepare_dataset(rows, tokenizer, {"audio": processor}, to_example=to_example, min_duration_seconds=low,
                               max_duration_seconds=high, dropped=dropped)
    assert len(prepared) == sum(low <= s <= high for s in seconds) == 8 and dropped == {"duration": 4}
    stream = StreamingExamples(rows.to_iterable_dataset(), {"audio": processor}, tokenizer, to_example=to_example,
                               min_duration_seconds=low, max_duration_seconds=high)
    loader = StreamingLoader(stream, batch_size=4, micro_batches=2)  # through the loader and its updates
    loader.set_epoch(0)
    updates = list(loader.iter_updates())
    assert sum(len(batch) for update in updates for batch in update) == 8 and stream.dropped == {"duration": 4}
    assert len(updates) == 3  # 12 clips in updates of 4: one per update batch read, drops or not


def test_replaced_files_under_the_same_paths_are_prepared_anew(tmp_path):
    """Generated rows hold only paths: a file rewritten under its old name must not be read from
    the cache of its old contents."""
    import os
    import shutil

    rows = make_dtmf_corpus(tmp_path / "dtmf", {"train": 4}, max_keys=3)["train"]
    to_example = SpeechRecognitionTask().make_to_example(DataConfig())
    tokenizer = Tokenizer.train(None, list(rows["text"]) * 3, vocab_size=24, model_type="char")
    processors = {"audio": AudioProcessor(sampling_rate=8000, num_mel_bins=20)}

    def prepare():
        return prepare_dataset(rows, tokenizer, processors, to_example=to_example, cache_dir=tmp_path / "cache")

    first, again = prepare(), prepare()
    assert again.cache_files == first.cache_files
    shutil.copyfile(rows[1]["audio"], rows[0]["audio"])  # row 0's file now holds row 1's sound
    os.utime(rows[0]["audio"], ns=(1, 1))  # even with an old timestamp, the size or time differs
    replaced = prepare()
    assert replaced.cache_files != first.cache_files
    assert replaced[0]["audio"] == replaced[1]["audio"] != first[0]["audio"]


def test_a_missing_file_is_skipped_with_skip_bad_examples(tmp_path):
    rows = make_dtmf_corpus(tmp_path / "dtmf", {"train": 4}, max_keys=3)["train"]
    Path(rows[2]["audio"]).unlink()
    to_example = SpeechRecognitionTask().make_to_example(DataConfig())
    tokenizer = Tokenizer.train(None, list(rows["text"]) * 3, vocab_size=24, model_type="char")
    processors = {"audio": AudioProcessor(sampling_rate=8000, num_mel_bins=20)}
    with pytest.raises(FileNotFoundError, match="audio file not found"):
        prepare_dataset(rows, tokenizer, processors, to_example=to_example)
    kept = prepare_dataset(rows, tokenizer, processors, to_example=to_example, skip_bad_examples=True)
    assert len(kept) == len(rows) - 1 and 2 not in kept["row"]
