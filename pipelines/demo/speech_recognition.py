"""Speech recognition tab: a recording from the microphone or a file, its transcript, and where
each output character or word looked in the audio."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pipelines.demo.common import MAX_AUDIO_SECONDS, check_duration, check_upload, shows_errors
from pipelines.demo.examples import example_utterances
from pipelines.demo.figures import audio_attention
from seq2seq.media import load_audio


def transcribe(pipe, path: str | None) -> tuple[str, Figure]:
    """(transcript, the waveform with each output token's attention over time)."""
    path = check_upload(path, "audio", MAX_AUDIO_SECONDS)
    processor = pipe.processors["audio"]
    waveform, rate = load_audio(str(path), path.name, sampling_rate=processor.sampling_rate)
    check_duration(waveform.numel() / rate, "audio", MAX_AUDIO_SECONDS, path.name)
    # The samples decoded here are what the model hears: one decode, and the picture matches it.
    result = pipe({"array": waveform.numpy(), "sampling_rate": rate}, return_attention=True)
    return result["text"], audio_attention(waveform, rate, result["attention"], result["target_tokens"])


def build(gr, pipe, prefix: str, examples_dir: Path) -> None:
    gr.Markdown(f"Record with the microphone or upload a recording (at most {MAX_AUDIO_SECONDS:g} s; "
                f"the model hears it at {pipe.processors['audio'].sampling_rate} Hz).")
    with gr.Row():
        with gr.Column():
            audio = gr.Audio(label="Recording", sources=["upload", "microphone"], type="filepath",
                             elem_id=f"{prefix}-input")
            button = gr.Button("Transcribe", variant="primary", elem_id=f"{prefix}-run")
        with gr.Column():
            output = gr.Textbox(label="Transcript", lines=2, interactive=False, elem_id=f"{prefix}-output")
    plot = gr.Plot(label="Attention over the audio", elem_id=f"{prefix}-attention")
    gr.Examples(example_utterances(examples_dir / "utterances"), inputs=[audio],
                label="Generated examples (the DTMF key strings of configs/speech_recognition.yaml)")

    def run(path: str | None):
        return transcribe(pipe, path)

    button.click(shows_errors(run), [audio], [output, plot])
