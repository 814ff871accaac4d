"""The demo in a real browser: Playwright drives headless Chromium (the system's own, Debian's
``chromium`` package: Playwright's browser download is not needed) against the app served on a
free port with the toy models trained in this test session. Each test does what a user does
(types, uploads a generated clip or recording, clicks) and checks what the page shows against the
pipeline's own result for the same input. Where Playwright or Chromium is missing the tests are
skipped, and the summary says why (``-rs``).

``SEQ2SEQ_DEMO_SCREENSHOTS=DIR`` keeps a screenshot of each tab there (the README's come from it).
"""

import math
import os
import re
import shutil
import socket
from pathlib import Path

import pytest
import torch

from pipelines import pipeline
from seq2seq.media import write_audio

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser tests need Playwright: pip install playwright")

# As root in a container, on a machine with no network: no sandbox, no GPU, nothing that calls home.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
WAIT_MS = 60_000  # for a model call on a loaded CI machine; a result normally shows within a second


def chromium_executable() -> str | None:
    """``SEQ2SEQ_CHROMIUM``, or the first Chromium or Chrome on the PATH."""
    for name in (os.environ.get("SEQ2SEQ_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM = chromium_executable()
# A mark, not a skip inside a fixture: the tests' session-scoped models would be trained first.
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install -y "
                                "chromium): the browser tests did not run")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def models(trained_reverse_model, trained_action_model, speech_run, qa_run, trained_counting_model,
           trained_forecaster) -> dict[str, Path]:
    return {"translation": trained_reverse_model / "model", "actions": trained_action_model / "model",
            "speech": speech_run / "run" / "model", "qa": qa_run / "run" / "model",
            "generation": trained_counting_model / "model", "forecasting": trained_forecaster[1] / "model"}


@pytest.fixture(scope="module")
def demo_url(models, tmp_path_factory):
    # Imported here, not at collection: gradio takes seconds to import, in every worker.
    pytest.importorskip("gradio", reason='the demo needs gradio: pip install -e ".[demo]"')
    from pipelines.demo import build_demo, launch

    demo = build_demo(list(models.values()), examples_dir=tmp_path_factory.mktemp("demo_examples"))
    url = launch(demo, port=free_port(), block=False)
    yield url
    demo.close()


@pytest.fixture
def page(browser, demo_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.goto(demo_url)
    yield page
    page.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def upload(page, prefix: str, path: Path, shown: str) -> None:
    """Put ``path`` in the tab's upload box and wait until the page shows it (``shown``: the media
    element it becomes), so a click after this sends the file."""
    page.locator(f"#{prefix}-input input[type=file]").set_input_files(str(path))
    page.locator(f"#{prefix}-input {shown}").first.wait_for(state="attached")


def screenshot(page, name: str, tmp_path: Path) -> None:
    directory = Path(os.environ.get("SEQ2SEQ_DEMO_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / f"demo_{name}.png"), full_page=True)
    assert (directory / f"demo_{name}.png").stat().st_size > 10_000  # a rendered page, not a blank one


def test_the_translation_tab_shows_the_translation_and_its_attention(page, tmp_path):
    page.locator("#translation-input textarea").fill("a b c d e f")
    page.locator("#translation-run").click()
    sync_api.expect(page.locator("#translation-output textarea")).to_have_value("f e d c b a")
    sync_api.expect(page.locator("#translation-attention img")).to_be_visible()
    screenshot(page, "translation", tmp_path)


def test_the_actions_tab_names_an_uploaded_clip_and_shows_the_frames_it_attended(page, action_data, models, tmp_path):
    clip = action_data / "clips" / "validation" / "00003.mp4"
    expected = pipeline("action-recognition", model=models["actions"])(str(clip), top_k=None)
    open_tab(page, "Actions")
    upload(page, "action-recognition", clip, "video")
    page.locator("#action-recognition-run").click()
    scores = page.locator("#action-recognition-output")
    sync_api.expect(scores.locator("[data-testid='label-output-value']")).to_have_text(expected[0]["label"])
    percent = 100 * expected[0]["score"]  # shown rounded to a whole percent
    sync_api.expect(scores).to_contain_text(re.compile(f"({math.floor(percent)}|{math.ceil(percent)})%"))
    sync_api.expect(page.locator("#action-recognition-attention img")).to_be_visible()
    screenshot(page, "actions", tmp_path)


def test_a_corrupt_upload_shows_a_message_and_the_server_goes_on(page, action_data, models, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    open_tab(page, "Actions")
    page.locator("#action-recognition-input input[type=file]").set_input_files(str(bad))
    page.locator("#action-recognition-run").click()
    sync_api.expect(page.get_by_text("broken.mp4: not a video file that can be decoded")).to_be_visible()
    # The same page, a good clip: the server still answers.
    page.reload()
    open_tab(page, "Actions")
    clip = action_data / "clips" / "validation" / "00000.mp4"
    upload(page, "action-recognition", clip, "video")
    page.locator("#action-recognition-run").click()
    expected = pipeline("action-recognition", model=models["actions"])(str(clip), top_k=1)[0]["label"]
    top_label = page.locator("#action-recognition-output [data-testid='label-output-value']")
    sync_api.expect(top_label).to_have_text(expected)


def test_the_speech_tab_transcribes_an_uploaded_recording(page, speech_run, models, tmp_path):
    recording = speech_run / "clips" / "validation" / "00002.wav"
    expected = pipeline("automatic-speech-recognition", model=models["speech"])(str(recording))["text"]
    open_tab(page, "Speech")
    upload(page, "speech-recognition", recording, "audio")
    page.locator("#speech-recognition-run").click()
    sync_api.expect(page.locator("#speech-recognition-output textarea")).to_have_value(expected)
    sync_api.expect(page.locator("#speech-recognition-attention img")).to_be_visible()
    screenshot(page, "speech", tmp_path)


def test_a_recording_over_the_stated_length_is_refused_in_the_page(page, tmp_path):
    long = tmp_path / "long.wav"
    write_audio(long, 0.1 * torch.randn(8000 * 31, generator=torch.Generator().manual_seed(0)), sampling_rate=8000)
    open_tab(page, "Speech")
    upload(page, "speech-recognition", long, "audio")
    page.locator("#speech-recognition-run").click()
    sync_api.expect(page.get_by_text("long.wav: the audio lasts 31.0 s; this demo takes at most 30 s")).to_be_visible()


def test_the_question_answering_tab_answers_and_shades_the_story(page, models, tmp_path):
    story = ["Mary went to the kitchen.", "John picked up the apple.", "Mary travelled to the garden."]
    expected = pipeline("question-answering", model=models["qa"])(question="Where is Mary?", context=story)
    open_tab(page, "Question answering")
    page.locator("#question-answering-story textarea").fill("\n".join(story))
    page.locator("#question-answering-question textarea").fill("Where is Mary?")
    page.locator("#question-answering-run").click()
    sync_api.expect(page.locator("#question-answering-output textarea")).to_have_value(expected["answer"])
    assert float(page.locator("#question-answering-score input").input_value()) == round(expected["score"], 4)
    rows = page.locator("#question-answering-attention table tbody tr")
    sync_api.expect(rows).to_have_count(3)
    sync_api.expect(rows.nth(2)).to_contain_text("Mary travelled to the garden.")
    screenshot(page, "question_answering", tmp_path)


def test_the_text_generation_tab_streams_the_continuation(page, models, tmp_path):
    expected = pipeline("text-generation", model=models["generation"])("one, two,", max_new_tokens=40)
    open_tab(page, "Text generation")
    page.locator("#text-generation-input textarea").fill("one, two,")
    page.locator("#text-generation-length input[type=number]").fill("40")
    page.locator("#text-generation-length input[type=number]").press("Enter")
    page.locator("#text-generation-run").click()
    sync_api.expect(page.locator("#text-generation-output textarea")).to_have_value(expected[0]["generated_text"])
    screenshot(page, "text_generation", tmp_path)


def test_the_forecasting_tab_draws_and_lists_the_forecast(page, models, tmp_path):
    from pipelines.demo.forecasting import example_series, parse_series

    predict = pipeline("time-series-forecasting", model=models["forecasting"])
    expected = predict(parse_series(example_series(predict.input_length, predict.model.num_features)))["forecast"]
    open_tab(page, "Forecasting")
    page.locator("#forecasting-run").click()
    listed = page.locator("#forecasting-output textarea")
    sync_api.expect(listed).not_to_have_value("")
    assert len(listed.input_value().splitlines()) == len(expected)
    first = [float(value) for value in listed.input_value().splitlines()[0].split(",")]
    assert first == pytest.approx(list(torch.as_tensor(expected[0]).reshape(-1).tolist()), rel=1e-3)
    sync_api.expect(page.locator("#forecasting-plot img")).to_be_visible()
    screenshot(page, "forecasting", tmp_path)
