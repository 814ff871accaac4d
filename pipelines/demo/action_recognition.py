"""Action recognition tab: a video in (uploaded, or a generated example), the label scores as bars,
and the attention over the sampled frames as a timeline with their thumbnails. A model of audio
alone takes a recording instead, and shows its attention over the audio."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pipelines.demo.common import MAX_AUDIO_SECONDS, MAX_VIDEO_SECONDS, check_upload, shows_errors
from pipelines.demo.examples import example_clips
from pipelines.demo.figures import audio_attention, frame_timeline
from seq2seq.media import load_audio, load_video_and_fps


def classify(pipe, path: str | None) -> tuple[dict[str, float], Figure]:
    """({label: probability} over every label, the top label's attention as a picture)."""
    kind = "video" if "video" in pipe.processors else "audio"
    path = check_upload(path, kind, MAX_VIDEO_SECONDS if kind == "video" else MAX_AUDIO_SECONDS)
    results = pipe(str(path), top_k=None, return_attention=True)
    scores = {result["label"]: result["score"] for result in results}
    attention = results[0]["attention"]  # (label tokens + eos, positions)
    title = f"attention for '{results[0]['label']}'"
    if kind == "audio":
        processor = pipe.processors["audio"]
        waveform, rate = load_audio(str(path), path.name, sampling_rate=processor.sampling_rate)
        tokens = [*pipe.tokenizer.target_pieces(pipe.label_ids[pipe.labels.index(results[0]["label"])]), "</s>"]
        return scores, audio_attention(waveform, rate, attention, tokens)
    return scores, _timeline(pipe, path, attention, title)


def _timeline(pipe, path: Path, attention, title: str) -> Figure:
    """The frames the model sampled, under each the attention it got. With an audio input too, the
    positions after the video's frames are the audio's, left out here."""
    processor = pipe.processors["video"]
    frames, fps = load_video_and_fps(str(path), path.name)
    rate = fps or processor.source_fps
    indices = processor.sample_indices(frames.size(0), source_fps=rate)
    if attention.size(1) < len(indices):  # an encoder that merges frames: show one frame per position
        indices = [indices[round(i * (len(indices) - 1) / max(1, attention.size(1) - 1))]
                   for i in range(attention.size(1))]
    weights = attention[:, : len(indices)]
    return frame_timeline(frames[indices], weights, [index / rate for index in indices], title)


def build(gr, pipe, prefix: str, examples_dir: Path) -> None:
    video = "video" in pipe.processors
    limit = MAX_VIDEO_SECONDS if video else MAX_AUDIO_SECONDS
    gr.Markdown(f"Upload a {'video' if video else 'recording'} (at most {limit:g} s), or pick a generated "
                f"example. Labels: {', '.join(pipe.labels)}.")
    with gr.Row():
        with gr.Column():
            if video:
                upload = gr.Video(label="Video", sources=["upload"], height=320, elem_id=f"{prefix}-input")
            else:
                upload = gr.Audio(label="Recording", sources=["upload", "microphone"], type="filepath",
                                  elem_id=f"{prefix}-input")
            button = gr.Button("Recognize", variant="primary", elem_id=f"{prefix}-run")
        with gr.Column():
            scores = gr.Label(label="Label scores", num_top_classes=min(8, len(pipe.labels)),
                              elem_id=f"{prefix}-output")
    plot = gr.Plot(label="Attention over the input", elem_id=f"{prefix}-attention")
    if video:
        gr.Examples(example_clips(examples_dir / "clips"), inputs=[upload],
                    label="Generated examples (the actions of configs/action_recognition.yaml)")

    def run(path: str | None):
        return classify(pipe, path)

    button.click(shows_errors(run), [upload], [scores, plot])
