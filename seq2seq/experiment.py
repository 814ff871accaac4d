"""Assembling an experiment: accelerator, run directory, data and tokenizer, model, optimizer.

``assemble`` turns a config and a task into everything the training loop needs (``Experiment``),
restoring a checkpoint when resuming; ``training.py`` runs the loop. The task layer plugs in
through :class:`Task`: which named inputs it feeds, how a dataset row becomes those raw inputs
and a ``target_text``, and how predictions are scored.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import datasets
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from seq2seq.batching import BucketBatchSampler, MicroBatchSampler
from seq2seq.checkpoints import find_resume_checkpoint
from seq2seq.columns import ColumnReader, parse_path, resolve_columns
from seq2seq.config import Config, ConfigError, DataConfig, TrainingConfig, config_to_dict, did_you_mean
from seq2seq.data import Batch, Examples, add_frame_features, prepare_dataset
from seq2seq.model import Seq2SeqModel, build_model
from seq2seq.processors import Processor, build_processor
from seq2seq.run_directory import check_new_run, check_resumable, clear_run_files
from seq2seq.sources import get_split, get_stream, load_raw_dataset
from seq2seq.streaming import StreamingExamples, StreamingLoader, read_sample
from seq2seq.tokenization import Tokenizer

logger = get_logger(__name__)  # logs on the main process only


class Task(Protocol):
    name: str
    inputs: dict[str, str]  # input name -> modality: what the task can feed; a config lists one or more
    metric_names: tuple[str, ...]  # what compute_metrics can report

    columns: dict[str, str]  # field it reads (inputs and "target") -> default dataset column

    def make_to_example(self, data: DataConfig,
                        features: datasets.Features | None = None) -> Callable[[dict[str, Any]], dict[str, Any]]: ...

    def compute_metrics(self, predictions: list[str], references: list[str],
                        metrics: list[str] | None = None) -> dict[str, float]: ...


def check_reader(config: Config) -> None:
    """Multi-hop reading settings that cannot work together."""
    if config.model.hop_supervision:
        if not config.model.hops:
            raise ConfigError("model.hop_supervision needs model.hops >= 1 (it supervises what the hops read)")
        read = [name for name in config.inputs if name != config.model.query_input]
        if len(read) != 1 or config.inputs[read[0]].encoder.memory_unit != "sentences":
            raise ConfigError("model.hop_supervision needs the hops to read one input with memory_unit: sentences "
                              "(supporting facts are sentence positions)")
        if config.data.streaming:
            raise ConfigError("model.hop_supervision reads supporting facts from map-style data; set "
                              "data.streaming: false")
    if config.model.decoder_memory == "reader" and not config.model.hops:
        raise ConfigError("model.decoder_memory: reader needs model.hops >= 1 (the hops' queries are its memory)")
    if config.model.decoder_memory == "reader" and config.model.fusion == "gate":
        raise ConfigError("model.fusion: gate mixes one attention per input; with decoder_memory: reader the "
                          "decoder reads one memory (use fusion: concat)")


def check_config(config: Config, task: Task) -> None:
    """Settings that depend on the task, checked before any work starts."""
    configured = {name: spec.modality for name, spec in config.inputs.items()}
    if not configured or any(task.inputs.get(name) != modality for name, modality in configured.items()):
        wanted = ", ".join(f"{name} ({modality})" for name, modality in task.inputs.items())
        given = ", ".join(f"{name} ({modality})" for name, modality in configured.items()) or "none"
        one_or_more = " (one or more of them)" if len(task.inputs) > 1 else ""
        raise ConfigError(f"inputs: the {task.name} task feeds {wanted}{one_or_more}; the config lists {given}")
    resolve_columns(task.columns, config.data.columns, task.name)
    check_inputs = getattr(task, "check_inputs", None)  # which combinations of its inputs a task takes
    if check_inputs is not None:
        check_inputs(list(configured))
    if config.model.query_input and config.model.query_input not in configured:
        raise ConfigError(f"model.query_input: {config.model.query_input!r} is not one of the inputs "
                          f"({', '.join(configured)})")
    if config.model.hops and not config.model.query_input and len(configured) > 1:
        raise ConfigError("model.hops with several inputs needs model.query_input (the input that asks)")
    check_reader(config)
    for name, spec in config.inputs.items():
        build_processor(spec.modality, spec.processor, None, name)  # settings errors now, not after data loading
        by_sentence = (spec.encoder.memory_unit, spec.encoder.sentence_rnn, spec.encoder.recency_noise)
        if by_sentence != ("tokens", True, 0.0) and not (spec.modality == "text" and spec.processor.get("sentences")):
            raise ConfigError(f"inputs.{name}.encoder: memory_unit, sentence_rnn and recency_noise are for text read "
                              "sentence by sentence (processor: {sentences: true})")
        if spec.encoder.bag_of_words and spec.modality != "text":
            raise ConfigError(f"inputs.{name}.encoder.bag_of_words is for text inputs")
        if spec.encoder.position_encoding != "none" and not spec.encoder.bag_of_words:
            raise ConfigError(f"inputs.{name}.encoder.position_encoding weights the bag of words: it needs "
                              "bag_of_words: true")
        if spec.encoder.cache_features and not spec.encoder.freeze_cnn:
            raise ConfigError(f"inputs.{name}.encoder.cache_features needs freeze_cnn: true (a CNN that trains "
                              "changes its features every update)")
    tc = config.training
    if tc.restarts > 1 and not 0 < tc.restart_steps < (tc.max_steps or float("inf")):
        raise ConfigError(f"training.restarts={tc.restarts} needs training.restart_steps: the updates each candidate "
                          "trains before the best is chosen (more than 0, fewer than training.max_steps)")
    if config.data.streaming:
        check_streaming(config)
    for name in tc.metrics:
        if name not in task.metric_names:
            raise ConfigError(f"training.metrics: the {task.name} task has no metric {name!r}"
                              f"{did_you_mean(name, task.metric_names)} (available: {', '.join(task.metric_names)})")
    reported = tc.metrics or list(task.metric_names)
    if tc.eval_metric not in reported:
        raise ConfigError(f"training.eval_metric: {tc.eval_metric!r} is not among the reported metrics"
                          f"{did_you_mean(tc.eval_metric, reported)} (reported: {', '.join(reported)})")


def check_streaming(config: Config) -> None:
    """What streaming cannot do (see ``streaming.py``), said before any work starts."""
    tc = config.training
    if tc.lr_schedule in ("linear", "cosine") and not tc.max_steps:
        raise ConfigError(f"training.lr_schedule={tc.lr_schedule} decays over the whole run, whose length a stream "
                          "does not know: set training.max_steps (or use constant / inverse_sqrt)")
    if tc.num_workers:
        raise ConfigError("training.num_workers: streamed data is read by the training process itself; set it to 0")
    for name, spec in config.inputs.items():
        if spec.encoder.cache_features:
            raise ConfigError(f"inputs.{name}.encoder.cache_features needs map-style data (data.streaming: false)")


def tune_cpu_allocator() -> None:
    """Keep freed activation buffers in glibc's heap instead of returning them to the OS.

    Each training step allocates and frees the same large activations; with glibc's defaults
    they are mmap'ed and unmapped every time, and the page faults cost about 10 % of CPU
    training time (measured on Multi30k, 2 cores). No effect off glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: never trim the heap top
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: glibc's maximum on 64-bit
    except (OSError, AttributeError):
        pass


