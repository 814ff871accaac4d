"""Throughput and memory measurements for a training config, on the real training code paths.

Training throughput runs ``train_step`` (the loop's own update) over the config's data after a
warm-up, in several timed windows, and reports the median. Inference decodes validation examples
with greedy and beam search. Each measurement is one function returning a flat dict, so
modality-specific ones (video decode rate, seconds of audio per second) join the same table.
"""

from __future__ import annotations

import itertools
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from seq2seq.builders import build_model
from seq2seq.config import Config, ConfigError
from seq2seq.data import Examples
from seq2seq.evaluation import generate_dataset, search_options
from seq2seq.media import load_video
from seq2seq.model import Seq2SeqModel
from seq2seq.optimization import build_optimizer, tune_cpu_allocator
from seq2seq.task import Task
from seq2seq.tokenization import Tokenizer
from seq2seq.training_data import cache_frame_features, load_data, make_train_loader
from seq2seq.update import iterate_updates, train_step


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this process (and peak CUDA allocation when on a GPU), in MiB."""
    memory = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        memory["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return memory


def measure_training(model, optimizer, loader, sampler, accelerator: Accelerator, *, clip_grad_norm: float,
                     micro_batches: int, warmup_updates: int, windows: int, window_updates: int) -> dict[str, float]:
    """Median target tokens/s and examples/s over ``windows`` windows of ``window_updates`` updates."""
    model.train()

    def updates():
        for epoch in itertools.count():
            sampler.set_epoch(epoch)
            yield from iterate_updates(loader, micro_batches)

    stream = updates()
    for _ in range(warmup_updates):
        train_step(model, optimizer, next(stream), accelerator, clip_grad_norm)
    tokens_per_second, examples_per_second = [], []
    for _ in range(windows):
        tokens = examples = 0
        started = time.perf_counter()
        for _ in range(window_updates):
            result = train_step(model, optimizer, next(stream), accelerator, clip_grad_norm)
            tokens, examples = tokens + result.num_tokens, examples + result.num_examples
        seconds = time.perf_counter() - started
        tokens_per_second.append(tokens / seconds)
        examples_per_second.append(examples / seconds)
    return {
        "train_target_tokens_per_second": statistics.median(tokens_per_second),
        "train_examples_per_second": statistics.median(examples_per_second),
        "train_tokens_per_second_windows": [round(v) for v in tokens_per_second],
    }


def measure_inference(model, data, *, batch_size: int, device, unit: str = "sentences", audio_seconds: float = 0.0,
                      **options) -> dict[str, float]:
    """Examples (``unit``) per second decoding ``data`` (``options`` as ``Seq2SeqModel.generate``'s),
    and seconds of audio per second when the examples average ``audio_seconds``."""
    num_beams = options["num_beams"]
    started = time.perf_counter()
    generate_dataset(model, data, batch_size=batch_size, device=device, **options)
    rate = len(data) / (time.perf_counter() - started)
    name = "greedy" if num_beams == 1 else f"beam{num_beams}"
    return {f"{name}_{unit}_per_second": rate} | (
        {f"{name}_audio_seconds_per_second": rate * audio_seconds} if audio_seconds else {})


def measure_model_only(model, optimizer, groups: list, accelerator: Accelerator, *, clip_grad_norm: float,
                       windows: int) -> dict[str, float]:
    """Examples/s of ``train_step`` on batches already in memory: the rate the model alone allows,
    the limit of the data path (decoding, processing, collation) that ``measure_training`` includes."""
    rates = []
    for _ in range(windows):
        started, examples = time.perf_counter(), 0
        for group in groups:
            examples += train_step(model, optimizer, group, accelerator, clip_grad_norm).num_examples
        rates.append(examples / (time.perf_counter() - started))
    return {"model_only_train_examples_per_second": statistics.median(rates)}


def measure_decoding(data: Examples, *, clips: int = 200) -> dict[str, float]:
    """Clips/s that torchcodec decodes (every frame, no processing) from the data's own videos."""
    name = next(n for n in data.media if data.processors[n].kind == "video")
    rows = data.prepared["row"][:clips]
    raw = [data.to_example(data.rows[row])[name] for row in rows]
    started = time.perf_counter()
    for value in raw:
        load_video(value, name)
    return {"decode_clips_per_second": len(raw) / (time.perf_counter() - started)}


def measure_feature_extraction(data: Examples, name: str, *, utterances: int = 200) -> dict[str, float]:
    """Utterances/s that the audio processor turns from files into features (decode, resample,
    log-mel): the work ``cache_features`` saves every epoch."""
    processor = data.processors[name]
    rows = data.prepared["row"][:utterances]
    raw = [data.to_example(data.rows[row])[name] for row in rows]
    started = time.perf_counter()
    for value in raw:
        processor(value, name=name)
    return {"feature_extraction_utterances_per_second": len(raw) / (time.perf_counter() - started)}


def audio_seconds(data: Examples) -> float:
    """Mean seconds of audio per example, over the data's audio inputs (0 without any)."""
    total = 0.0
    for name, processor in data.processors.items():
        if processor.kind == "audio":
            frames = data.prepared[f"{name}_length"]
            total += sum(frames) * processor.hop_ms / 1000 / len(frames)
    return total


def run_benchmark(config: Config, task: Task, *, warmup_updates: int = 10, windows: int = 5, window_updates: int = 20,
                  inference_sentences: int = 1000, beams: tuple[int, ...] = (1, 5),
                  model_dir: str | Path | None = None) -> dict[str, Any]:
    """Every measurement for ``config``.

    Inference is timed with the trained model in ``model_dir`` (and its tokenizer) when given:
    an untrained model rarely emits eos, so it decodes to ``max_length`` and says little about
    real decoding speed. Tasks with video inputs also get the raw decode rate of their files and
    the model-only training rate, to compare the data path with its own limits; audio inputs get
    the feature extraction rate and every rate in seconds of audio per second as well.
    Streamed data is measured by training itself (``metrics.jsonl``): this needs map-style data.
    """
    if config.data.streaming:
        raise ConfigError("benchmark.py measures map-style data; drop data.streaming (a streamed run logs its "
                          "throughput in metrics.jsonl)")
    tune_cpu_allocator()
    tc = config.training
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=tc.mixed_precision)
    set_seed(tc.seed)
    with tempfile.TemporaryDirectory() as run_dir:
        if model_dir is not None:
            Tokenizer.from_pretrained(model_dir).save_pretrained(Path(run_dir) / "tokenizer")
        data = load_data(config, task, Path(run_dir), accelerator)
        tokenizer, train_data, valid_data = data.tokenizer, data.train, data.valid
        model = build_model(config.model, config.inputs, source_vocab_size=tokenizer.source_vocab_size,
                            target_vocab_size=tokenizer.target_vocab_size, label_smoothing=tc.label_smoothing)
        train_data, valid_data = cache_frame_features(config, model, [train_data, valid_data], accelerator)
        return _measure(config, model, train_data, valid_data, accelerator, warmup_updates=warmup_updates,
                        windows=windows, window_updates=window_updates, inference_sentences=inference_sentences,
                        beams=beams, model_dir=model_dir)


