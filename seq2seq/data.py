"""From raw datasets to padded batches.

``load_raw_dataset`` reads any source the config names into a ``DatasetDict``; the task layer
turns rows into canonical columns (``source_text``, ``target_text``); ``tokenize_dataset`` adds id
columns with a cached ``Dataset.map``; ``BucketBatchSampler`` groups examples of similar length;
``collate`` pads them into a ``Batch``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import datasets
import torch
from torch.utils.data import Sampler

from seq2seq.config import DataConfig
from seq2seq.synthetic import make_corpus
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID, Tokenizer

# ---------------------------------------------------------------------------------------------
# batches


@dataclass
class Batch:
    """Padded tensors and bool masks (True at real positions).

    src_ids, src_mask: (B, S); tgt_in (bos + target), tgt_out (target + eos): (B, T), pad 0.
    """

    src_ids: torch.Tensor
    src_mask: torch.Tensor
    tgt_in: torch.Tensor | None = None
    tgt_out: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(**{
            f.name: None if getattr(self, f.name) is None else getattr(self, f.name).to(device)
            for f in fields(self)
        })

    def __len__(self) -> int:
        return self.src_ids.size(0)

    @property
    def num_target_tokens(self) -> int:
        return 0 if self.tgt_out is None else int((self.tgt_out != PAD_ID).sum())


def _pad(sequences: list[list[int]]) -> torch.Tensor:
    longest = max(len(s) for s in sequences)
    padded = torch.full((len(sequences), longest), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded


def collate(examples: list[dict[str, Any]]) -> Batch:
    """Examples with ``src_ids`` (and optionally ``tgt_ids``) -> Batch."""
    src_ids = _pad([e["src_ids"] for e in examples])
    if "tgt_ids" not in examples[0]:
        return Batch(src_ids, src_ids != PAD_ID)
    tgt_in = _pad([[BOS_ID, *e["tgt_ids"]] for e in examples])
    tgt_out = _pad([[*e["tgt_ids"], EOS_ID] for e in examples])
    return Batch(src_ids, src_ids != PAD_ID, tgt_in, tgt_out)


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
# tokenizing


def preprocessing_fingerprint(dataset: datasets.Dataset, tokenizer: Tokenizer,
                              to_example: Callable[[dict[str, Any]], dict[str, Any]], *settings: Any) -> str:
    """A cache key covering everything that determines the tokenized output.

    That is the rows (the dataset's own fingerprint), the tokenizer's models, the task's row
    mapping (hashed by ``datasets`` the way it hashes any ``map`` function: its code and the
    values it closes over, such as the column names) and the other ``settings``. SentencePiece
    processors cannot be hashed that way, so the tokenizer contributes its own fingerprint.
    """
    from datasets.fingerprint import Hasher

    parts = [dataset._fingerprint, tokenizer.fingerprint, Hasher.hash(to_example), *map(repr, settings)]
    return hashlib.sha256("-".join(parts).encode()).hexdigest()[:16]


def tokenize_dataset(
    dataset: datasets.Dataset,
    tokenizer: Tokenizer,
    *,
    to_example: Callable[[dict[str, Any]], dict[str, Any]],
    max_source_length: int = 0,
    max_target_length: int = 0,
    cache_dir: str | Path | None = None,
) -> datasets.Dataset:
    """Rows -> ``src_ids``/``tgt_ids`` columns (via the task's ``to_example``), long pairs dropped.

    The map is cached by the datasets library under :func:`preprocessing_fingerprint`. In-memory
    datasets (generated, parallel text) have no cache of their own: with ``cache_dir`` their
    results are cached there, so that other processes load what the main process computed.
    """
    fingerprint = preprocessing_fingerprint(dataset, tokenizer, to_example, max_source_length, max_target_length)

    def encode(rows: dict[str, list]) -> dict[str, list]:
        examples = [to_example({k: rows[k][i] for k in rows}) for i in range(len(next(iter(rows.values()))))]
        encoded = {"src_ids": tokenizer.encode_source([e["source_text"] for e in examples])}
        if "target_text" in examples[0]:
            encoded["tgt_ids"] = tokenizer.encode_target([e["target_text"] for e in examples])
        return encoded

    def cache_file(suffix: str) -> str | None:
        if dataset.cache_files or cache_dir is None:
            return None
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        return str(Path(cache_dir) / f"{fingerprint}{suffix}.arrow")

    tokenized = dataset.map(
        encode, batched=True, remove_columns=dataset.column_names, new_fingerprint=fingerprint,
        cache_file_name=cache_file(""), desc="tokenizing",
    )
    if max_source_length or max_target_length:
        def short_enough(row: dict[str, Any]) -> bool:
            return (not max_source_length or len(row["src_ids"]) <= max_source_length) and (
                not max_target_length or len(row.get("tgt_ids", ())) + 1 <= max_target_length
            )
        tokenized = tokenized.filter(short_enough, new_fingerprint=fingerprint + "-f",
                                     cache_file_name=cache_file("-filtered"), desc="filtering")
    if len(tokenized) == 0:
        raise ValueError("no examples left after tokenizing and length filtering")
    return tokenized


def example_lengths(dataset: datasets.Dataset) -> list[int]:
    """Per-example cost used for bucketing: the longer of source and target."""
    src = [len(ids) for ids in dataset["src_ids"]]
    if "tgt_ids" not in dataset.column_names:
        return src
    return [max(s, len(t) + 1) for s, t in zip(src, dataset["tgt_ids"], strict=True)]


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