def build_optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    lr, decay = config.learning_rate, config.weight_decay
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=decay)
    raise ValueError(f"training.optimizer must be adam, adamw or rmsprop; got {config.optimizer!r}")


def lr_factor(step: int, *, schedule: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at update ``step`` (linear warm-up, then decay)."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "inverse_sqrt":
        return math.sqrt(max(warmup_steps, 1) / max(step + 1, 1))
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"training.lr_schedule must be constant, linear, cosine or inverse_sqrt; got {schedule!r}")


def prepare_tokenizer(config: Config, read_examples: Callable[[], Iterable[dict[str, Any]]], run_dir: Path,
                      accelerator: Accelerator) -> Tokenizer:
    """Train SentencePiece on the training examples once (main process) and reuse it on resume.

    The source model is trained on every text input, the target model on the targets; a model
    without text inputs gets one model for the targets, used for both sides."""
    directory = run_dir / "tokenizer"
    text_inputs = [name for name, spec in config.inputs.items() if spec.modality == "text"]
    with accelerator.main_process_first():
        if not (directory / "tokenizer_config.json").is_file() and accelerator.is_main_process:
            examples = list(read_examples())
            tok = config.tokenizer
            targets = [e["target_text"] for e in examples if e.get("target_text") is not None]
            # A text input may be a list of sentences (a story for a sentence-level encoder).
            sources = [text for e in examples for name in text_inputs
                       for text in (e[name] if isinstance(e[name], list) else [e[name]])] if text_inputs else None
            tokenizer = Tokenizer.train(sources, targets, vocab_size=tok.vocab_size, model_type=tok.model_type,
                                        joint=tok.joint or not text_inputs, character_coverage=tok.character_coverage,
                                        max_sentences=tok.max_sentences, lowercase_source=tok.lowercase_source)
            tokenizer.save_pretrained(directory)
    return Tokenizer.from_pretrained(directory)


