import json

import datasets
import pytest
from conftest import collate, prepare, source_ids

from pipelines.translation import TranslationTask
from seq2seq.batching import BucketBatchSampler
from seq2seq.config import DataConfig
from seq2seq.sources import load_raw_dataset
from seq2seq.splits import get_split
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID, Tokenizer


def test_collate_pads_and_shifts_targets():
    batch = collate([{"src_ids": [5, 6, 3], "tgt_ids": [7, 8]}, {"src_ids": [9, 3], "tgt_ids": [10]}])
    assert source_ids(batch).tolist() == [[5, 6, 3], [9, 3, PAD_ID]]
    assert batch.inputs["source"][1].tolist() == [[True, True, True], [True, True, False]]
    assert batch.tgt_in.tolist() == [[BOS_ID, 7, 8], [BOS_ID, 10, PAD_ID]]
    assert batch.tgt_out.tolist() == [[7, 8, EOS_ID], [10, EOS_ID, PAD_ID]]
    assert batch.num_target_tokens == 5 and len(batch) == 2


@pytest.mark.parametrize("batch_type,batch_size", [("sentences", 7), ("tokens", 60)])
def test_bucket_sampler_yields_every_example_once_in_similar_length_batches(batch_type, batch_size):
    lengths = [(i * 7919) % 23 + 1 for i in range(500)]
    sampler = BucketBatchSampler(lengths, batch_size=batch_size, batch_type=batch_type, seed=3)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for batch in batches:
        if batch_type == "sentences":
            assert len(batch) <= batch_size
        else:
            assert max(lengths[i] for i in batch) * len(batch) <= batch_size or len(batch) == 1
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 3  # sorted pools: little padding


def test_bucket_sampler_is_reproducible_per_epoch():
    lengths = list(range(1, 200))
    first = BucketBatchSampler(lengths, batch_size=8, seed=1)
    second = BucketBatchSampler(lengths, batch_size=8, seed=1)
    assert list(first) == list(second)
    epoch0 = list(first)
    first.set_epoch(1)
    assert list(first) != epoch0


def test_parallel_text_files(tmp_path):
    (tmp_path / "a.de").write_text("ein hund\nzwei katzen\n")
    (tmp_path / "a.en").write_text("a dog\ntwo cats\n")
    config = DataConfig(kind="parallel_text", source_files={"train": str(tmp_path / "a.de")},
                        target_files={"train": str(tmp_path / "a.en")}, columns={"source": "de", "target": "en"})
    data = load_raw_dataset(config)
    assert data["train"][1] == {"de": "zwei katzen", "en": "two cats"}


def test_data_errors_name_the_file_split_or_kind(tmp_path):
    (tmp_path / "a.de").write_text("x\ny\n")
    (tmp_path / "a.en").write_text("x\n")
    with pytest.raises(FileNotFoundError, match="missing.de"):
        load_raw_dataset(DataConfig(kind="parallel_text", source_files={"train": str(tmp_path / "missing.de")},
                                    target_files={"train": str(tmp_path / "a.en")}))
    with pytest.raises(ValueError, match="line-aligned"):
        load_raw_dataset(DataConfig(kind="parallel_text", source_files={"train": str(tmp_path / "a.de")},
                                    target_files={"train": str(tmp_path / "a.en")}))
    with pytest.raises(ValueError, match="'ftp'"):
        load_raw_dataset(DataConfig(kind="ftp"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_raw_dataset(DataConfig(kind="huggingface", path=str(tmp_path / "nowhere")))
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        load_raw_dataset(DataConfig(kind="huggingface", path="json",
                                    data_files={"train": str(tmp_path / "nothing.json")}))
    data = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"source": []})})
    with pytest.raises(KeyError, match="'validation'"):
        get_split(data, "validation")
    with pytest.raises(ValueError, match="'train' is empty"):
        get_split(data, "train")


def test_disk_and_json_sources_load(tmp_path):
    rows = {"source": ["a b", "c"], "target": ["b a", "c"]}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)}).save_to_disk(tmp_path / "saved")
    loaded = load_raw_dataset(DataConfig(kind="huggingface", path=str(tmp_path / "saved")))
    assert list(loaded["train"]["source"]) == ["a b", "c"]
    (tmp_path / "train.jsonl").write_text('{"source": "a b", "target": "b a"}\n')
    files = {"train": str(tmp_path / "train.jsonl")}
    loaded = load_raw_dataset(DataConfig(kind="huggingface", path="json", data_files=files))
    assert loaded["train"][0] == {"source": "a b", "target": "b a"}


