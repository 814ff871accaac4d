"""Data assembly for a run: raw rows -> tokenizer and processors -> training and validation examples -> loader."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from torch.utils.data import DataLoader

from seq2seq.batching import BucketBatchSampler, MicroBatchSampler
from seq2seq.columns import ColumnReader, parse_path, resolve_columns
from seq2seq.config import Config, DataConfig, TrainingConfig, config_to_dict
from seq2seq.continued import mix_replay, saved_labels
from seq2seq.data import Batch, Examples, add_frame_features
from seq2seq.model import Seq2SeqModel
from seq2seq.prepare import prepare_dataset
from seq2seq.processors import Processor, build_processor, load_processors
from seq2seq.sources import load_raw_dataset
from seq2seq.splits import get_split, get_stream
from seq2seq.streaming import StreamingExamples, StreamingLoader, read_sample
from seq2seq.task import Task
from seq2seq.tokenization import Tokenizer
from seq2seq.tokenizer_training import prepare_tokenizer

logger = get_logger(__name__)  # logs on the main process only


def build_processors(config: Config, tokenizer: Tokenizer) -> dict[str, Processor]:
    """The inputs' processors; a continued run's are the saved model's (``continued.py``)."""
    if config.training.init_from:
        return load_processors(config.training.init_from, tokenizer, config_to_dict(config)["inputs"])
    return {name: build_processor(spec.modality, spec.processor, tokenizer, name)
            for name, spec in config.inputs.items()}


def prepared_cache_dir() -> Path:
    """Where prepared in-memory data (generated corpora, parallel text, cached CNN features) is
    cached, for every run: $SEQ2SEQ_CACHE/prepared (default ~/.cache/seq2seq/prepared). Files are
    named by the fingerprint of everything that determines them, so runs share what they can;
    data with files of its own is cached by ``datasets`` next to them."""
    return Path(os.environ.get("SEQ2SEQ_CACHE") or Path.home() / ".cache" / "seq2seq") / "prepared"


# Streaming: the tokenizer is trained on (and the saved model describes) the stream's first rows.
STREAM_SAMPLE_ROWS = 100_000


@dataclass
class TrainingData:
    """What ``load_data`` gives the experiment: the training examples (map-style or a stream), the
    validation examples, and the training examples' text ids and targets (text and ids) the saved
    model is described by (all of them, or the stream's first ``STREAM_SAMPLE_ROWS``; a stream
    reads them on the main process only, the one that saves)."""

    tokenizer: Tokenizer
    processors: dict[str, Processor]
    train: Examples | StreamingExamples
    valid: Examples
    described_ids: dict[str, list]
    described_targets: list[str]
    described_target_ids: list[list[int]]
    # Training examples dropped when map-style data was prepared, by reason (a stream counts its
    # drops per epoch as it reads them).
    dropped: dict[str, int] = field(default_factory=dict)


def load_data(config: Config, task: Task, run_dir: Path, accelerator: Accelerator) -> TrainingData:
    """Raw rows -> tokenizer and processors -> training and validation examples."""
    dc = config.data
    with accelerator.main_process_first():
        raw = load_raw_dataset(dc)
    # A capped classifier split is sampled per label (the target column holds the labels).
    label_column = parse_path(resolve_columns(task.columns, dc.columns, task.name)["target"])[0] \
        if hasattr(task, "describe") else None
    cap = dict(seed=config.training.seed, label_column=label_column)
    valid_rows = task_rows(task, get_split(raw, dc.valid_split, dc.max_valid_examples, **cap), dc, train=False)
    valid_to_example = task.make_to_example(dc, valid_rows.features)
    if dc.streaming:
        return _streaming_data(config, task, raw, valid_rows, valid_to_example, run_dir, accelerator)
    train_rows = task_rows(task, get_split(raw, dc.train_split, dc.max_train_examples, **cap), dc, train=True)
    if dc.replay_path:  # rehearsal: a share of the old data among the new (continued.py)
        with accelerator.main_process_first():
            train_rows = mix_replay(train_rows, config, task, lambda old: task_rows(
                task, get_split(load_raw_dataset(old), old.train_split), old, train=True))
    to_example = task.make_to_example(dc, train_rows.features)
    # The tokenizer reads the text columns only: decoding every clip for it would cost minutes.
    media_paths, media = media_inputs(config, task)
    tokenizer = prepare_tokenizer(config, lambda: read_sample(train_rows, to_example, len(train_rows), media_paths,
                                                              media), run_dir, accelerator, task)
    processors = build_processors(config, tokenizer)
    common = dict(cache_dir=prepared_cache_dir(), skip_bad_examples=dc.skip_bad_examples)
    dropped: dict[str, int] = {}
    with accelerator.main_process_first():
        train_data = prepare_dataset(train_rows, tokenizer, processors, to_example=to_example, dropped=dropped,
                                     max_source_length=dc.max_source_length, max_target_length=dc.max_target_length,
                                     min_duration_seconds=dc.min_duration_seconds,
                                     max_duration_seconds=dc.max_duration_seconds, **common)
        valid_data = prepare_dataset(valid_rows, tokenizer, processors, to_example=valid_to_example, **common)
    train_examples = Examples(train_data, processors, rows=train_rows, to_example=to_example, train=True,
                              seed=config.training.seed)
    valid_examples = Examples(valid_data, processors, rows=valid_rows, to_example=valid_to_example)
    text_ids = {name: list(train_data[name]) for name, processor in processors.items() if processor.cached}
    return TrainingData(tokenizer, processors, train_examples, valid_examples, text_ids,
                        list(train_examples.references) + declared_labels(task, dc, train_rows.features)
                        + continued_labels(config, task), list(train_data["tgt_ids"]), dropped)