def build_processors(config: Config, tokenizer: Tokenizer) -> dict[str, Processor]:
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
    valid_rows = get_split(raw, dc.valid_split, dc.max_valid_examples, **cap)
    valid_to_example = task.make_to_example(dc, valid_rows.features)
    if dc.streaming:
        return _streaming_data(config, task, raw, valid_rows, valid_to_example, run_dir, accelerator)
    train_rows = get_split(raw, dc.train_split, dc.max_train_examples, **cap)
    to_example = task.make_to_example(dc, train_rows.features)
    # The tokenizer reads the text columns only: decoding every clip for it would cost minutes.
    media_paths, media = media_inputs(config, task)
    tokenizer = prepare_tokenizer(config, lambda: read_sample(train_rows, to_example, len(train_rows), media_paths,
                                                              media), run_dir, accelerator)
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
                        list(train_examples.references) + declared_labels(task, dc, train_rows.features),
                        list(train_data["tgt_ids"]), dropped)


def declared_labels(task: Task, dc: DataConfig, features: datasets.Features | None) -> list[str]:
    """The names of a ``ClassLabel`` target column: with the training targets, a classifier's
    label set (map-style and streamed alike; validation-only labels are not in it)."""
    columns = resolve_columns(task.columns, dc.columns, task.name)
    return list(ColumnReader({"target": columns["target"]}, features).names.get("target") or [])


def media_inputs(config: Config, task: Task) -> tuple[list[str], list[str]]:
    """The column paths that hold media (audio, video), and the media inputs' names."""
    columns = resolve_columns(task.columns, config.data.columns, task.name)
    paths = [path for field, path in columns.items() if path and task.inputs.get(field, "text") != "text"]
    return paths, [name for name, spec in config.inputs.items() if spec.modality != "text"]


def _streaming_data(config: Config, task: Task, raw, valid_rows: datasets.Dataset, valid_to_example,
                    run_dir: Path, accelerator: Accelerator) -> TrainingData:
    dc = config.data
    stream = get_stream(raw, dc.train_split)
    to_example = task.make_to_example(dc, stream.features)
    media_paths, media = media_inputs(config, task)
    limit = min(STREAM_SAMPLE_ROWS, dc.max_train_examples or STREAM_SAMPLE_ROWS)
    sample = read_sample(stream, to_example, limit, media_paths, media) if accelerator.is_main_process else []
    tokenizer = prepare_tokenizer(config, lambda: sample, run_dir, accelerator)
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
    targets = sample_targets + declared_labels(task, dc, stream.features)
    valid = Examples(valid_data, processors, rows=valid_rows, to_example=valid_to_example)
    return TrainingData(tokenizer, processors, train, valid, text_ids, targets,
                        tokenizer.encode_target(sample_targets))


def make_train_sampler(data: Examples, config: TrainingConfig, accelerator: Accelerator) -> MicroBatchSampler:
    parts = accelerator.num_processes * config.gradient_accumulation_steps
    updates = BucketBatchSampler(data.lengths(), batch_size=config.batch_size, batch_type=config.batch_type,
                                 shuffle=True, seed=config.seed, min_batch_size=parts)
    return MicroBatchSampler(updates, num_shards=accelerator.num_processes, shard_index=accelerator.process_index,
                             micro_batches=config.gradient_accumulation_steps)


