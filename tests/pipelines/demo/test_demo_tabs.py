"""The demo's tab functions without a browser: what each shows equals what its pipeline returns,
attention pictures have the right rows and columns, and a user's mistake becomes a message."""

import numpy as np
import pytest
import torch
from conftest import write_hop_model

from pipelines import pipeline
from pipelines.demo.common import MAX_TEXT_CHARACTERS, check_text, check_upload, shows_errors
from pipelines.demo.forecasting import example_series, forecast, parse_series
from pipelines.demo.question_answering import answer, attention_table
from pipelines.demo.text_generation import generate
from pipelines.demo.translation import translate
from seq2seq.media import MediaError, write_audio


@pytest.fixture(scope="module")
def gradio():
    """gradio, imported by the tests that need it (not at collection: it takes seconds to import)."""
    return pytest.importorskip("gradio", reason='the demo needs gradio: pip install -e ".[demo]"')


def test_text_is_refused_when_empty_or_over_the_stated_size():
    assert check_text("  Where is Mary? ", "question") == "Where is Mary?"
    with pytest.raises(ValueError, match="the question is empty"):
        check_text(" \n", "question")
    with pytest.raises(ValueError, match=f"2,001 characters; this demo takes at most {MAX_TEXT_CHARACTERS:,}"):
        check_text("x" * 2001, "story")


def test_uploads_are_refused_when_missing_corrupt_empty_or_too_long(tmp_path):
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    write_audio(short, torch.zeros(8000), sampling_rate=8000)
    write_audio(long, torch.zeros(8000 * 31), sampling_rate=8000)
    assert check_upload(str(short), "audio", 30.0) == short
    with pytest.raises(MediaError, match=r"long.wav: the audio lasts 31.0 s; this demo takes at most 30 s"):
        check_upload(str(long), "audio", 30.0)
    (tmp_path / "bad.mp4").write_bytes(b"not a video" * 50)
    with pytest.raises(MediaError, match=r"bad.mp4: not a video file that can be decoded \(corrupt, or no video "
                                         r"stream\): Invalid data"):
        check_upload(str(tmp_path / "bad.mp4"), "video", 30.0)
    with pytest.raises(MediaError, match="short.wav: not a video file"):
        check_upload(str(short), "video", 30.0)  # a recording where a video was asked for
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty.wav: the file is empty \(0 bytes\)"):
        check_upload(str(tmp_path / "empty.wav"), "audio", 30.0)
    with pytest.raises(ValueError, match="no audio: upload a file or record one first"):
        check_upload(None, "audio", 30.0)


def test_a_users_mistake_becomes_a_message_in_the_page_and_a_bug_stays_a_bug(gradio):
    def refuse(text):
        raise ValueError(f"the question is empty ({text})")

    with pytest.raises(gradio.Error) as raised:
        shows_errors(refuse)("x")
    assert raised.value.message == "the question is empty (x)"

    def stream(text):
        yield text
        raise KeyError("column 'story' not found")

    wrapped = shows_errors(stream)
    with pytest.raises(gradio.Error, match="column 'story' not found"):
        list(wrapped("x"))
    with pytest.raises(ZeroDivisionError):
        shows_errors(lambda: 1 / 0)()


def test_the_translation_tab_shows_the_pipelines_translation_and_its_attention(trained_reverse_model):
    translate_pipe = pipeline("translation", model=trained_reverse_model / "model", bf16=False)
    for beams in (1, 3):
        text, figure, notes = translate(translate_pipe, "  a b c d e ", beams)
        expected = translate_pipe("a b c d e", num_beams=beams, return_attention=True)[0]
        assert text == expected["translation_text"] == "e d c b a" and notes == ""
        axes = figure.axes[0]
        assert [label.get_text() for label in axes.get_xticklabels()] == expected["source_tokens"]
        assert [label.get_text() for label in axes.get_yticklabels()] == expected["target_tokens"]
        torch.testing.assert_close(torch.as_tensor(axes.images[0].get_array()), expected["attention"])


def test_two_sentences_get_an_attention_block_each(trained_reverse_model):
    translate_pipe = pipeline("translation", model=trained_reverse_model / "model", bf16=False)
    expected = translate_pipe("a b c\n\nd e f g", num_beams=1, return_attention=True)[0]
    text, figure, _ = translate(translate_pipe, "a b c\n\nd e f g", 1)
    assert text == expected["translation_text"] == "c b a\n\ng f e d" and len(expected["sentences"]) == 2
    shown = torch.as_tensor(figure.axes[0].images[0].get_array())
    first, second = (part["attention"] for part in expected["sentences"])
    torch.testing.assert_close(shown, torch.block_diag(first, second))


def test_the_question_answering_tab_shades_each_sentence_per_hop(qa_run, tmp_path):
    story = "Mary went to the kitchen.\nJohn picked up the apple.\n\nMary travelled to the garden."
    sentences = [line for line in story.splitlines() if line]
    trained = pipeline("question-answering", model=qa_run / "run" / "model")
    shown, score, table = answer(trained, story, "Where is Mary?")
    expected = trained(question="Where is Mary?", context=sentences, return_attention=True)
    assert shown == expected["answer"] and score == round(expected["score"], 4)
    assert table.count("<tr>") == 1 + len(sentences) and "<th>answer</th>" in table
    hops = pipeline("question-answering", model=write_hop_model(qa_run / "run" / "model", tmp_path / "hops"))
    _, _, table = answer(hops, story, "Where is Mary?")
    assert [f"<th>{label}</th>" in table for label in hops.model.reader.labels] == [True] * 3
    with pytest.raises(ValueError, match="the question is empty"):
        answer(trained, story, "")


