"""Question answering tab: a story and a question in, the answer and its probability out, and the
story's sentences shaded by how much the model read each (per hop, where the model has hops)."""

from __future__ import annotations

import html

import torch

from pipelines.demo.common import check_text, shows_errors
from pipelines.demo.examples import example_stories


def answer(pipe, story: str, question: str) -> tuple[str, float, str]:
    """(answer, its probability, an HTML table of the story's units and the attention on each)."""
    story = check_text(story, "story")
    question = check_text(question, "question")
    lines = [line.strip() for line in story.splitlines() if line.strip()]
    result = pipe(question=question, context=lines if len(lines) > 1 else story, return_attention=True)
    columns: dict[str, torch.Tensor] = {}
    if "hops" in result:
        columns.update(zip(pipe.model.reader.labels, result["hops"], strict=True))
    if "attention" in result:
        columns["answer"] = result["attention"].mean(dim=0)  # over the answer's tokens and its end
    return result["answer"], round(result["score"], 4), attention_table(result.get("context_units", []), columns)


def attention_table(units: list[str], columns: dict[str, torch.Tensor]) -> str:
    """Each unit (sentence or token) in a row, a column per attention (hop or answer) with the share
    it gave the unit; the unit is shaded by the last column."""
    if not units or not columns:
        return ""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in columns)
    rows = []
    last = list(columns.values())[-1]
    for index, unit in enumerate(units):
        cells = "".join(f"<td style='{_shade(float(weights[index]))}'>{100 * float(weights[index]):.0f}%</td>"
                        for weights in columns.values())
        rows.append(f"<tr><td style='{_shade(float(last[index]))}'>{html.escape(unit)}</td>{cells}</tr>")
    return (f"<table class='seq2seq-attention'><thead><tr><th>story</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _shade(weight: float) -> str:
    return f"background-color: rgba(255, 140, 0, {min(1.0, max(0.0, weight)):.2f})"


def build(gr, pipe, prefix: str) -> None:
    hops = f" The model reads the story in {len(pipe.model.reader.labels)} hops." if pipe.model.reader else ""
    gr.Markdown("Write a story (a sentence a line) and ask about it; the table shows how much each part "
                f"of the story was read.{hops}")
    with gr.Row():
        with gr.Column():
            story = gr.Textbox(label="Story", lines=8, elem_id=f"{prefix}-story")
            question = gr.Textbox(label="Question", elem_id=f"{prefix}-question")
            button = gr.Button("Answer", variant="primary", elem_id=f"{prefix}-run")
        with gr.Column():
            output = gr.Textbox(label="Answer", interactive=False, elem_id=f"{prefix}-output")
            score = gr.Number(label="Probability", interactive=False, elem_id=f"{prefix}-score")
            table = gr.HTML(elem_id=f"{prefix}-attention")
    gr.Examples(example_stories(), inputs=[story, question],
                label="Generated examples (the stories of configs/question_answering.yaml)")

    def run(story: str, question: str):
        return answer(pipe, story, question)

    button.click(shows_errors(run), [story, question], [output, score, table])
    question.submit(shows_errors(run), [story, question], [output, score, table])
