"""From raw datasets to padded batches.

``load_raw_dataset`` reads any source the config names into a ``DatasetDict``; the task layer
turns each row into named raw inputs and a target text; ``prepare_dataset`` computes what can be
computed once (token ids, media checks) with a cached ``Dataset.map``; ``Examples`` adds the media
each processor loads per access; ``BucketBatchSampler`` groups examples of similar length;
``Collator`` pads them into a ``Batch``.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
from torch.utils.data import Sampler

from seq2seq.config import DataConfig
from seq2seq.synthetic import make_corpus
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

    def to(self, device: torch.device | str) -> Batch:
        moved = {name: (values.to(device), mask.to(device)) for name, (values, mask) in self.inputs.items()}
        return Batch(moved, *(None if t is None else t.to(device) for t in (self.tgt_in, self.tgt_out)))

    def __len__(self) -> int:
        return next(iter(self.inputs.values()))[1].size(0)

    @property
    def num_target_tokens(self) -> int:
        return 0 if self.tgt_out is None else int((self.tgt_out != PAD_ID).sum())


def _pad(sequences: list[list[int]]) -> torch.Tensor:
    longest = max(len(s) for s in sequences)
    padded = torch.full((len(sequences), longest), PAD_ID, dtype=torch.long)
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
        return Batch(inputs, tgt_in, tgt_out)


# ---------------------------------------------------------------------------------------------
# loading


def _read_lines(path: str) -> list[str]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"data file not found: {file}")
    with open(file, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


def _parallel_text(config: DataConfig) -> datasets.DatasetDict:
    if not config.source_files:
        raise ValueError("data.kind=parallel_text needs data.source_files: {split: path}")
    splits = {}
    for split, source_path in config.source_files.items():
        if split not in config.target_files:
            raise ValueError(f"data.target_files has no entry for split '{split}'")
        sources, targets = _read_lines(source_path), _read_lines(config.target_files[split])
        if len(sources) != len(targets):
            raise ValueError(
                f"{source_path} has {len(sources)} lines but {config.target_files[split]} has "
                f"{len(targets)}: parallel files must be line-aligned"
            )
        splits[split] = datasets.Dataset.from_dict(
            {config.source_column: sources, config.target_column: targets}
        )
    return datasets.DatasetDict(splits)


def load_raw_dataset(config: DataConfig) -> datasets.DatasetDict:
    """Read the dataset the config names; every failure names the path, id or split."""
    if config.kind == "generated" and config.path == "actions":
        from seq2seq.synthetic_video import make_video_corpus

        directory = Path(config.generated_dir or Path.home() / ".cache" / "seq2seq" / "generated") / config.path
        return make_video_corpus(directory, config.generated_sizes, seed=config.generated_seed)
    if config.kind == "generated":
        return make_corpus(config.path, config.generated_sizes, config.generated_seed)
    if config.kind == "parallel_text":
        return _parallel_text(config)
    if config.kind == "disk":
        if not Path(config.path).exists():
            raise FileNotFoundError(f"dataset directory not found: {config.path}")
        loaded = datasets.load_from_disk(config.path)
        if isinstance(loaded, datasets.Dataset):
            raise ValueError(f"{config.path} holds a single Dataset; save a DatasetDict with splits")
        return loaded
    if config.kind == "files":
        for split, path in config.data_files.items():
            if not Path(path).is_file():
                raise FileNotFoundError(f"data file for split '{split}' not found: {path}")
        return datasets.load_dataset(config.path, data_files=config.data_files)
    if config.kind == "hub":
        return datasets.load_dataset(config.path)
    raise ValueError(
        f"data.kind must be generated, parallel_text, disk, files or hub; got {config.kind!r}"
    )


def get_split(dataset: datasets.DatasetDict, split: str, limit: int = 0) -> datasets.Dataset:
    if split not in dataset:
        raise KeyError(f"split '{split}' not in dataset (available: {', '.join(dataset)})")
    selected = dataset[split]
    if len(selected) == 0:
        raise ValueError(f"split '{split}' is empty")
    if limit and len(selected) > limit:
        selected = selected.select(range(limit))
    return selected


# ---------------------------------------------------------------------------------------------
# preparing


def preprocessing_fingerprint(dataset: datasets.Dataset, tokenizer: Tokenizer, processors: dict[str, Any],
                              to_example: Callable[[dict[str, Any]], dict[str, Any]], *settings: Any) -> str:
    """A cache key covering everything that determines the prepared output.

    That is the rows (the dataset's own fingerprint), the tokenizer's models, every input's
    processor, the task's row mapping (hashed by ``datasets`` the way it hashes any ``map``
    function: its code and the values it closes over, such as the column names) and the other
    ``settings``. SentencePiece processors cannot be hashed that way, so the tokenizer and the
    processors contribute their own fingerprints.
    """
    from datasets.fingerprint import Hasher

    parts = [dataset._fingerprint, tokenizer.fingerprint,
             *(f"{name}={processor.fingerprint}" for name, processor in processors.items()),
             Hasher.hash(to_example), *map(repr, settings)]
    return hashlib.sha256("-".join(parts).encode()).hexdigest()[:16]


def prepare_dataset(
    dataset: datasets.Dataset,
    tokenizer: Tokenizer,
    processors: dict[str, Any],
    *,
    to_example: Callable[[dict[str, Any]], dict[str, Any]],
    max_source_length: int = 0,
    max_target_length: int = 0,
    skip_bad_examples: bool = False,
    cache_dir: str | Path | None = None,
) -> datasets.Dataset:
    """Rows -> the columns that can be computed once (a cached ``Dataset.map``).

    Through the task's ``to_example``, each row becomes named raw inputs and a target text. The
    result has, per text input, its token ids; per media input, its length (the media are checked
    here: a file that cannot be read is an error naming it, or with ``skip_bad_examples`` a
    dropped example, counted in a warning); ``tgt_ids`` and ``target_text`` when the row has a
    target; and ``row``, the index of the raw row (media are loaded from it per access). Pairs
    whose text inputs or target are longer than the limits are dropped, not truncated.

    The cache key is :func:`preprocessing_fingerprint`. In-memory datasets (generated, parallel
    text) have no cache of their own: with ``cache_dir`` their results are cached there, so that
    other processes load what the main process computed.
    """
    fingerprint = preprocessing_fingerprint(dataset, tokenizer, processors, to_example, max_source_length,
                                            max_target_length, skip_bad_examples)

    def prepare(rows: dict[str, list], indices: list[int]) -> dict[str, list]:
        examples = [to_example({k: rows[k][i] for k in rows}) for i in range(len(indices))]
        prepared: dict[str, list] = {"row": indices, "bad": [""] * len(indices)}
        for name, processor in processors.items():
            if processor.cached:
                prepared[name] = processor.encode([e[name] for e in examples], name=name)
                continue
            lengths = []
            for position, (index, example) in enumerate(zip(indices, examples, strict=True)):
                try:
                    lengths.append(processor.check(example[name], name=_describe(example[name], name, index)))
                except ValueError as error:
                    if not skip_bad_examples:
                        raise
                    lengths.append(0)
                    prepared["bad"][position] = str(error)
            prepared[f"{name}_length"] = lengths
        if "target_text" in examples[0]:
            prepared["target_text"] = [e["target_text"] for e in examples]
            prepared["tgt_ids"] = tokenizer.encode_target(prepared["target_text"])
        return prepared

    def cache_file(suffix: str) -> str | None:
        if dataset.cache_files or cache_dir is None:
            return None
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        return str(Path(cache_dir) / f"{fingerprint}{suffix}.arrow")

    prepared = dataset.map(
        prepare, batched=True, with_indices=True, remove_columns=dataset.column_names, new_fingerprint=fingerprint,
        cache_file_name=cache_file(""), desc="preparing",
    )
    bad = [message for message in prepared["bad"] if message]
    if bad:
        logger.warning("skipped %d of %d examples that could not be read (data.skip_bad_examples); first: %s",
                       len(bad), len(prepared), bad[0])
    text_inputs = [name for name, processor in processors.items() if processor.cached]

    def usable(row: dict[str, Any]) -> bool:
        return not row["bad"] and all(not max_source_length or len(row[name]) <= max_source_length
                                      for name in text_inputs) and (
            not max_target_length or len(row.get("tgt_ids", ())) + 1 <= max_target_length)

    if bad or max_source_length or max_target_length:
        prepared = prepared.filter(usable, new_fingerprint=fingerprint + "-f", cache_file_name=cache_file("-filtered"),
                                   desc="filtering")
    if len(prepared) == 0:
        raise ValueError("no examples left after preparing and length filtering")
    return prepared.remove_columns("bad")


def _describe(value: Any, name: str, index: int) -> str:
    """How an error names a media input: its file when it has one, else the input and row."""
    path = value.get("path") if isinstance(value, dict) else value if isinstance(value, (str, Path)) else None
    return f"{name} {path}" if path else f"{name} of row {index}"


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
        self.media = [name for name, processor in processors.items() if not processor.cached]
        self.collate = Collator(processors)
        self.columns = [c for c in (*processors, "tgt_ids") if c in prepared.column_names]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.prepared)

    def select(self, indices) -> Examples:
        return Examples(self.prepared.select(indices), self.processors, rows=self.rows, to_example=self.to_example,
                        train=self.train, seed=self.seed)

    @property
    def references(self) -> list[str]:
        return self.prepared["target_text"]

    def lengths(self, *, targets: bool = True) -> list[int]:
        """Per-example cost used for bucketing: the longest text input (or target), in tokens.
        Media inputs have their processed length, the same for every clip: they do not count."""
        names = [name for name in self.columns if targets or name != "tgt_ids"]
        columns = [self.prepared[name] for name in names]
        if not columns:
            return [1] * len(self)
        return [max(len(values[i]) + (name == "tgt_ids") for name, values in zip(names, columns, strict=True))
                for i in range(len(self))]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        block = self.prepared[indices]  # one columnar read for the whole batch
        examples = [{name: block[name][i] for name in self.columns} for i in range(len(indices))]
        if self.media:
            for example, row in zip(examples, block["row"], strict=True):
                raw = self.to_example(self.rows[row])
                generator = torch.Generator().manual_seed(hash((self.seed, self.epoch, row)) % 2**63)
                for name in self.media:
                    example[name] = self.processors[name](raw[name], train=self.train, generator=generator,
                                                          name=_describe(raw[name], name, row))
        return examples


# ---------------------------------------------------------------------------------------------
# bucketing


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length examples, so little compute goes to padding.

    Examples are shuffled, cut into pools of ``pool_batches`` batches, sorted by length within a
    pool and cut into batches of ``batch_size`` sentences, or of at most ``batch_size`` padded
    tokens with ``batch_type="tokens"``; the batches are shuffled again. Call ``set_epoch`` for a
    new, reproducible order each epoch.
    """

    def __init__(
        self,
        lengths: list[int],
        *,
        batch_size: int,
        batch_type: str = "sentences",
        shuffle: bool = True,
        seed: int = 0,
        pool_batches: int = 100,
        min_batch_size: int = 1,
    ):
        if batch_type not in ("sentences", "tokens"):
            raise ValueError(f"batch_type must be 'sentences' or 'tokens', got {batch_type!r}")
        self.lengths = lengths
        self.batch_size = batch_size
        self.batch_type = batch_type
        self.shuffle = shuffle
        self.seed = seed
        self.pool_batches = pool_batches
        self.min_batch_size = min_batch_size
        self.epoch = 0
        self._batches = self._make_batches()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._batches = self._make_batches()

    def _make_batches(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        pool_size = self.pool_batches * (
            self.batch_size if self.batch_type == "sentences" else max(1, self.batch_size // 20)
        )
        if not self.shuffle:
            pool_size = len(order)  # evaluation: one global sort, the least padding
        batches = []
        for start in range(0, len(order), pool_size):
            pool = sorted(order[start : start + pool_size], key=self.lengths.__getitem__)
            batches.extend(self._cut(pool))
        # Every process and accumulation step needs at least one example of each batch.
        for index in range(len(batches) - 1, 0, -1):
            if len(batches[index]) < self.min_batch_size:
                batches[index - 1].extend(batches.pop(index))
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def _cut(self, pool: list[int]) -> list[list[int]]:
        if self.batch_type == "sentences":
            return [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        batches, current, longest = [], [], 0
        for index in pool:
            longest_if_added = max(longest, self.lengths[index])
            if current and longest_if_added * (len(current) + 1) > self.batch_size:
                batches.append(current)
                current, longest_if_added = [], self.lengths[index]
            current.append(index)
            longest = longest_if_added
        if current:
            batches.append(current)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)


class MicroBatchSampler(Sampler[list[int]]):
    """This process's share of every update batch: ``micro_batches`` index lists per update.

    Each batch of ``batches`` is one optimizer update. It is cut into ``num_shards *
    micro_batches`` contiguous parts of near-equal size (the batch is length-sorted, so each part
    stays tight); shard ``r`` gets parts ``r*k`` to ``r*k + k - 1``. The optimizer thus sees the
    same examples per update whatever the number of processes and accumulation steps.
    """

    def __init__(self, batches: BucketBatchSampler, *, num_shards: int = 1, shard_index: int = 0,
                 micro_batches: int = 1):
        self.batches = batches
        self.num_shards = num_shards
        self.shard_index = shard_index
        self.micro_batches = micro_batches
        self.start_update = 0

    def set_epoch(self, epoch: int, start_update: int = 0) -> None:
        """Order for ``epoch``, skipping the updates a resumed run has already made."""
        self.batches.set_epoch(epoch)
        self.start_update = start_update

    @property
    def num_updates(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        parts_per_batch = self.num_shards * self.micro_batches
        first = self.shard_index * self.micro_batches
        for batch in list(self.batches)[self.start_update :]:
            if len(batch) < parts_per_batch:
                raise ValueError(f"a batch of {len(batch)} examples cannot feed {parts_per_batch} micro-batches")
            size, extra = divmod(len(batch), parts_per_batch)
            bounds = [part * size + min(part, extra) for part in range(parts_per_batch + 1)]
            for part in range(first, first + self.micro_batches):
                yield batch[bounds[part] : bounds[part + 1]]

    def __len__(self) -> int:
        return (len(self.batches) - self.start_update) * self.micro_batches