def task_rows(task: Task, rows, dc: DataConfig, *, train: bool):
    """The rows a task trains on: a task may reshape its split first (``prepare_rows``: a
    language model cuts texts into blocks)."""
    prepare = getattr(task, "prepare_rows", None)
    return rows if prepare is None else prepare(rows, dc, train=train)


def declared_labels(task: Task, dc: DataConfig, features: datasets.Features | None) -> list[str]:
    """The names of a ``ClassLabel`` target column: with the training targets, a classifier's
    label set (map-style and streamed alike; validation-only labels are not in it)."""
    columns = resolve_columns(task.columns, dc.columns, task.name)
    return list(ColumnReader({"target": columns["target"]}, features).names.get("target") or [])


def continued_labels(config: Config, task: Task) -> list[str]:
    """A continued classifier keeps the labels it was trained on, whatever the new data holds."""
    return saved_labels(config) if config.training.init_from and hasattr(task, "describe") else []


def media_inputs(config: Config, task: Task) -> tuple[list[str], list[str]]:
    """The column paths that hold media (audio, video), and the media inputs' names."""
    columns = resolve_columns(task.columns, config.data.columns, task.name)
    paths = [path for field, path in columns.items() if path and task.inputs.get(field, "text") != "text"]
    return paths, [name for name, spec in config.inputs.items() if spec.modality != "text"]


def _streaming_data(config: Config, task: Task, raw, valid_rows: datasets.Dataset, valid_to_example,
                    run_dir: Path, accelerator: Accelerator) -> TrainingData:
    dc = config.data
    stream = task_rows(task, get_stream(raw, dc.train_split), dc, train=True)
    to_example = task.make_to_example(dc, stream.features)
    media_paths, media = media_inputs(config, task)
    limit = min(STREAM_SAMPLE_ROWS, dc.max_train_examples or STREAM_SAMPLE_ROWS)
    sample = read_sample(stream, to_example, limit, media_paths, media) if accelerator.is_main_process else []
    tokenizer = prepare_tokenizer(config, lambda: sample, run_dir, accelerator, task)
    processors = build_processors(config, tokenizer)
    with accelerator.main_process_first():
        valid_data = prepare_dataset(valid_rows, tokenizer, processors, to_example=valid_to_example,
                                     cache_dir=prepared_cache_dir(), skip_bad_examples=dc.skip_bad_examples)
    train = StreamingExamples(stream, processors, tokenizer, to_example=to_example, seed=config.training.seed,
                              shuffle_buffer=dc.shuffle_buffer, max_source_length=dc.max_source_length,
                              max_target_length=dc.max_target_length, min_duration_seconds=dc.min_duration_seconds,
                              max_duration_seconds=dc.max_duration_seconds, skip_bad_examples=dc.skip_bad_examples,
                              limit=dc.max_train_examples, num_processes=accelerator.num_processes,
                              process_index=accelerator.process_index)
    text_ids = {name: processor.encode([e[name] for e in sample], name=name)
                for name, processor in processors.items() if processor.cached}
    # A stream's label set: what its first rows hold, and every name of a ClassLabel target column.
    sample_targets = [e["target_text"] for e in sample if e.get("target_text") is not None]
    targets = sample_targets + declared_labels(task, dc, stream.features) + continued_labels(config, task)
    valid = Examples(valid_data, processors, rows=valid_rows, to_example=valid_to_example)
    return TrainingData(tokenizer, processors, train, valid, text_ids, targets,
                        tokenizer.encode_target(sample_targets))


