"""One split of a loaded dataset: in memory, capped by a seeded sample, or a stream."""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence

import datasets


def sample_indices(total: int, limit: int, *, seed: int = 0, strata: Sequence[Hashable] | None = None) -> list[int]:
    """``limit`` of ``range(total)``, drawn with ``seed`` across the whole range, in order.

    A cap must not take the head: folder datasets are sorted by class, so the first rows may
    hold only some classes. With ``strata`` (a key per row, e.g. its label) each key gets its
    share of the sample (largest remainders, ties drawn at random), so a capped classifier split
    keeps every class in proportion."""
    if not limit or limit >= total:
        return list(range(total))
    rng = random.Random(seed)
    if strata is None:
        return sorted(rng.sample(range(total), limit))
    groups: dict[Hashable, list[int]] = {}
    for index, key in enumerate(strata):
        groups.setdefault(key, []).append(index)
    quotas = {key: limit * len(members) / total for key, members in groups.items()}
    counts = {key: math.floor(quota) for key, quota in quotas.items()}
    by_remainder = sorted(groups, key=lambda key: (counts[key] - quotas[key], rng.random()))
    for key in by_remainder[: limit - sum(counts.values())]:
        counts[key] += 1
    return sorted(index for key, members in groups.items() for index in rng.sample(members, counts[key]))


def get_split(dataset: datasets.DatasetDict | datasets.IterableDatasetDict, split: str,
              limit: int = 0, *, seed: int = 0, label_column: str | None = None) -> datasets.Dataset:
    """One split, in memory, capped at ``limit`` rows by a seeded sample (``sample_indices``;
    stratified by ``label_column`` where the split has it). A stream's first ``limit`` rows are
    read into a ``Dataset`` (media stay undecoded files or bytes until an example needs them)."""
    if not isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict, dict)):
        raise TypeError(f"expected a dataset of named splits, got {type(dataset).__name__}")
    if split not in dataset:
        raise KeyError(f"split '{split}' not in dataset (available: {', '.join(dataset)})")
    selected = dataset[split]
    if isinstance(selected, datasets.IterableDataset):
        rows = selected.take(limit) if limit else selected
        features = selected.features
        rows = list(rows.decode(False) if features is not None else rows)
        if not rows:
            raise ValueError(f"split '{split}' is empty")
        return datasets.Dataset.from_list(rows, features=features)
    if len(selected) == 0:
        raise ValueError(f"split '{split}' is empty")
    if limit and len(selected) > limit:
        strata = None
        if label_column and label_column in selected.column_names:
            strata = [repr(value) for value in selected.select_columns([label_column])[label_column]]
        selected = selected.select(sample_indices(len(selected), limit, seed=seed, strata=strata))
    return selected


def get_stream(dataset: datasets.IterableDatasetDict, split: str) -> datasets.IterableDataset:
    if split not in dataset:
        raise KeyError(f"split '{split}' not in dataset (available: {', '.join(dataset)})")
    return dataset[split]
