"""Translation tab: text in, its translation out, the beam size to search with, and a heat map of
where each output token looked in the input."""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure

from pipelines.demo.common import MAX_TEXT_CHARACTERS, check_text, shows_errors
from seq2seq.plots import attention_figure

MAX_BEAMS = 10


def translate(pipe, text: str, num_beams: float) -> tuple[str, Figure, str]:
    """(translation, attention heat map, notes). A text the model splits into sentences gets one
    block per sentence: each output sentence attends to its own input sentence only."""
    text = check_text(text, "text to translate")
    result = pipe(text, num_beams=int(num_beams), return_attention=True)[0]
    parts: list[dict[str, Any]] = result.get("sentences", [result])
    weights = torch.block_diag(*[part["attention"] for part in parts])
    source = [token for part in parts for token in part["source_tokens"]]
    target = [token for part in parts for token in part["target_tokens"]]
    notes = []
    if result.get("truncated"):
        notes.append("The translation stopped at the length limit before it finished.")
    if result.get("incomplete"):
        notes.append("The translation is far shorter than the input: part of it may be missing.")
    return result["translation_text"], attention_figure(weights.numpy(), source, target), " ".join(notes)


def build(gr, pipe, prefix: str) -> None:
    gr.Markdown(f"Type a text in the model's source language (at most {MAX_TEXT_CHARACTERS:,} characters). "
                "The heat map shows where each output token looked in the input.")
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="Text", lines=3, elem_id=f"{prefix}-input")
            beams = gr.Slider(1, MAX_BEAMS, step=1, value=pipe.settings["num_beams"], label="Beam size",
                              elem_id=f"{prefix}-beams")
            button = gr.Button("Translate", variant="primary", elem_id=f"{prefix}-run")
        with gr.Column():
            output = gr.Textbox(label="Translation", lines=3, interactive=False, elem_id=f"{prefix}-output")
            notes = gr.Markdown(elem_id=f"{prefix}-notes")
    plot = gr.Plot(label="Attention (output tokens x input tokens)", elem_id=f"{prefix}-attention")

    def run(text: str, num_beams: float):
        return translate(pipe, text, num_beams)

    button.click(shows_errors(run), [text, beams], [output, plot, notes])
    text.submit(shows_errors(run), [text, beams], [output, plot, notes])