def test_prepare_dataset_filters_long_pairs_and_reports_emptiness():
    rows = datasets.Dataset.from_dict({"source": ["a b c", "a " * 40], "target": ["c b a", "a"]})
    tokenizer = Tokenizer.train(["a b c d"] * 20, ["c b a d"] * 20, vocab_size=12)
    to_example = lambda row: {"source": row["source"], "target_text": row["target"]}  # noqa: E731
    tokenized = prepare(rows, tokenizer, to_example=to_example, max_source_length=10)
    assert len(tokenized) == 1
    assert tokenized[0]["source"] == tokenizer.encode_source(["a b c"])[0]
    with pytest.raises(ValueError, match="no examples left"):
        prepare(rows, tokenizer, to_example=to_example, max_source_length=1)


def saved_dataset(tmp_path, kind):
    """A dataset read from disk the way users bring one: save_to_disk, or a folder of files loaded by
    path as a hub id is. Both have cache files, so `datasets` caches the tokenized result on disk."""
    rows = {"source": ["a b c", "b c d e", "c d"] * 10, "target": ["x y", "y z w", "z"] * 10}
    if kind == "disk":
        datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)}).save_to_disk(tmp_path / "saved")
        return load_raw_dataset(DataConfig(kind="huggingface", path=str(tmp_path / "saved")))["train"]
    folder = tmp_path / "folder"
    folder.mkdir()
    lines = [json.dumps({"source": s, "target": t}) for s, t in zip(rows["source"], rows["target"], strict=True)]
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    return load_raw_dataset(DataConfig(kind="huggingface", path=str(folder)))["train"]


@pytest.mark.parametrize("kind", ["disk", "hub"])
def test_the_tokenized_cache_depends_on_the_tokenizer_and_the_row_mapping(tmp_path, kind):
    rows = saved_dataset(tmp_path, kind)
    assert rows.cache_files  # the datasets library's own cache is in play
    task = TranslationTask()
    forward = task.make_to_example(DataConfig())
    backward = task.make_to_example(DataConfig(columns={"source": "target", "target": "source"}))
    small = Tokenizer.train(["a b c d e"] * 20, ["x y z w"] * 20, vocab_size=10)
    large = Tokenizer.train(["a b c d e", "a b", "c d e"] * 20, ["x y z w", "x y", "z w"] * 20, vocab_size=14)
    joint = Tokenizer.train(["a b c d e"] * 20, ["x y z w"] * 20, vocab_size=14, joint=True)
    assert small.fingerprint != large.fingerprint

    for tokenizer in (small, large, small):
        tokenized = prepare(rows, tokenizer, to_example=forward)
        assert tokenized["source"] == tokenizer.encode_source(list(rows["source"]))
        assert tokenized["tgt_ids"] == tokenizer.encode_target(list(rows["target"]))
    for to_example, source, target in ((forward, "source", "target"), (backward, "target", "source")):
        tokenized = prepare(rows, joint, to_example=to_example)
        assert tokenized["source"] == joint.encode_source(list(rows[source]))
        assert tokenized["tgt_ids"] == joint.encode_target(list(rows[target]))
    lengths = [len(ids) for ids in joint.encode_source(list(rows["source"]))]
    shortest = min(lengths)
    assert shortest < max(lengths)
    assert len(prepare(rows, joint, to_example=forward)) == 30
    filtered = prepare(rows, joint, to_example=forward, max_source_length=shortest)
    assert len(filtered) == lengths.count(shortest) < 30


def test_the_same_preprocessing_is_read_back_from_the_cache(tmp_path):
    rows = saved_dataset(tmp_path, "disk")
    to_example = TranslationTask().make_to_example(DataConfig())
    tokenizer = Tokenizer.train(["a b c d e"] * 20, ["x y z w"] * 20, vocab_size=10)
    first = prepare(rows, tokenizer, to_example=to_example)
    # Another process (or run) builds equal objects: the key must not depend on object identity.
    again = prepare(rows, Tokenizer.from_pretrained(save(tokenizer, tmp_path / "tok")),
                             to_example=TranslationTask().make_to_example(DataConfig()))
    assert again.cache_files == first.cache_files


def save(tokenizer, directory):
    tokenizer.save_pretrained(directory)
    return directory
