"""Text generation tab: a prompt continued token by token on the page, greedy or sampled (with
temperature, nucleus and a seed that makes a sample repeatable)."""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.demo.common import MAX_NEW_TOKENS, MAX_TEXT_CHARACTERS, shows_errors


def generate(pipe, prompt: str | None, max_new_tokens: float, do_sample: bool, temperature: float, top_p: float,
             seed: float | None) -> Iterator[str]:
    """The prompt and its continuation so far, after each new piece of text (an empty prompt starts
    from nothing)."""
    prompt = prompt or ""
    if len(prompt) > MAX_TEXT_CHARACTERS:
        raise ValueError(f"the prompt has {len(prompt):,} characters; this demo takes at most "
                         f"{MAX_TEXT_CHARACTERS:,}")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"new tokens must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens:g}")
    sampling = {"do_sample": True, "temperature": float(temperature), "top_p": float(top_p),
                "seed": None if seed is None else int(seed)} if do_sample else {"do_sample": False}
    text = prompt
    yield text
    for piece in pipe.stream(prompt, max_new_tokens=int(max_new_tokens), num_beams=1, **sampling):
        text += piece
        yield text


def build(gr, pipe, prefix: str) -> None:
    gr.Markdown(f"Give the start of a text (or nothing) and the model continues it, at most {MAX_NEW_TOKENS} "
                "tokens. Sampling with the same seed repeats the same text.")
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id=f"{prefix}-input")
            length = gr.Slider(1, MAX_NEW_TOKENS, step=1, value=min(200, pipe.settings["max_length"]),
                               label="New tokens", elem_id=f"{prefix}-length")
            sample = gr.Checkbox(label="Sample (otherwise greedy)", value=False, elem_id=f"{prefix}-sample")
            temperature = gr.Slider(0.1, 2.0, step=0.05, value=1.0, label="Temperature")
            top_p = gr.Slider(0.05, 1.0, step=0.05, value=1.0, label="Top-p (nucleus)")
            seed = gr.Number(label="Seed", value=0, precision=0)
            button = gr.Button("Generate", variant="primary", elem_id=f"{prefix}-run")
        with gr.Column():
            output = gr.Textbox(label="Text", lines=16, interactive=False, elem_id=f"{prefix}-output")

    def run(prompt, max_new_tokens, do_sample, temperature, top_p, seed):
        yield from generate(pipe, prompt, max_new_tokens, do_sample, temperature, top_p, seed)

    button.click(shows_errors(run), [prompt, length, sample, temperature, top_p, seed], [output])
