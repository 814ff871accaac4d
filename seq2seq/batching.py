"""Which examples go together: length-bucketed batches, and each process's share of an update."""

from __future__ import annotations

import random
from collections.abc import Iterator

from torch.utils.data import Sampler


def pool_size(batch_size: int, batch_type: str, pool_batches: int) -> int:
    """How many examples are sorted by length together: about ``pool_batches`` batches' worth."""
    return pool_batches * (batch_size if batch_type == "sentences" else max(1, batch_size // 20))


def split_evenly(batch: list, parts: int) -> list[list]:
    """``batch`` cut into ``parts`` contiguous pieces of near-equal size (each one non-empty; an
    empty batch gives no pieces)."""
    if not batch:
        return []
    if len(batch) < parts:
        raise ValueError(f"a batch of {len(batch)} examples cannot feed {parts} micro-batches")
    size, extra = divmod(len(batch), parts)
    bounds = [part * size + min(part, extra) for part in range(parts + 1)]
    return [batch[bounds[part] : bounds[part + 1]] for part in range(parts)]


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
        size = pool_size(self.batch_size, self.batch_type, self.pool_batches) if self.shuffle else len(order)
        # (evaluation: one global sort, the least padding)
        batches = []
        for start in range(0, len(order), max(size, 1)):
            pool = sorted(order[start : start + size], key=self.lengths.__getitem__)
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
            yield from split_evenly(batch, parts_per_batch)[first : first + self.micro_batches]

    def __len__(self) -> int:
        return (len(self.batches) - self.start_update) * self.micro_batches
