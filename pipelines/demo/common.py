"""What every demo tab shares: the size limits it states, turning a user's mistake into a message
in the page, and where the tabs' generated files go.

Nothing here imports gradio at module level: the limits and checks are plain functions, tested
without a browser, and gradio is an optional extra (``pip install -e ".[demo]"``).
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seq2seq.media import MediaError

# Refused above these sizes, with a message that says so, rather than run for minutes: this is a
# demo on the user's own machine, not a batch service (scripts/predict.py takes any size).
MAX_TEXT_CHARACTERS = 2000
MAX_AUDIO_SECONDS = 30.0
MAX_VIDEO_SECONDS = 30.0
MAX_UPLOAD = "20mb"  # gradio refuses larger uploads before they reach a tab
MAX_NEW_TOKENS = 500
MAX_SERIES_VALUES = 10_000

# What a user can get wrong: each becomes the message shown in the page, and the server goes on.
USER_ERRORS = (MediaError, ValueError, TypeError, KeyError, FileNotFoundError)


def require_gradio():
    """The gradio module, or an ImportError that says how to install it."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a closed machine
    try:
        import gradio
    except ImportError as error:
        raise ImportError('the demo needs gradio: pip install -e ".[demo]"') from error
    return gradio


def shows_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` with a user's mistake (a bad upload, an empty question, too long an input) raised
    as ``gradio.Error``, which the page shows as a message. Anything else is a bug: it propagates,
    the page says "Error" and the server prints the traceback."""

    def message(error: Exception) -> str:
        return error.args[0] if isinstance(error, KeyError) and error.args else str(error)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def stream(*args: Any, **kwargs: Any):
            try:
                yield from handler(*args, **kwargs)
            except USER_ERRORS as error:
                raise require_gradio().Error(message(error), print_exception=False) from error
        return stream

    @functools.wraps(handler)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except USER_ERRORS as error:
            raise require_gradio().Error(message(error), print_exception=False) from error
    return call


def check_text(text: str | None, what: str) -> str:
    """``text`` stripped, or a ValueError: empty, or longer than ``MAX_TEXT_CHARACTERS``."""
    text = (text or "").strip()
    if not text:
        raise ValueError(f"the {what} is empty: type or paste some text")
    if len(text) > MAX_TEXT_CHARACTERS:
        raise ValueError(f"the {what} has {len(text):,} characters; this demo takes at most "
                         f"{MAX_TEXT_CHARACTERS:,} (scripts/predict.py takes any length)")
    return text


def check_upload(path: str | Path | None, kind: str, max_seconds: float) -> Path:
    """An uploaded ``kind`` ("video" or "audio") file that decodes and lasts at most ``max_seconds``,
    judged from its header before anything is decoded; otherwise a MediaError naming the file."""
    if not path:
        raise ValueError(f"no {kind}: upload a file{' or record one' if kind == 'audio' else ''} first")
    path = Path(path)
    check_duration(media_seconds(path, kind), kind, max_seconds, path.name)
    return path


def check_duration(seconds: float | None, kind: str, max_seconds: float, name: str) -> None:
    """A MediaError if ``seconds`` (None: unknown) is over ``max_seconds``. Checked from the header
    before decoding, and again on what was decoded where a header does not say."""
    if seconds is not None and seconds > max_seconds:
        raise MediaError(f"{name}: the {kind} lasts {seconds:.1f} s; this demo takes at most "
                         f"{max_seconds:g} s (scripts/predict.py takes any length)")


def media_seconds(path: Path, kind: str) -> float | None:
    """How long ``path``'s ``kind`` stream lasts by its header (None where the header does not say)."""
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: the file is empty (0 bytes)")
    try:
        decoder = VideoDecoder(str(path)) if kind == "video" else AudioDecoder(str(path))
    except (RuntimeError, ValueError) as error:
        article = "an" if kind == "audio" else "a"
        raise MediaError(f"{path.name}: not {article} {kind} file that can be decoded (corrupt, or no {kind} "
                         f"stream){_decoder_reason(str(error), path)}") from error
    metadata = decoder.metadata
    seconds = metadata.duration_seconds if kind == "video" else metadata.duration_seconds_from_header
    return None if seconds is None else float(seconds)


def _decoder_reason(message: str, path: Path) -> str:
    """FFmpeg's own words from a decoder's error ("Invalid data found when processing input"), without
    the decoder's source location and the server's temporary path; empty where there are none."""
    reason = message.split(str(path), 1)[1] if str(path) in message else ""
    reason = reason.strip(" :,.\n")
    return f": {reason}" if reason and "\n" not in reason and len(reason) < 120 else ""


def tab_title(task: str, model_dir: Path) -> str:
    """A tab's title: its task, then the run's name (``runs/<run>/model`` -> ``<run>``)."""
    name = model_dir.parent.name if model_dir.name == "model" else model_dir.name
    return f"{task} ({name})" if name else task
