"""From raw datasets to padded batches.

``sources.load_raw_dataset`` reads the dataset a config names; the task layer turns each row
into named raw inputs and a target text; ``prepare_dataset`` computes what can be computed once
(token ids, media checks) with a cached ``Dataset.map``; ``Examples`` adds the media each
processor loads per access (or features cached once: ``add_frame_features``); ``batching.py``
groups examples of similar length; ``Collator`` pads them into a ``Batch``.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from seq2seq.cache_keys import preprocessing_fingerprint
from seq2seq.preparation import (
    DROP_REASONS,
    NO_LABEL,
    UNREADABLE,
    augmentation_generator,
    bucketing_cost,
    check_inputs_present,
    describe_input,
    drop_reason,
    media_seconds,
)
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID, Tokenizer

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# batches


@dataclass
class Batch:
    """Padded model inputs by name, and the target.

    inputs[name] = (values, mask): text ids (B, S), video frames (B, T, C, H, W) or features
    (B, T, F), each with a bool mask (B, S|T) True at real positions. tgt_in (bos + target) and
    tgt_out (target + eos): (B, T), pad 0.
    """

    inputs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    tgt_in: torch.Tensor | None = None
    tgt_out: torch.Tensor | None = None
    # (B, K) the sentences the answer rests on, in the order of reasoning (bAbI), -1 after the
    # last; positions in the memory the hops read. Only for supervising the hops.
    supporting_facts: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        moved = {name: (values.to(device), mask.to(device)) for name, (values, mask) in self.inputs.items()}
        return Batch(moved, *(None if t is None else t.to(device)
                              for t in (self.tgt_in, self.tgt_out, self.supporting_facts)))

    def __len__(self) -> int:
        return next(iter(self.inputs.values()))[1].size(0)

    @property
    def num_target_tokens(self) -> int:
        return 0 if self.tgt_out is None else int((self.tgt_out != PAD_ID).sum())


def _pad(sequences: list[list[int]], value: int = PAD_ID) -> torch.Tensor:
    longest = max(len(s) for s in sequences)
    padded = torch.full((len(sequences), longest), value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return padded


class Collator:
    """Examples (a dict per example: each input's processed value, optionally ``tgt_ids``) -> Batch.

    Each input is padded by its own processor."""

    def __init__(self, processors: dict[str, Any]):
        self.processors = processors

    def __call__(self, examples: list[dict[str, Any]]) -> Batch:
        inputs = {name: processor.collate([e[name] for e in examples]) for name, processor in self.processors.items()}
        if "tgt_ids" not in examples[0]:
            return Batch(inputs)
        tgt_in = _pad([[BOS_ID, *e["tgt_ids"]] for e in examples])
        tgt_out = _pad([[*e["tgt_ids"], EOS_ID] for e in examples])
        supporting = _pad([[-1, *e["supporting_facts"]] for e in examples], -1)[:, 1:] \
            if "supporting_facts" in examples[0] else None  # a leading -1: a batch without facts has width 0
        return Batch(inputs, tgt_in, tgt_out, supporting)


# ---------------------------------------------------------------------------------------------
# preparing


def prepare_dataset(
    dataset: datasets.Dataset,
    tokenizer: Tokenizer,
    processors: dict[str, Any],
    *,
    to_example: Callable[[dict[str, Any]], dict[str, Any]],
    max_source_length: int = 0,
    max_target_length: int = 0,
    min_duration_seconds: float = 0.0,
    max_duration_seconds: float = 0.0,
    skip_bad_examples: bool = False,
    cache_dir: str | Path | None = None,
    dropped: dict[str, int] | None = None,
) -> datasets.Dataset:
    """Rows -> the columns that can be computed once (a cached ``Dataset.map``).

    Through the task's ``to_example``, each row becomes named raw inputs and a target text; the
    result has each text input's token ids, each media input's length (its file checked: an
    unreadable one is an error naming it, or skipped with ``skip_bad_examples``), ``tgt_ids`` and
    ``target_text``, ``supporting_facts`` where the examples have them, and ``row`` (media are
    loaded from the raw row per access). Rows over the token or duration limits (0 = none) and
    rows without a label are dropped, never truncated, and counted per reason in a warning and
    in ``dropped``. The cache key is ``cache_keys.preprocessing_fingerprint``; in-memory datasets
    (generated, parallel text) are cached under ``cache_dir``, so other processes read what the
    main process computed.
    """
    durations = (min_duration_seconds, max_duration_seconds)
    fingerprint = preprocessing_fingerprint(dataset, tokenizer, processors, to_example, max_source_length,
                                            max_target_length, skip_bad_examples, *durations)

    def cache_file(suffix: str) -> str | None:
        if dataset.cache_files or cache_dir is None:
            return None
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        return str(Path(cache_dir) / f"{fingerprint}{suffix}.arrow")

    prepared = dataset.map(
        _row_preparer(tokenizer, processors, to_example, durations=durations, skip_bad_examples=skip_bad_examples),
        batched=True, with_indices=True, remove_columns=dataset.column_names, new_fingerprint=fingerprint,
        cache_file_name=cache_file(""), desc="preparing",
    )
    prepared = _drop_unusable(prepared, processors, max_source_length=max_source_length,
                              max_target_length=max_target_length, durations=durations,
                              filtered_fingerprint=fingerprint + "-f", cache_file=cache_file("-filtered"),
                              dropped=dropped)
    if len(prepared) == 0:
        raise ValueError("no examples left after preparing and length filtering")
    return prepared.remove_columns("bad")


def _drop_unusable(prepared: datasets.Dataset, processors: dict[str, Any], *, max_source_length: int,
                   max_target_length: int, durations: tuple[float, float], filtered_fingerprint: str,
                   cache_file: str | None, dropped: dict[str, int] | None) -> datasets.Dataset:
    """The prepared rows without those ``preparation.drop_reason`` drops, each reason counted in a
    warning and in ``dropped``: counted, not only filtered (a cached filter runs no code), so no
    drop goes unreported."""
    bad = [message for message in prepared["bad"] if message and message != NO_LABEL]
    if bad:
        logger.warning("skipped %d of %d examples that could not be read (data.skip_bad_examples); first: %s",
                       len(bad), len(prepared), bad[0])
    text_inputs = [name for name, processor in processors.items() if processor.cached]
    timed = [name for name in processors if any(durations) and f"{name}_seconds" in prepared.column_names]
    if not (any(prepared["bad"]) or max_source_length or max_target_length or timed):
        return prepared

    def reason(row: dict[str, Any]) -> str:
        return drop_reason(row, text_inputs, processors, max_source_length=max_source_length,
                           max_target_length=max_target_length, timed=timed, durations=durations)

    checked = prepared.select_columns(["bad", *text_inputs, *(["tgt_ids"] if max_target_length else []),
                                       *(f"{name}_seconds" for name in timed)])
    counts = collections.Counter(map(reason, checked))
    counts.pop("", None)
    for name in ("unlabelled", "length", "duration"):
        if counts.get(name):
            logger.warning("dropped %d of %d examples: %s", counts[name], len(prepared), DROP_REASONS[name])
    if dropped is not None:
        dropped.update(counts)
    return prepared.filter(lambda row: not reason(row), new_fingerprint=filtered_fingerprint,
                           cache_file_name=cache_file, desc="filtering")


def _row_preparer(tokenizer: Tokenizer, processors: dict[str, Any], to_example: Callable[[dict[str, Any]], dict],
                  *, durations: tuple[float, float], skip_bad_examples: bool) -> Callable[..., dict[str, list]]:
    """The batched ``Dataset.map`` function of ``prepare_dataset``: rows -> prepared columns, with
    a ``bad`` message per row (an unreadable file, or ``NO_LABEL``; "" = fine)."""
    supervised_input = next((name for name, p in processors.items() if getattr(p, "sentences", False)), None)

    def prepare(rows: dict[str, list], indices: list[int]) -> dict[str, list]:
        examples = [to_example({k: rows[k][i] for k in rows}) for i in range(len(indices))]
        check_inputs_present(examples[0], processors, rows)
        prepared: dict[str, list] = {"row": indices, "bad": [""] * len(indices)}
        for name, processor in processors.items():
            if processor.cached:
                prepared[name] = processor.encode([e[name] for e in examples], name=name)
            else:
                prepared.update(_check_media(name, processor, examples, indices, prepared["bad"],
                                             durations=durations, skip_bad_examples=skip_bad_examples))
        if "target_text" in examples[0]:
            # A row whose target is None has no label (a ClassLabel's -1): it is dropped, and counted.
            for position, example in enumerate(examples):
                if example["target_text"] is None:
                    prepared["bad"][position] = NO_LABEL
            prepared["target_text"] = [e["target_text"] or "" for e in examples]
            prepared["tgt_ids"] = tokenizer.encode_target(prepared["target_text"])
        if "supporting_facts" in examples[0] and supervised_input:
            keep = processors[supervised_input]
            prepared["supporting_facts"] = [keep.kept_positions(e[supervised_input], e["supporting_facts"])
                                            for e in examples]
        return prepared

    return prepare


def _check_media(name: str, processor: Any, examples: list[dict[str, Any]], indices: list[int], bad: list[str], *,
                 durations: tuple[float, float], skip_bad_examples: bool) -> dict[str, list]:
    """One media input of a batch of rows: each one's length in frames, its duration when there are
    duration limits, and its spectrum where the processor caches features. An unreadable file is
    an error, or with ``skip_bad_examples`` its message in ``bad``."""
    lengths, stored, seconds = [], [], []
    store = getattr(processor, "cache_features", False)
    for position, (index, example) in enumerate(zip(indices, examples, strict=True)):
        try:
            described = describe_input(example[name], name, index)
            if any(durations):
                seconds.append(media_seconds(processor, example[name], described))
            if store:  # the deterministic spectrum; features and augmentation per access
                stored.append(processor.spectrum(example[name], name=described).numpy())
                lengths.append(len(stored[-1]))
            else:
                lengths.append(processor.check(example[name], name=described))
        except UNREADABLE as error:
            if not skip_bad_examples:
                raise
            lengths.append(0)
            if any(durations) and len(seconds) == len(lengths) - 1:
                seconds.append(0.0)
            if store:
                stored.append(np.zeros((0, processor.num_mel_bins), dtype=np.float32))
            bad[position] = str(error)
    columns: dict[str, list] = {f"{name}_length": lengths}
    if any(durations):
        columns[f"{name}_seconds"] = seconds
    if store:
        columns[name] = stored
    return columns


class Examples(torch.utils.data.Dataset):
    """Model-ready examples: the prepared columns, plus media loaded and processed per access.

    ``train`` turns on each processor's augmentation, drawn from a generator seeded by (seed,
    epoch, row), so a resumed run sees the same augmented clips as an uninterrupted one.
    """

    def __init__(self, prepared: datasets.Dataset, processors: dict[str, Any], *, rows: datasets.Dataset | None = None,
                 to_example: Callable[[dict[str, Any]], dict[str, Any]] | None = None, train: bool = False,
                 seed: int = 0):
        self.prepared, self.processors, self.rows, self.to_example = prepared, processors, rows, to_example
        self.train, self.seed, self.epoch = train, seed, 0
        stored = set(prepared.column_names)
        # Media inputs are loaded per access, unless their features were cached (add_frame_features).
        self.media = [name for name, p in processors.items() if not p.cached and name not in stored]
        self.features = [name for name, p in processors.items() if not p.cached and name in stored]
        self.collate = Collator(processors)
        wanted = (*processors, "tgt_ids", "supporting_facts")
        self.columns = [c for c in wanted if c in stored and c not in self.features]
        # What a batch reads: only the columns it needs (not target_text), and cached features as
        # numpy arrays (converting nested Python lists would cost more than the model's step).
        # Cached audio spectra become features per access (augmented, in training).
        self.spectra = [name for name in self.features if hasattr(processors[name], "from_spectrum")]
        self.augmented = [name for name in self.spectra if train and processors[name].augments]
        self._columns_read = prepared.select_columns(self.columns + (["row"] if self.media or self.augmented else []))
        self._features_read = prepared.with_format("arrow", columns=self.features) if self.features else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.prepared)

    def select(self, indices) -> Examples:
        return self.replace(self.prepared.select(indices))

    def replace(self, prepared: datasets.Dataset) -> Examples:
        """The same examples over other prepared columns (a selection, or with cached features)."""
        return Examples(prepared, self.processors, rows=self.rows, to_example=self.to_example, train=self.train,
                        seed=self.seed)

    @property
    def references(self) -> list[str]:
        return self.prepared["target_text"]

    def lengths(self, *, targets: bool = True) -> list[int]:
        """Per-example cost used for bucketing: the longest text input (or target), in tokens
        (a sentence-level input: all its sentences' tokens).

        The rule is ``preparation.bucketing_cost``, as for streamed examples."""
        text_inputs = [name for name in self.columns if name in self.processors]
        if not text_inputs:
            return [1] * len(self)
        with_targets = targets and "tgt_ids" in self.columns
        # One columnar read: indexing a column row by row costs a table lookup per row (minutes on bAbI 10k).
        block = self.prepared.select_columns(text_inputs + (["tgt_ids"] if with_targets else []))[:]
        columns = [(block[name], self.processors[name].num_tokens) for name in text_inputs]
        target_ids = block["tgt_ids"] if with_targets else None
        return [bucketing_cost([size(values[i]) for values, size in columns],
                               len(target_ids[i]) if target_ids is not None else None) for i in range(len(self))]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        block = self._columns_read[indices]  # one columnar read for the whole batch
        examples = [{name: block[name][i] for name in self.columns} for i in range(len(indices))]
        if self._features_read is not None:
            table = self._features_read[indices]
            for name in self.features:
                for example, clip in zip(examples, _clips_from_arrow(table.column(name)), strict=True):
                    example[name] = clip
        if self.spectra:
            for position, example in enumerate(examples):
                generator = None
                if self.augmented:
                    generator = augmentation_generator(self.seed, self.epoch, block["row"][position], 1)
                for name in self.spectra:
                    example[name] = self.processors[name].from_spectrum(
                        example[name], train=name in self.augmented, generator=generator)
        if self.media:
            for example, row in zip(examples, block["row"], strict=True):
                raw = self.to_example(self.rows[row])
                generator = augmentation_generator(self.seed, self.epoch, row)
                for name in self.media:
                    example[name] = self.processors[name](raw[name], train=self.train, generator=generator,
                                                          name=describe_input(raw[name], name, row))
        return examples


# ---------------------------------------------------------------------------------------------
# cached features


def _clips_from_arrow(column) -> list[torch.Tensor]:
    """A column of clips, each a list of per-frame feature lists, as float tensors (T_i, F).

    Arrow's flat buffers are reshaped directly: 10x faster than going through Python lists."""
    clips = column.combine_chunks()
    frames = clips.flatten()  # every clip's frames, in order
    values = frames.flatten().to_numpy(zero_copy_only=False).astype(np.float32)  # a copy: writable
    values = values.reshape(len(frames), -1)  # (sum of T_i, F)
    lengths = clips.value_lengths().to_numpy(zero_copy_only=False)
    return [torch.from_numpy(part) for part in np.split(values, np.cumsum(lengths)[:-1])]


@torch.no_grad()
def add_frame_features(data: Examples, name: str, extract: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       extractor_fingerprint: str, *, batch_size: int = 32,
                       cache_dir: str | Path | None = None) -> Examples:
    """``data`` with the media input ``name`` replaced by per-frame features, computed once.

    ``extract`` maps frames (B, T, C, H, W) and their mask to features (B, T, F): a frozen CNN.
    Clips go through the processor's deterministic eval preset (cached features cannot be
    augmented). The result is a cached ``Dataset.map`` keyed by the prepared data and
    ``extractor_fingerprint`` (the CNN's weights), so an epoch neither decodes a video nor runs
    the CNN again, and a second run with the same CNN reads the features from the cache.
    """
    processor, prepared = data.processors[name], data.prepared
    fingerprint = hashlib.sha256(f"{prepared._fingerprint}-{name}-{extractor_fingerprint}".encode()).hexdigest()[:16]

    def featurize(rows: dict[str, list]) -> dict[str, list]:
        clips = []
        for row in rows["row"]:
            raw = data.to_example(data.rows[row])[name]
            clips.append(processor(raw, name=describe_input(raw, name, row)))
        values, mask = processor.collate(clips)
        features = extract(values, mask)
        return {name: [features[i, : len(clip)].numpy() for i, clip in enumerate(clips)]}  # float32

    cache_file = None
    if not prepared.cache_files and cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        cache_file = str(Path(cache_dir) / f"{fingerprint}-features.arrow")
    with_features = prepared.map(featurize, batched=True, batch_size=batch_size, new_fingerprint=fingerprint,
                                 cache_file_name=cache_file, desc=f"caching {name} features")
    return data.replace(with_features)