def _measure_media_path(model, optimizer, loader, sampler, train_data: Examples, accelerator: Accelerator, tc, *,
                        windows: int, window_updates: int, train_examples_per_second: float) -> dict[str, Any]:
    """Video or audio: the model alone on batches held in memory (what the data path costs), and
    the decoding or feature extraction rates."""
    sampler.set_epoch(0)
    groups = list(itertools.islice(iterate_updates(loader, tc.gradient_accumulation_steps), window_updates))
    results = measure_model_only(model, optimizer, groups, accelerator, clip_grad_norm=tc.clip_grad_norm,
                                 windows=windows)
    results["train_vs_model_only"] = train_examples_per_second / results["model_only_train_examples_per_second"]
    if any(train_data.processors[name].kind == "video" for name in train_data.media):
        results |= measure_decoding(train_data)
    audio = [name for name, p in train_data.processors.items() if p.kind == "audio"]
    if audio:
        results |= measure_feature_extraction(train_data, audio[0])
    return results


def _measure(config: Config, model, train_data: Examples, valid_data: Examples, accelerator: Accelerator, *,
             warmup_updates: int, windows: int, window_updates: int, inference_sentences: int,
             beams: tuple[int, ...], model_dir: str | Path | None) -> dict[str, Any]:
    tc = config.training
    optimizer = build_optimizer(model, tc)
    sampler, loader = make_train_loader(train_data, tc, accelerator)
    model, optimizer = accelerator.prepare(model, optimizer)
    media = bool(train_data.media or train_data.features)  # video or audio
    results: dict[str, Any] = {
        "device": device_name(),
        "threads": torch.get_num_threads(),
        "processes": accelerator.num_processes,
        "mixed_precision": tc.mixed_precision,
        "training_examples": len(train_data),
    }
    if train_data.features:
        results["cached_features"] = ", ".join(train_data.features)
    results |= measure_training(model, optimizer, loader, sampler, accelerator, clip_grad_norm=tc.clip_grad_norm,
                                micro_batches=tc.gradient_accumulation_steps, warmup_updates=warmup_updates,
                                windows=windows, window_updates=window_updates)
    train_seconds = audio_seconds(train_data)
    if train_seconds:  # batches are drawn at random, so the mean utterance converts examples to audio
        results["train_mean_audio_seconds"] = train_seconds
        results["train_audio_seconds_per_second"] = results["train_examples_per_second"] * train_seconds
    if media:
        results |= _measure_media_path(model, optimizer, loader, sampler, train_data, accelerator, tc,
                                       windows=windows, window_updates=window_updates,
                                       train_examples_per_second=results["train_examples_per_second"])
    model = accelerator.unwrap_model(model)
    if model_dir is not None:
        model = Seq2SeqModel.from_pretrained(model_dir, device=accelerator.device)
        results["inference_model"] = str(model_dir)
    data = valid_data.select(range(min(inference_sentences, len(valid_data))))
    seconds = audio_seconds(data)
    has_video = any(spec.modality == "video" for spec in config.inputs.values())
    unit = "clips" if has_video else "utterances" if seconds else "sentences"
    results[f"inference_{unit}"] = len(data)
    with accelerator.autocast():
        for num_beams in beams:
            options = search_options(config.generation, num_beams=num_beams)
            results |= measure_inference(model, data, batch_size=config.generation.batch_size,
                                         device=accelerator.device, unit=unit, audio_seconds=seconds, **options)
    return results | peak_memory()
