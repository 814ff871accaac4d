"""Time a streamable model fed in real-time chunks: latency per chunk and the real-time factor.

    python scripts/benchmark_streaming.py --model runs/speech_recognition_streaming/model \\
        ~/.cache/seq2seq/generated/dtmf/test/000*.wav
    python scripts/benchmark_streaming.py --model runs/action_recognition_streaming/model \\
        ~/.cache/seq2seq/generated/actions/test/000*.mp4

Audio is fed in --chunk-ms pieces (default 100 ms), video frame by frame, on --threads CPU threads
(default 1). Each chunk's latency is the time from handing it over to getting the partial result
back (speech: the transcript so far; actions: the label scores so far); the real-time factor is
the processing time over the input's duration (below 1: faster than real time). Every input's
final result is checked against the offline pipeline's. Prints one JSON line per setting.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from pipelines import pipeline  # noqa: E402
from seq2seq import cli  # noqa: E402
from seq2seq.media import load_audio, load_video_and_fps  # noqa: E402
from seq2seq.model_files import read_model_config  # noqa: E402


def build_parser():
    parser = cli.make_parser(__doc__)
    parser.add_argument("--model", required=True, help="a streamable model directory (unidirectional encoder)")
    parser.add_argument("--chunk-ms", type=float, default=100.0, help="audio: milliseconds per chunk")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("inputs", nargs="+", help="audio or video files")
    return parser


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = torch.tensor(values, dtype=torch.float64)
    return {"mean_ms": round(float(ordered.mean()) * 1000, 2),
            "p50_ms": round(float(ordered.quantile(0.5)) * 1000, 2),
            "p95_ms": round(float(ordered.quantile(0.95)) * 1000, 2), "max_ms": round(float(ordered.max()) * 1000, 2)}


def time_speech(run, paths: list[str], chunk_ms: float, partial: bool) -> dict:
    rate = run.processors["audio"].sampling_rate
    size = round(rate * chunk_ms / 1000)
    latencies, finishes, processing, duration, identical = [], [], 0.0, 0.0, 0
    for path in paths:
        samples = load_audio(path, path, sampling_rate=rate)[0]
        stream = run.stream(partial=partial)
        started = time.perf_counter()
        for start in range(0, samples.numel(), size):
            before = time.perf_counter()
            stream.feed(samples[start : start + size])
            latencies.append(time.perf_counter() - before)
        before = time.perf_counter()
        result = stream.finish()
        finishes.append(time.perf_counter() - before)
        processing += time.perf_counter() - started
        duration += samples.numel() / rate
        identical += result == run({"array": samples.numpy(), "sampling_rate": rate})
    return {"input": "audio", "chunk_ms": chunk_ms, "partial_results": partial, "inputs": len(paths),
            "audio_seconds": round(duration, 1), "chunks": len(latencies), "chunk_latency": percentiles(latencies),
            "finish_latency": percentiles(finishes), "real_time_factor": round(processing / duration, 4),
            "identical_to_offline": f"{identical}/{len(paths)}"}


def time_actions(run, paths: list[str]) -> dict:
    latencies, processing, duration, identical = [], 0.0, 0.0, 0
    for path in paths:
        frames, fps = load_video_and_fps(path, path)
        fps = fps or run.processors["video"].source_fps
        frames = frames.permute(0, 2, 3, 1).contiguous()  # (T, H, W, C), as a camera gives them
        stream = run.stream(source_fps=fps, top_k=None)
        started = time.perf_counter()
        for frame in frames:
            before = time.perf_counter()
            stream.feed(frame)
            latencies.append(time.perf_counter() - before)
        result = stream.finish()
        processing += time.perf_counter() - started
        duration += frames.size(0) / fps
        offline = run(path, top_k=None)
        identical += [r["label"] for r in result] == [r["label"] for r in offline] and all(
            abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(result, offline, strict=True))
    return {"input": "video", "inputs": len(paths), "video_seconds": round(duration, 1), "frames": len(latencies),
            "frame_latency": percentiles(latencies), "real_time_factor": round(processing / duration, 4),
            "identical_to_offline": f"{identical}/{len(paths)}"}


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    task = read_model_config(args.model).get("task")
    run = pipeline(task, model=args.model)
    if task == "speech_recognition":
        for partial in (True, False):
            print(json.dumps(time_speech(run, args.inputs, args.chunk_ms, partial)), flush=True)
    elif task == "action_recognition":
        print(json.dumps(time_actions(run, args.inputs)), flush=True)
    else:
        raise ValueError(f"{args.model} holds a {task} model; streaming takes speech or action recognition")


if __name__ == "__main__":
    cli.run(main)
