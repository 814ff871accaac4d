import json
import shutil

import pytest
import torch
from conftest import collate

from pipelines import TranslationPipeline, get_task, pipeline
from pipelines.base import has_native_bf16
from pipelines.translation import TranslationTask
from seq2seq.config import DataConfig, GenerationConfig
from seq2seq.search import length_penalty


@pytest.fixture(scope="module")
def translate(trained_reverse_model):
    return pipeline("translation", model=trained_reverse_model / "model", bf16=False)


def test_to_example_reads_plain_and_nested_columns():
    to_example = TranslationTask().make_to_example(DataConfig(columns={"source": "de", "target": "en"}))
    assert to_example({"de": "Hallo", "en": "Hello"}) == {"source": "Hallo", "target_text": "Hello"}
    nested = TranslationTask().make_to_example(DataConfig(columns={"source": "translation.de",
                                                                   "target": "translation.en"}))
    assert nested({"translation": {"de": "Hallo", "en": "Hello"}}) == {"source": "Hallo", "target_text": "Hello"}
    with pytest.raises(KeyError, match="source column 'translation.de': no key 'de' .available: fr"):
        nested({"translation": {"fr": "Bonjour"}})
    with pytest.raises(KeyError, match="'de' not found.*available: fr"):
        to_example({"fr": "Bonjour"})
    with pytest.raises(TypeError, match="'de' must hold text"):
        to_example({"de": 3.5, "en": "x"})  # (a whole number is taken as its digits)


def test_task_metrics():
    metrics = get_task("translation").compute_metrics(["a b c d"], ["a b c d"])
    assert metrics["bleu"] == pytest.approx(100) and metrics["exact_match"] == 100


@pytest.mark.slow
def test_pipeline_translates_string_and_list(translate):
    assert translate("a b c d e") == [{"translation_text": "e d c b a"}]
    inputs = ["p o n m", "a b c", "c a f e b d h"]
    assert translate(inputs) == [{"translation_text": " ".join(reversed(s.split()))} for s in inputs]
    assert translate(inputs, num_beams=1, batch_size=1) == translate(inputs)


def test_pipeline_translates_a_dataset_column_batch_by_batch(translate):
    import datasets

    from pipelines import KeyDataset

    texts = ["p o n m", "a b c", "c a f e b d h", "q r"]
    rows = datasets.Dataset.from_dict({"de": texts, "id": [1, 2, 3, 4]})
    expected = translate(texts)
    assert list(translate(rows["de"], batch_size=3)) == expected
    assert list(translate(KeyDataset(rows.to_iterable_dataset(), "de"), num_beams=1)) == translate(texts, num_beams=1)
    with pytest.raises(TypeError, match="translation pipeline reads one column"):
        list(translate(rows))


@pytest.mark.slow
def test_pipeline_scores_and_attention(translate):
    [result] = translate("a b c d", return_scores=True, return_attention=True, num_beams=1)
    assert result["translation_text"] == "d c b a"
    # The score is the model's log-probability of the output over the length penalty (alpha 1).
    tokenizer, model = translate.tokenizer, translate.model
    target = tokenizer.encode_target(["d c b a"])[0]
    batch = collate([{"src_ids": tokenizer.encode_source(["a b c d"])[0], "tgt_ids": target}])
    expected = float(model.score(batch)[0]) / length_penalty(len(target) + 1, 1.0)
    assert result["score"] == pytest.approx(expected, abs=1e-4)
    assert translate("a b c d", return_scores=True, num_beams=3)[0]["score"] == pytest.approx(expected, abs=1e-4)
    attention = result["attention"]
    assert attention.shape == (len(result["target_tokens"]), len(result["source_tokens"]))
    torch.testing.assert_close(attention.sum(-1), torch.ones(attention.size(0)))
    # Reversal: the first output letter attends most to the last input letter.
    assert result["source_tokens"][int(attention[0].argmax())].strip("▁") == "d"


@pytest.mark.slow
def test_pipeline_input_errors(translate):
    with pytest.raises(ValueError, match="empty"):
        translate([])
    with pytest.raises(ValueError, match="input 1 is an empty string"):
        translate(["a b", "  "])
    with pytest.raises(TypeError, match="input 0 is int"):
        translate([3])
    with pytest.raises(TypeError, match="string or a list of strings"):
        translate(None)
    with pytest.raises(TypeError, match="unknown generation setting.*beams"):
        translate("a b", beams=3)
    with pytest.raises(ValueError, match="num_beams must be a whole number >= 1"):
        translate("a b", num_beams=0)
    with pytest.raises(ValueError, match="max_length must be a whole number >= 1"):
        translate("a b", max_length=-1)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        translate("a b", batch_size=0)


