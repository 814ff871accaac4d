"""Language-modelling text: a file split by characters, texts cut into blocks, blocks collated."""

import datasets
import pytest

from seq2seq.data import Collator
from seq2seq.text_blocks import cut_into_blocks, cut_texts, read_text_file
from seq2seq.tokenization import BOS_ID, EOS_ID


def test_a_text_file_splits_at_the_fraction_of_its_characters(tmp_path):
    text = "First line.\n  Second,  indented.\n\nThird ends here.\n" * 5
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    splits = read_text_file(path, valid_fraction=0.1)
    train, valid = splits["train"]["text"][0], splits["validation"]["text"][0]
    assert train + valid == text and len(train) == int(len(text) * 0.9)


def test_a_text_file_that_is_missing_too_short_or_not_utf8_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_text_file(tmp_path / "missing.txt", valid_fraction=0.1)
    (tmp_path / "tiny.txt").write_text("a")
    with pytest.raises(ValueError, match="too few"):
        read_text_file(tmp_path / "tiny.txt", valid_fraction=0.1)
    with pytest.raises(ValueError, match="valid_fraction"):
        read_text_file(tmp_path / "tiny.txt", valid_fraction=1.0)
    (tmp_path / "latin1.txt").write_bytes("café\n".encode("latin1"))
    with pytest.raises(ValueError, match="latin1.txt: line 1 is not UTF-8"):
        read_text_file(tmp_path / "latin1.txt", valid_fraction=0.5)


def test_texts_are_cut_into_blocks_that_join_back_and_only_the_last_ends():
    blocks, continues = cut_texts(["abcdefghij", "", "xyz"], 4)
    assert blocks == ["abcd", "efgh", "ij", "xyz"]
    assert continues == [True, True, False, False]
    assert cut_texts(["abcdefghij"], 0) == (["abcdefghij"], [False])  # 0: whole texts
    rows = datasets.Dataset.from_dict({"body": ["abcdefghij", "xyz"], "other": [1, 2]})
    cut = cut_into_blocks(rows, "body", 4)
    assert cut.column_names == ["text", "continues"] and cut["text"] == blocks and cut["continues"] == continues
    with pytest.raises(KeyError, match="no text column 'story'"):
        cut_into_blocks(rows, "story", 4)
    with pytest.raises(TypeError, match="column 'other' must hold text"):
        cut_into_blocks(rows, "other", 4)


def test_a_block_that_continues_has_no_eos_and_predicts_every_one_of_its_tokens():
    batch = Collator({})([{"tgt_ids": [5, 6, 7], "continues": True}, {"tgt_ids": [8, 9], "continues": False}])
    assert batch.tgt_in.tolist() == [[BOS_ID, 5, 6], [BOS_ID, 8, 9]]
    assert batch.tgt_out.tolist() == [[5, 6, 7], [8, 9, EOS_ID]]
    assert len(batch) == 2 and batch.num_target_tokens == 6


def test_a_stream_is_cut_into_the_same_blocks():
    rows = datasets.Dataset.from_dict({"body": ["abcdefghij", "xyz"], "other": [1, 2]})
    streamed = cut_into_blocks(rows.to_iterable_dataset(num_shards=2), "body", 4)
    blocks, continues = cut_texts(["abcdefghij", "xyz"], 4)
    assert [row["text"] for row in streamed] == blocks and [row["continues"] for row in streamed] == continues