def make_train_sampler(data: Examples, config: TrainingConfig, accelerator: Accelerator) -> MicroBatchSampler:
    parts = accelerator.num_processes * config.gradient_accumulation_steps
    updates = BucketBatchSampler(data.lengths(), batch_size=config.batch_size, batch_type=config.batch_type,
                                 shuffle=True, seed=config.seed, min_batch_size=parts)
    return MicroBatchSampler(updates, num_shards=accelerator.num_processes, shard_index=accelerator.process_index,
                             micro_batches=config.gradient_accumulation_steps)


def make_train_loader(data: Examples | StreamingExamples, config: TrainingConfig,
                      accelerator: Accelerator) -> tuple[MicroBatchSampler | StreamingLoader, Iterable[Batch]]:
    """This process's micro-batches of the training data, as an iterable loader (and what sets
    its epoch: the sampler, or the stream's loader itself)."""
    if isinstance(data, StreamingExamples):
        loader = StreamingLoader(data, batch_size=config.batch_size, batch_type=config.batch_type,
                                 micro_batches=config.gradient_accumulation_steps,
                                 num_processes=accelerator.num_processes, seed=config.seed)
        return loader, loader
    sampler = make_train_sampler(data, config, accelerator)
    # A private generator: the loader must not draw from the global RNG, or a resumed run's
    # dropout masks would drift from an uninterrupted run's.
    loader = DataLoader(data, batch_sampler=sampler, collate_fn=data.collate, num_workers=config.num_workers,
                        generator=torch.Generator())
    return sampler, loader


def cache_frame_features(config: Config, model: Seq2SeqModel, data: list[Examples],
                         accelerator: Accelerator) -> list[Examples]:
    """For each video input with ``encoder.cache_features``, replace its clips by the frozen CNN's
    per-frame features, computed once (main process first) and cached under the CNN's weights."""
    for name, spec in config.inputs.items():
        if not spec.encoder.cache_features:
            continue
        encoder = model.encoders[name]
        digest = hashlib.sha256(f"differences={encoder.frame_differences} mirror={encoder.mirror_invariant}".encode())
        for key, tensor in sorted(encoder.cnn.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        with accelerator.main_process_first():
            data = [add_frame_features(part, name, encoder.frame_features, digest.hexdigest(),
                                       cache_dir=prepared_cache_dir()) for part in data]
    return data


def warn_if_targets_exceed_the_length_limit(target_ids: list[list[int]], max_length: int) -> None:
    """Evaluation cuts outputs at generation.max_length: say so before training if targets are longer."""
    longest = max((len(ids) + 1 for ids in target_ids), default=0)  # + eos
    if longest > max_length:
        logger.warning("the longest training target has %d tokens (eos included) but generation.max_length is %d: "
                       "evaluation and pipelines will cut such outputs; raise generation.max_length", longest,
                       max_length)


def describe_training_data(task: Task, processors: dict[str, Processor], text_ids: dict[str, list],
                           targets: list[str], target_ids: list[list[int]] | None = None) -> dict[str, Any]:
    """The longest text input in tokens (pipelines warn beyond it), for a model with one text
    input its target tokens per input token (``length_ratio``: the translation pipeline marks an
    output far shorter than that ``incomplete``), and what the task records, e.g. an action
    recognizer's label set."""
    longest = max((max(map(processors[name].num_tokens, ids), default=0) for name, ids in text_ids.items()),
                  default=0)
    description: dict[str, Any] = {"longest_source": longest}
    if len(text_ids) == 1 and target_ids and len(target_ids) == len(sources := next(iter(text_ids.values()))):
        source_tokens = sum(map(processors[next(iter(text_ids))].num_tokens, sources))
        if source_tokens:
            description["length_ratio"] = round(sum(map(len, target_ids)) / source_tokens, 4)
    describe = getattr(task, "describe", None)
    return {**description, **(describe(targets) if describe else {})}