def test_the_attention_table_escapes_the_story_and_gives_each_unit_its_share():
    table = attention_table(["<b>Mary</b> left.", "John stayed."], {"hop 1": torch.tensor([0.25, 0.75])})
    assert "&lt;b&gt;Mary&lt;/b&gt; left." in table and "<b>Mary" not in table
    assert ">25%</td>" in table and ">75%</td>" in table and "rgba(255, 140, 0, 0.75)" in table
    assert attention_table([], {}) == ""


def test_the_text_generation_tab_streams_the_pipelines_text(trained_counting_model):
    generator = pipeline("text-generation", model=trained_counting_model / "model")
    shown = list(generate(generator, "one, two", 30, False, 1.0, 1.0, 0))
    assert shown[0] == "one, two" and all(b.startswith(a) for a, b in zip(shown, shown[1:], strict=False))
    assert shown[-1] == generator("one, two", max_new_tokens=30)[0]["generated_text"]
    sampled = list(generate(generator, "", 30, True, 0.8, 0.9, 3))[-1]
    expected = generator("", max_new_tokens=30, do_sample=True, temperature=0.8, top_p=0.9, seed=3)
    assert sampled == expected[0]["generated_text"]
    with pytest.raises(ValueError, match="new tokens must be between 1 and 500"):
        list(generate(generator, "one", 501, False, 1.0, 1.0, 0))


def test_series_text_becomes_numbers_or_a_message_naming_the_bad_value():
    np.testing.assert_array_equal(parse_series("1, 2 3\n4;5"), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(parse_series("1 2\n3 4\n5 6"), [[1, 2], [3, 4], [5, 6]])
    with pytest.raises(ValueError, match="the series holds 'x2', which is not a number"):
        parse_series("1, x2, 3")
    with pytest.raises(ValueError, match="the series is empty"):
        parse_series("\n ")
    with pytest.raises(ValueError, match="10,001 values; this demo takes at most 10,000"):
        parse_series(" ".join(["1"] * 10_001))


def test_the_forecasting_tab_lists_and_draws_the_pipelines_forecast(trained_forecaster):
    _, directory = trained_forecaster
    predict = pipeline("time-series-forecasting", model=directory / "model")
    text = example_series(predict.input_length, predict.model.num_features)
    figure, listed = forecast(predict, text, 5)
    expected = predict(parse_series(text), horizon=5)["forecast"]
    assert listed.splitlines() == [", ".join(f"{v:.4g}" for v in np.atleast_1d(row)) for row in expected]
    np.testing.assert_allclose(figure.axes[0].lines[1].get_ydata(), np.asarray(expected).reshape(5, -1)[:, 0])


def test_a_tab_per_model_with_its_own_element_ids(gradio, trained_reverse_model, trained_counting_model, tmp_path):
    from pipelines.demo import build_demo

    demo = build_demo([trained_reverse_model / "model", trained_counting_model / "model",
                       trained_reverse_model / "model"], examples_dir=tmp_path)
    ids = [block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)]
    assert len(ids) == len(set(ids))
    assert {"translation-tab", "text-generation-tab", "translation-2-tab", "translation-input",
            "translation-2-input"} <= set(ids)
    labels = [block.label for block in demo.blocks.values() if type(block).__name__ == "Tab"]
    assert labels == ["Translation (reverse_run)", "Text generation (counting_run)", "Translation (reverse_run)"]


def test_the_demo_script_says_in_one_line_what_is_wrong(gradio, run_script, tmp_path):
    status, _, err = run_script("demo", "--model", str(tmp_path / "missing"))
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: ") and "missing" in err


def test_an_action_model_of_audio_alone_takes_a_recording_and_shows_its_attention_over_time(tmp_path):
    import json

    from conftest import tiny_audio_classifier_config, write_tone_folder

    from pipelines import get_task
    from pipelines.demo.action_recognition import classify
    from seq2seq.config import config_from_dict
    from seq2seq.training import train

    folder = write_tone_folder(tmp_path / "tones", {"train": 4, "validation": 1})
    for split in ("train", "validation"):
        with open(tmp_path / f"{split}.jsonl", "w") as handle:
            for file in sorted((folder / split).rglob("*.wav")):
                handle.write(json.dumps({"audio": str(file), "label": file.parent.name}) + "\n")
    data = {"kind": "huggingface", "path": "json",
            "data_files": {split: str(tmp_path / f"{split}.jsonl") for split in ("train", "validation")}}
    torch.manual_seed(0)
    train(config_from_dict(tiny_audio_classifier_config(str(tmp_path / "run"), data, max_steps=20)),
          get_task("action_recognition"))
    classify_pipe = pipeline("action-recognition", model=tmp_path / "run" / "model")
    recording = str(folder / "validation" / "high" / "0.wav")
    scores, figure = classify(classify_pipe, recording)
    expected = classify_pipe(recording, top_k=None, return_attention=True)
    assert scores == {result["label"]: result["score"] for result in expected}
    shown = torch.as_tensor(figure.axes[1].images[0].get_array())
    torch.testing.assert_close(shown, expected[0]["attention"])  # (the label's tokens and eos, audio frames)
    assert [label.get_text() for label in figure.axes[1].get_yticklabels()][-1] == "</s>"
