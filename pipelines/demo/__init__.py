"""A local web demo of trained models (Gradio): one tab per model, chosen by its saved task.

    python scripts/demo.py --model runs/translation/model --model runs/action_recognition/model

or from Python::

    from pipelines.demo import build_demo
    build_demo(["runs/translation/model"]).launch()

Each tab's work is a plain function (``translate``, ``classify``, ``transcribe``, ``answer``,
``generate``, ``forecast``) that the page calls; a user's mistake (a corrupt or too long upload, an
empty question) is shown in the page and the server goes on. Inputs are refused above the sizes in
``common.py``. gradio is an optional extra: ``pip install -e ".[demo]"``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipelines.demo.common import MAX_UPLOAD, require_gradio, tab_title

# Saved task -> (tab module, what its tab is called).
TABS = {"translation": ("translation", "Translation"), "action_recognition": ("action_recognition", "Actions"),
        "speech_recognition": ("speech_recognition", "Speech"),
        "question_answering": ("question_answering", "Question answering"),
        "language_modeling": ("text_generation", "Text generation"), "forecasting": ("forecasting", "Forecasting")}
MEDIA_TABS = {"action_recognition", "speech_recognition"}  # their build() takes the examples folder


def load_models(model_dirs: Sequence[str | Path], **options) -> list[tuple[str, Path, object]]:
    """(task, directory, pipeline) per model directory, in order; an error names a directory that
    is not a model or whose task the demo has no tab for."""
    from pipelines import pipeline
    from seq2seq.model_files import read_model_config

    if not model_dirs:
        raise ValueError("the demo needs at least one model: --model DIR")
    loaded = []
    for directory in map(Path, model_dirs):
        task = read_model_config(directory).get("task", "translation")
        if task not in TABS:
            raise ValueError(f"{directory}: the demo has no tab for task {task!r} (it has: {', '.join(TABS)})")
        # The forecasting pipeline takes the device only (it has no search, bf16 or int8 settings).
        taken = {key: value for key, value in options.items() if key == "device"} if task == "forecasting" else options
        loaded.append((task, directory, pipeline(task, model=directory, **taken)))
    return loaded


def build_demo(model_dirs: Sequence[str | Path], *, examples_dir: str | Path | None = None, **options):
    """The ``gradio.Blocks`` app: a tab per model. ``examples_dir`` holds the generated example
    inputs (default: a new temporary folder); ``options`` go to the pipelines (forecasting's takes
    ``device`` alone)."""
    import importlib

    gr = require_gradio()
    models = load_models(model_dirs, **options)
    examples = Path(examples_dir) if examples_dir else Path(tempfile.mkdtemp(prefix="seq2seq-demo-"))
    used: dict[str, int] = {}
    with gr.Blocks(title="seq2seq demo") as demo:
        gr.Markdown("# seq2seq demo\nRecurrent sequence-to-sequence models on text, audio and video, "
                    "running on this machine.")
        with gr.Tabs():
            for task, directory, pipe in models:
                module_name, name = TABS[task]
                used[task] = used.get(task, 0) + 1
                prefix = module_name.replace("_", "-") + ("" if used[task] == 1 else f"-{used[task]}")
                module = importlib.import_module(f"pipelines.demo.{module_name}")
                with gr.Tab(tab_title(name, directory), elem_id=f"{prefix}-tab"):
                    if task in MEDIA_TABS:
                        module.build(gr, pipe, prefix, examples)
                    else:
                        module.build(gr, pipe, prefix)
    return demo


def launch(demo, *, host: str = "127.0.0.1", port: int | None = None, block: bool = True):
    """Serve ``demo`` on ``host:port`` (``port`` None: gradio's first free one from 7860); returns
    the address. Uploads over ``MAX_UPLOAD`` are refused by gradio before a tab sees them."""
    demo.queue(default_concurrency_limit=1)  # one model call at a time: a CPU machine has no spare cores
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=not block,
                            ssr_mode=False, max_file_size=MAX_UPLOAD, theme=_theme())
    return url


def _theme():
    """Gradio's default look with the system's fonts: the default theme asks Google for its fonts,
    which a closed machine cannot reach (and a page waits for)."""
    gr = require_gradio()
    return gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
