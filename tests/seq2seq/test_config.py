from pathlib import Path

import pytest

from seq2seq.config import ConfigError, config_from_dict, load_config


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_yaml_sections_are_typed_and_scientific_notation_is_a_float(tmp_path):
    config = load_config(write(tmp_path, "training:\n  learning_rate: 1e-3\n  max_epochs: 3\n"))
    assert config.training.learning_rate == pytest.approx(1e-3)
    assert isinstance(config.training.learning_rate, float)
    assert config.training.max_epochs == 3


@pytest.mark.parametrize(
    ("text", "key"),
    [("trainin:\n  seed: 1\n", "trainin"),
     ("training:\n  lr: 0.1\n", "training.lr"),
     ("model:\n  decoder:\n    hiden_size: 3\n", "model.decoder.hiden_size")],
)
def test_unknown_key_is_an_error_naming_it(tmp_path, text, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("values", "key"),
    [({"training": {"max_epochs": "many"}}, "training.max_epochs"),
     ({"training": {"max_epochs": 2.5}}, "training.max_epochs"),
     ({"model": {"decoder": {"input_feeding": "maybe"}}}, "model.decoder.input_feeding"),
     ({"data": {"source_files": ["a"]}}, "data.source_files"),
     ({"model": 3}, "model")],
)
def test_wrong_type_is_an_error_naming_the_key(values, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(values)


def test_overrides_are_coerced_by_field_type(tmp_path):
    config = load_config(
        write(tmp_path, "training:\n  max_epochs: 3\n"),
        ["training.learning_rate=3e-4", "training.max_epochs=7", "model.decoder.input_feeding=true",
         "inputs.source.encoder.dropout=0", "data.source_files={train: a.de, validation: b.de}", "task=translation",
         "data.path=123", "training.mixed_precision=no", "tokenizer.joint=yes"],
    )
    assert config.training.learning_rate == pytest.approx(3e-4)
    assert config.training.max_epochs == 7
    assert config.model.decoder.input_feeding is True
    assert config.inputs["source"].encoder.dropout == 0.0 and isinstance(config.inputs["source"].encoder.dropout, float)
    assert config.data.source_files == {"train": "a.de", "validation": "b.de"}
    assert config.data.path == "123"
    assert config.training.mixed_precision == "no" and config.tokenizer.joint is True


def test_unquoted_yaml_boolean_in_a_text_field_gets_a_hint(tmp_path):
    with pytest.raises(ConfigError, match="training.mixed_precision.*quote the value"):
        load_config(write(tmp_path, "training:\n  mixed_precision: no\n"))


def test_bad_override_shape_and_unknown_override_key():
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["training.seed"])
    with pytest.raises(ConfigError, match="'training.sed'"):
        load_config(None, ["training.sed=3"])


def test_missing_config_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_shipped_configs_load_and_pass_their_task_checks():
    from pipelines import get_task
    from seq2seq.config_checks import check_config

    shipped = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    assert len(shipped) >= 12
    for path in shipped:
        config = load_config(path)
        check_config(config, get_task(config.task))
