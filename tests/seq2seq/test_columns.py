import datasets
import pytest

from seq2seq.columns import ColumnReader, parse_path, resolve_columns, text_value
from seq2seq.config import ConfigError, load_config


def test_paths_name_columns_keys_and_list_items():
    assert parse_path("de") == ["de"]
    assert parse_path("translation.de") == ["translation", "de"]
    assert parse_path("answers.text[0]") == ["answers", "text", 0]
    assert parse_path("a[1][-1].b") == ["a", 1, -1, "b"]
    for bad in ("", "a..b", "[0]", "a[x]", "a.", "a]"):
        with pytest.raises(ValueError, match="malformed"):
            parse_path(bad)


def test_reader_follows_nested_paths_and_names_what_is_missing():
    read = ColumnReader({"source": "translation.de", "target": "answers.text[0]", "plain": "x.y"})
    row = {"translation": {"de": "Hallo", "en": "Hello"}, "answers": {"text": ["France", "in France"]}, "x.y": 3}
    assert read(row, "source") == "Hallo" and read(row, "target") == "France"
    assert read(row, "plain") == 3  # a column whose name has a dot wins over the nested reading
    assert read.has(row, "source") and not read.has({"other": 1}, "source")
    with pytest.raises(KeyError, match=r"source column 'translation.de' not found in dataset row \(available: de\)"):
        read({"de": "x"}, "source")
    with pytest.raises(KeyError, match=r"no key 'de' \(available: en, fr\)"):
        read({"translation": {"en": "x", "fr": "y"}}, "source")
    with pytest.raises(KeyError, match="the list has 0 items, no \\[0\\]"):
        read({"answers": {"text": []}}, "target")
    with pytest.raises(TypeError, match="needs a list, found str"):
        read({"answers": {"text": "France"}}, "target")


def test_class_label_columns_give_label_names():
    features = datasets.Features({"label": datasets.ClassLabel(names=["walk", "run"]),
                                  "tags": datasets.Sequence(datasets.ClassLabel(names=["a", "b"])),
                                  "meta": {"kind": datasets.ClassLabel(names=["x", "y"])}})
    read = ColumnReader({"target": "label", "tags": "tags", "kind": "meta.kind"}, features)
    row = {"label": 1, "tags": [0, 1, 1], "meta": {"kind": 0}}
    assert read(row, "target") == "run" and read(row, "tags") == ["a", "b", "b"] and read(row, "kind") == "x"
    assert ColumnReader({"target": "label"})(row, "target") == 1  # without features: the number


def test_a_list_where_text_is_needed_suggests_an_item():
    with pytest.raises(TypeError, match=r"holds a list of 2 texts: pick one, e.g. 'answers.text\[0\]'"):
        text_value(["a", "b"], "target", "answers.text")


def test_the_mapping_is_checked_against_the_task_fields():
    assert resolve_columns({"source": "source", "target": "target"}, {"source": "de"}, "translation") == {
        "source": "de", "target": "target"}
    with pytest.raises(ConfigError, match="the translation task reads no field 'sorce' .did you mean 'source'"):
        resolve_columns({"source": "source", "target": "target"}, {"sorce": "de"}, "translation")


def test_old_column_keys_say_where_they_went(tmp_path):
    with pytest.raises(ConfigError, match=r"'data.source_column' is now data.columns"):
        load_config(None, ["data.source_column=de"])
    with pytest.raises(ConfigError, match="data.kind: 'hub' is now 'huggingface'"):
        load_config(None, ["data.kind=hub"])


def test_a_csv_column_of_digits_is_text_to_a_task(tmp_path):
    """pandas reads a CSV column of digits as integers; a text field takes them as their digits."""
    from pipelines import get_task
    from seq2seq.config import DataConfig

    (tmp_path / "train.csv").write_text("words,digits\nforty-two,42\nseven,7\n")
    rows = datasets.load_dataset("csv", data_files={"train": str(tmp_path / "train.csv")})["train"]
    assert rows[0]["digits"] == 42  # what the CSV reader gives
    to_example = get_task("translation").make_to_example(DataConfig(columns={"source": "words", "target": "digits"}),
                                                         rows.features)
    assert [to_example(row)["target_text"] for row in rows] == ["42", "7"]
    for value, kind in ((4.2, "float"), (True, "bool"), (None, "NoneType")):
        with pytest.raises(TypeError, match=f"target column 'digits' must hold text, got {kind}"):
            text_value(value, "target", "digits")


def test_a_class_label_of_minus_one_is_no_label_and_such_rows_are_dropped_and_counted(caplog):
    """-1 is the `datasets` convention for "no label": it must not become the last class name."""
    import datasets

    from pipelines import get_task
    from seq2seq.config import DataConfig
    from seq2seq.prepare import prepare_dataset
    from seq2seq.processors import TextProcessor
    from seq2seq.tokenization import Tokenizer

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["run", "jump", "walk"])})
    rows = datasets.Dataset.from_dict({"text": ["a b", "b c", "c d", "d e"], "label": [0, -1, 2, -1]},
                                      features=features)
    read = ColumnReader({"target": "label"}, rows.features)
    assert [read(row, "target") for row in rows] == ["run", None, "walk", None]
    with pytest.raises(ValueError, match=r"target column 'label': class number 3 is not one of the 3 ClassLabel"):
        read({"label": 3}, "target")

    to_example = get_task("translation").make_to_example(DataConfig(columns={"source": "text", "target": "label"}),
                                                         rows.features)
    assert to_example(rows[1])["target_text"] is None
    tokenizer = Tokenizer.train(["a b c d e"] * 5, ["run jump walk"] * 5, vocab_size=12, model_type="word")
    dropped = {}
    with caplog.at_level("WARNING"):
        prepared = prepare_dataset(rows, tokenizer, {"source": TextProcessor(tokenizer)}, to_example=to_example,
                                   dropped=dropped)
    assert prepared["target_text"] == ["run", "walk"] and prepared["row"] == [0, 2]
    assert "dropped 2 of 4 examples: no label" in caplog.text and dropped == {"unlabelled": 2}
