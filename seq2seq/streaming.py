"""Training from an ``IterableDataset`` (``data.streaming``): rows are read as they are needed.

Each process reads its own share of the stream (``split_dataset_by_node``), shuffled in a buffer
of ``data.shuffle_buffer`` rows (a new, reproducible order each epoch). Rows become examples as in
``data.py`` (text inputs tokenized, training pairs over the length limits dropped), and examples
are grouped by length within a window of about 100 batches, the pool that map-style bucketing
sorts. Media are loaded when their batch is built.

Compared with map-style data, streaming gives up:

- a global view: bucketing sorts a window, not the epoch, and the number of updates per epoch
  is not known in advance (a decaying learning-rate schedule needs ``training.max_steps``);
- one order for any number of processes: each process batches its own share, so runs on 1 and
  P processes see different batches (map-style splits each update batch across processes);
- feature caching (``encoder.cache_features``) and ``Dataset.map`` caching: a streamed example is
  prepared every epoch;
- cheap resumption: a resumed run reads the epoch again up to where it stopped (tokenizing text,
  without loading media or running the model), so it continues with exactly the batches an
  uninterrupted run would have seen;
- with several processes, an epoch ends for all of them when one process's share runs out.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import datasets
from datasets.distributed import split_dataset_by_node

from seq2seq.batching import BucketBatchSampler, pool_size, split_evenly
from seq2seq.columns import parse_path
from seq2seq.data import Batch, Collator
from seq2seq.preparation import (
    UNREADABLE,
    augmentation_generator,
    bucketing_cost,
    check_inputs_present,
    describe_input,
    fits_length_limits,
    media_seconds,
    within,
)
from seq2seq.tokenization import Tokenizer

logger = logging.getLogger(__name__)

WINDOW_BATCHES = 100  # batches' worth of examples sorted by length together (as map-style bucketing)
ENCODE_ROWS = 256  # rows tokenized in one call


class StreamingExamples:
    """The training rows as a stream of prepared examples, reshuffled each epoch.

    An example is ``{"position": p, "raw": {media input: value}, text input: ids, "tgt_ids": ids}``
    where ``p`` counts examples from the start of the epoch (it seeds the example's augmentation,
    as the row index does for map-style data).
    """

    def __init__(self, rows: datasets.IterableDataset, processors: dict[str, Any], tokenizer: Tokenizer, *,
                 to_example: Callable[[dict[str, Any]], dict[str, Any]], seed: int = 0, shuffle_buffer: int = 10_000,
                 max_source_length: int = 0, max_target_length: int = 0, min_duration_seconds: float = 0.0,
                 max_duration_seconds: float = 0.0, skip_bad_examples: bool = False, limit: int = 0,
                 num_processes: int = 1, process_index: int = 0):
        if limit:
            rows = rows.take(limit)
        if num_processes > 1:
            rows = split_dataset_by_node(rows, rank=process_index, world_size=num_processes)
        self.rows = rows.shuffle(seed=seed, buffer_size=shuffle_buffer)
        self.processors, self.tokenizer, self.to_example, self.seed = processors, tokenizer, to_example, seed
        self.max_source_length, self.max_target_length = max_source_length, max_target_length
        self.durations = (min_duration_seconds, max_duration_seconds)
        self.skip_bad_examples = skip_bad_examples
        self.process_index = process_index  # in the augmentation seed: positions count per process
        self.text_inputs = [name for name, processor in processors.items() if processor.cached]
        self.media = [name for name, processor in processors.items() if not processor.cached]
        self.collate = Collator(processors)
        self.epoch = 0
        # Examples dropped this epoch, by reason ("unreadable", "duration"); length filters apart.
        self.dropped: dict[str, int] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.rows.set_epoch(epoch)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """This epoch's examples, in stream order (text inputs over the length limits dropped)."""
        rows, position = iter(self.rows), 0
        while chunk := list(itertools.islice(rows, ENCODE_ROWS)):  # tokenized together: far faster
            examples = [self.to_example(row) for row in chunk]
            check_inputs_present(examples[0], self.processors, chunk[0])
            ids = {name: self.processors[name].encode([e[name] for e in examples], name=name)
                   for name in self.text_inputs}
            labelled = "target_text" in examples[0]
            targets = [e.get("target_text") or "" for e in examples]
            target_ids = self.tokenizer.encode_target(targets) if labelled else [None] * len(examples)
            for index, example in enumerate(examples):
                if labelled and example["target_text"] is None:  # no label (a ClassLabel's -1): dropped
                    self.dropped["unlabelled"] = self.dropped.get("unlabelled", 0) + 1
                    position += 1
                    continue
                prepared = {"position": position, "raw": {name: example[name] for name in self.media},
                            **{name: ids[name][index] for name in self.text_inputs}}
                if target_ids[index] is not None:
                    prepared["tgt_ids"] = target_ids[index]
                if "continues" in example:  # a block of a longer text (language modelling)
                    prepared["continues"] = bool(example["continues"])
                position += 1
                if fits_length_limits(prepared, self.text_inputs, self.processors,
                                      max_source_length=self.max_source_length,
                                      max_target_length=self.max_target_length):
                    yield prepared
                else:
                    self.dropped["length"] = self.dropped.get("length", 0) + 1

    def length(self, example: dict[str, Any]) -> int:
        """The bucketing cost (``preparation.bucketing_cost``, as for map-style examples)."""
        return bucketing_cost([self.processors[name].num_tokens(example[name]) for name in self.text_inputs],
                              len(example["tgt_ids"]) if "tgt_ids" in example else None)

    def load(self, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The media of a batch's examples, loaded and processed (augmented: this is training data).

        An unreadable clip or one outside the duration limits is dropped with
        ``skip_bad_examples`` (or the duration limits), else an error naming it."""
        loaded = []
        for example in examples:
            ready = {name: example[name] for name in (*self.text_inputs, "tgt_ids", "continues") if name in example}
            generator = augmentation_generator(self.seed, self.epoch, self.process_index, example["position"])
            try:
                for name in self.media:
                    raw = example["raw"][name]
                    described = describe_input(raw, name, example["position"])
                    if any(self.durations) and not within(media_seconds(self.processors[name], raw, described),
                                                          *self.durations):
                        raise _OutOfLimits
                    ready[name] = self.processors[name](raw, train=True, generator=generator, name=described)
            except _OutOfLimits:
                self.dropped["duration"] = self.dropped.get("duration", 0) + 1
                continue
            except UNREADABLE:
                if not self.skip_bad_examples:
                    raise
                self.dropped["unreadable"] = self.dropped.get("unreadable", 0) + 1
                continue
            loaded.append(ready)
        return loaded


class _OutOfLimits(Exception):
    pass


class StreamingLoader:
    """This process's micro-batches of a stream, as the training loop reads a ``DataLoader``.

    Every ``WINDOW_BATCHES`` batches' worth of examples are sorted by length and cut into update
    batches of ``batch_size / num_processes`` (sentences or padded tokens; each process batches its
    own share), shuffled, and each is cut into ``micro_batches`` parts. ``set_epoch(epoch, k)``
    skips the epoch's first ``k`` updates without loading their media.
    """

    def __init__(self, data: StreamingExamples, *, batch_size: int, batch_type: str = "sentences",
                 micro_batches: int = 1, num_processes: int = 1, seed: int = 0):
        self.data, self.batch_type, self.micro_batches, self.seed = data, batch_type, micro_batches, seed
        self.batch_size = max(micro_batches, batch_size // num_processes)
        self.start_update = 0
        self.num_updates = None  # unknown until the stream has been read
        self._pending: Iterator[list[dict[str, Any]]] = iter(())  # this epoch's updates not yet read

    def set_epoch(self, epoch: int, start_update: int = 0) -> None:
        self.data.set_epoch(epoch)
        self.start_update = start_update

    def updates(self) -> Iterator[list[dict[str, Any]]]:
        """This epoch's update batches of (not yet loaded) examples, from the first one."""
        window = pool_size(self.batch_size, self.batch_type, WINDOW_BATCHES)
        stream = iter(self.data)
        for index in itertools.count():
            examples = list(itertools.islice(stream, window))
            if not examples:
                return
            order_seed = random.Random(f"{self.seed}-{self.data.epoch}-{index}").randrange(2**31)
            batches = BucketBatchSampler([self.data.length(e) for e in examples], batch_size=self.batch_size,
                                         batch_type=self.batch_type, seed=order_seed, pool_batches=WINDOW_BATCHES,
                                         min_batch_size=self.micro_batches)
            for batch in batches:
                yield [examples[i] for i in batch]

    def iter_updates(self) -> Iterator[list[Batch]]:
        """This epoch's updates from ``start_update`` on, each as its micro-batches.

        Examples dropped at loading (unreadable media, duration limits) leave an update smaller,
        and one whose every example was dropped empty (``[]``): updates are counted as read, so
        a resumed run skips exactly the updates an uninterrupted one had read, and no update mixes
        the examples of two. An update with fewer examples than ``micro_batches`` (the end of an
        epoch, or after drops) has one micro-batch per example."""
        self.data.dropped = {}
        self._pending = itertools.islice(self.updates(), self.start_update, None)
        for update in self._pending:
            loaded = self.data.load(update)
            yield [self.data.collate(part) for part in split_evenly(loaded, min(self.micro_batches, len(loaded)))]
        if self.data.dropped:
            logger.warning("dropped streamed examples this epoch: %s", ", ".join(
                f"{count} {reason}" for reason, count in sorted(self.data.dropped.items())))

    def __iter__(self) -> Iterator[Batch]:
        for update in self.iter_updates():
            yield from update

    def unread_examples(self) -> int:
        """The examples of this epoch's share not reached: with several processes an epoch ends
        when the first share runs out (every process must join every update), and what the
        others still hold is counted here (read without loading media), never skipped unseen."""
        pending, self._pending = self._pending, iter(())
        return sum(len(update) for update in pending)


def read_sample(rows: datasets.IterableDataset, to_example: Callable[[dict[str, Any]], dict[str, Any]],
                limit: int, media_paths: list[str], media_fields: list[str]) -> list[dict[str, Any]]:
    """The first ``limit`` rows as examples without their media (to train the tokenizer on, and to
    describe the training data with). The columns holding media (``media_paths``: column paths
    such as ``audio`` or ``media.clip[0]``) are not read: a stream of audio need not download its
    audio for this; the rows get a placeholder of the same shape instead."""
    media_columns = {parse_path(path)[0] for path in media_paths}
    names = rows.column_names
    if names is not None and media_columns & set(names):
        rows = rows.select_columns([name for name in names if name not in media_columns])
    placeholders: dict[str, Any] = {}
    for path in media_paths:
        placeholders = _merge(placeholders, _placeholder(parse_path(path)))
    return [{k: v for k, v in to_example({**row, **placeholders}).items() if k not in media_fields}
            for row in itertools.islice(rows, limit)]


def _placeholder(parts: list[str | int]) -> dict[str, Any]:
    """``["media", "clip", 0]`` -> ``{"media": {"clip": [None]}}``: a row a column path can read."""
    value: Any = None
    for part in reversed(parts):
        value = [value] * (part + 1 if part >= 0 else -part) if isinstance(part, int) else {part: value}
    return value


def _merge(first: Any, second: Any) -> Any:
    if isinstance(first, dict) and isinstance(second, dict):
        return {**first, **second, **{key: _merge(first[key], second[key]) for key in first.keys() & second.keys()}}
    return second