@pytest.mark.slow
def test_pipeline_model_directory_errors(trained_reverse_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="model directory not found"):
        pipeline("translation", model=tmp_path / "nothing")
    incomplete = tmp_path / "incomplete"
    shutil.copytree(trained_reverse_model / "model", incomplete)
    (incomplete / "source.spm").unlink()
    with pytest.raises(FileNotFoundError, match="source.spm"):
        TranslationPipeline(incomplete)
    with pytest.raises(ValueError, match="unknown task 'summarization'"):
        pipeline("summarization", model=trained_reverse_model / "model")


@pytest.mark.slow
def test_pipeline_settings_errors_at_construction(trained_reverse_model):
    with pytest.raises(ValueError, match="num_beams must be a whole number >= 1"):
        pipeline("translation", model=trained_reverse_model / "model", num_beams=0)


@pytest.mark.slow
def test_pipeline_chooses_bf16_where_the_hardware_has_it(trained_reverse_model, monkeypatch):
    model = trained_reverse_model / "model"
    for native in (True, False):
        monkeypatch.setattr("pipelines.base.has_native_bf16", lambda device, native=native: native)
        assert pipeline("translation", model=model).bf16 is native
        assert pipeline("translation", model=model, bf16=not native).bf16 is (not native)  # explicit wins