def make_accelerator(tc: TrainingConfig, run_dir: Path) -> Accelerator:
    """Accelerate with the config's precision (which wins over the launcher's, with a warning)."""
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    # Without an accelerator, say so: Accelerate then runs processes started by torchrun (the
    # multi-GPU launcher) as one CPU group over gloo instead of as independent single runs.
    on_cpu = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    accelerator = Accelerator(cpu=on_cpu, mixed_precision=tc.mixed_precision, log_with=tc.log_with or None,
                              project_dir=str(run_dir))
    if launcher not in ("", "no", tc.mixed_precision):
        logger.warning("the launcher asks for mixed_precision=%s but the config says %r; using the config's "
                       "(set training.mixed_precision=%s to use the launcher's)", launcher, tc.mixed_precision,
                       launcher)
    return accelerator


def prepare_run_directory(run_dir: Path, config: Config, accelerator: Accelerator, *, resume: bool,
                          overwrite: bool) -> Path | None:
    """Apply the run-directory rules (``run_directory.py``); the checkpoint to resume from, if any."""
    if resume:
        check_resumable(run_dir, config_to_dict(config))
        checkpoint = find_resume_checkpoint(run_dir, logger.warning)
    else:
        check_new_run(run_dir, overwrite=overwrite)
        checkpoint = None
    accelerator.wait_for_everyone()  # every process has looked before the main one changes anything
    if accelerator.is_main_process:
        if overwrite and not resume:
            clear_run_files(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config_to_dict(config), indent=2))
    return checkpoint


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


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainingConfig,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, schedule=config.lr_schedule, warmup_steps=config.warmup_steps, total_steps=total_steps))


@dataclass
class Experiment:
    """Everything a training run works with; model and optimizer are prepared by Accelerate."""

    config: Config
    task: Task
    accelerator: Accelerator
    run_dir: Path
    checkpoint: Path | None  # to resume from
    tokenizer: Tokenizer
    processors: dict[str, Processor]
    train_data: Examples | StreamingExamples
    valid_data: Examples
    model: Seq2SeqModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    sampler: MicroBatchSampler | StreamingLoader
    loader: Iterable[Batch]  # a DataLoader, or the StreamingLoader
    total_steps: int | None  # None: a stream without training.max_steps
    # What the saved model records about its training data (the longest input, a task's label
    # set): computed once here, not re-read from the data at every save.
    training_description: dict[str, Any]
    dropped: dict[str, int]  # training examples dropped when map-style data was prepared, by reason


def assemble(config: Config, task: Task, *, resume: bool = False, overwrite: bool = False) -> Experiment:
    """Check the config, claim the run directory, then build data, tokenizer, model and optimizer."""
    check_config(config, task)
    tc = config.training
    run_dir = Path(tc.output_dir)
    tune_cpu_allocator()
    accelerator = make_accelerator(tc, run_dir)
    set_seed(tc.seed)
    checkpoint = prepare_run_directory(run_dir, config, accelerator, resume=resume, overwrite=overwrite)
    accelerator.print(f"training on {accelerator.num_processes} process(es), device {accelerator.device}")
    data = load_data(config, task, run_dir, accelerator)
    tokenizer, processors, train_data, valid_data = data.tokenizer, data.processors, data.train, data.valid
    warn_if_targets_exceed_the_length_limit(data.described_target_ids, config.generation.max_length)
    model = build_model(config.model, config.inputs, source_vocab_size=tokenizer.source_vocab_size,
                        target_vocab_size=tokenizer.target_vocab_size, label_smoothing=tc.label_smoothing)
    train_data, valid_data = cache_frame_features(config, model, [train_data, valid_data], accelerator)
    optimizer = build_optimizer(model, tc)
    sampler, loader = make_train_loader(train_data, tc, accelerator)
    total_steps = tc.max_steps or (tc.max_epochs * sampler.num_updates if sampler.num_updates is not None else None)
    scheduler = build_scheduler(optimizer, tc, total_steps or 1)
    model, optimizer = accelerator.prepare(model, optimizer)
    return Experiment(config, task, accelerator, run_dir, checkpoint, tokenizer, processors, train_data, valid_data,
                      model, optimizer, scheduler, sampler, loader, total_steps,
                      describe_training_data(task, processors, data.described_ids, data.described_targets,
                                             data.described_target_ids), data.dropped)


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