def test_native_bf16_detection_reads_the_cpu_flags(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr("pipelines.base.CPUINFO", cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu sse2 avx512f avx512_bf16 avx512vl\n")
    assert has_native_bf16(torch.device("cpu"))
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2\n")
    assert not has_native_bf16(torch.device("cpu"))
    cpuinfo.unlink()
    assert not has_native_bf16(torch.device("cpu"))
    assert not has_native_bf16(torch.device("meta"))


@pytest.mark.slow
def test_pipeline_bf16_decoding_gives_the_same_translations(trained_reverse_model, translate):
    inputs = ["p o n m", "a b c", "c a f e b d h"]
    fast = pipeline("translation", model=trained_reverse_model / "model", bf16=True)
    assert fast(inputs) == translate(inputs)
    [result] = fast("a b c d", return_attention=True)
    assert result["attention"].dtype == torch.float32


@pytest.mark.slow
def test_a_multi_sentence_input_is_translated_whole_sentence_by_sentence(translate):
    [result] = translate("a b c\n\nd e f g")
    assert result["translation_text"] == "c b a\n\ng f e d"  # the spacing between sentences is kept
    assert [s["source_text"] for s in result["sentences"]] == ["a b c", "d e f g"]
    assert [s["translation_text"] for s in result["sentences"]] == ["c b a", "g f e d"]
    [whole] = translate("a b c\n\nd e f g", split_sentences=False)
    assert "sentences" not in whole
    [scored] = translate("a b c\nd e f g", return_scores=True)
    assert scored["score"] == pytest.approx(sum(s["score"] for s in scored["sentences"]) / 2)


@pytest.mark.slow
def test_an_output_cut_at_its_length_limit_is_marked_and_warned_about(translate, caplog):
    with caplog.at_level("WARNING", logger="pipelines.translation"):
        complete = translate(["a b c d e f", "k l"])
    assert all("truncated" not in result for result in complete) and not caplog.records
    with caplog.at_level("WARNING", logger="pipelines.translation"):
        results = translate(["a b c d e f", "k l"], max_length=3)
    assert results[0] == {"translation_text": "f e d", "truncated": True}
    assert results[1] == {"translation_text": "l k"}
    assert [r.getMessage() for r in caplog.records] == [
        "1 of 2 translations stopped at the length limit before finishing and are marked 'truncated' "
        "(max_length=3, max_length_a=2, max_length_b=10)"]
    # The relative limit scales with the input: a * 7 tokens + b = 3 output tokens here.
    [relative] = translate("a b c d e f", max_length_a=0.5, max_length_b=0)
    assert relative == {"translation_text": "f e d", "truncated": True}
    [split] = translate("a b c d e f\nk l", max_length=3)
    assert split["truncated"] and split["translation_text"] == "f e d\nl k"


@pytest.mark.slow
def test_an_input_longer_than_any_in_training_gets_a_warning(translate, caplog):
    longest = translate.longest_training_source
    assert longest and longest >= 3
    with caplog.at_level("WARNING", logger="pipelines.translation"):
        translate(" ".join("abcdefghijklmnopqrstuvwxyz"[: longest + 2]))
    assert any(f"1 of 1 inputs are longer than any source the model saw in training ({longest} tokens)"
               in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_a_model_saved_without_the_newer_settings_gets_their_defaults(trained_reverse_model, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(trained_reverse_model / "model", old)
    config = json.loads((old / "config.json").read_text())
    for name in ("max_length_a", "max_length_b", "split_sentences"):
        del config["generation"][name]
    del config["data"]["longest_source"]
    (old / "config.json").write_text(json.dumps(config))
    loaded = pipeline("translation", model=old, bf16=False)
    assert (loaded.settings["max_length_a"], loaded.settings["max_length_b"], loaded.settings["split_sentences"]) == (
        GenerationConfig().max_length_a, GenerationConfig().max_length_b, True)
    assert loaded("a b c") == [{"translation_text": "c b a"}]


def test_a_model_of_lowercased_text_splits_lowercased_sentences(translate):
    """The reverse task's vocabulary has no capital: its users write lowercase, so "c. d" ends a
    sentence (the 40-sentence lowercased input no longer comes back as one sentence's output).
    ("c." would be an initial: "!" ends a sentence whatever the word before it.)"""
    assert translate.lowercase_text
    [result] = translate("a b c! d e f g!")
    assert [s["source_text"] for s in result["sentences"]] == ["a b c!", "d e f g!"]


@pytest.mark.slow
def test_an_output_far_shorter_than_its_input_is_marked_incomplete(translate, caplog):
    assert translate.length_ratio == pytest.approx(1.0, abs=0.2)  # reversing keeps the length
    text = "a b c d e f g h i j k"
    with caplog.at_level("WARNING", logger="pipelines.translation"):
        [complete] = translate(text)
    assert complete == {"translation_text": "k j i h g f e d c b a"} and not caplog.records
    ratio = translate.length_ratio
    try:
        translate.length_ratio = 3.0  # as if the training targets were three times their sources
        with caplog.at_level("WARNING", logger="pipelines.translation"):
            [short] = translate(text)
            [too_short_to_tell] = translate("a b c")
    finally:
        translate.length_ratio = ratio
    assert short == {"translation_text": "k j i h g f e d c b a", "incomplete": True}
    assert "incomplete" not in too_short_to_tell  # fewer than 10 input tokens: never marked
    assert "1 of 1 translations are far shorter than their inputs" in caplog.text


def test_an_int8_pipeline_translates_as_fp32_and_loads_from_an_int8_directory(trained_reverse_model, translate,
                                                                               tmp_path, run_script):
    from seq2seq.synthetic import make_corpus

    sources = list(make_corpus("reverse", {"train": 1, "validation": 30, "test": 1})["validation"]["source"])
    int8 = pipeline("translation", model=trained_reverse_model / "model", quantize="int8")
    expected = [r["translation_text"] for r in translate(sources)]
    quantized = [r["translation_text"] for r in int8(sources)]
    assert sum(a == b for a, b in zip(quantized, expected, strict=True)) >= 27  # int8 rounding flips few, if any
    status, _, _ = run_script("export", "--model", str(trained_reverse_model / "model"), "--output",
                              str(tmp_path / "int8"), "--int8")
    assert status == 0
    assert json.loads((tmp_path / "int8" / "config.json").read_text())["quantization"] == "int8"
    saved = pipeline("translation", model=tmp_path / "int8")
    assert [r["translation_text"] for r in saved(sources)] == quantized  # the same int8 weights
    with pytest.raises(ValueError, match="bf16"):
        pipeline("translation", model=tmp_path / "int8", bf16=True)
    with pytest.raises(ValueError, match="quantization must be one of int8"):
        pipeline("translation", model=trained_reverse_model / "model", quantize="int4")
    status, _, err = run_script("export", "--model", str(tmp_path / "int8"), "--output", str(tmp_path / "int8"),
                                "--int8")
    assert status == 2 and "--output must differ" in err
