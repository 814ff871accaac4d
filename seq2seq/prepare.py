"""Map-style preparation: rows -> the columns that can be computed once, with a cached Dataset.map.

What a stream does per example as it reads (``streaming.py``), ``prepare_dataset`` does once for a
whole split, by the same rules (``preparation.py``): token ids, media checks and lengths, the
target, and the drops (unreadable, unlabelled, over a limit), each counted.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from seq2seq.cache_keys import preprocessing_fingerprint
from seq2seq.preparation import (
    DROP_REASONS,
    NO_LABEL,
    UNREADABLE,
    check_inputs_present,
    describe_input,
    drop_reason,
    media_seconds,
)
from seq2seq.tokenization import Tokenizer

logger = logging.getLogger(__name__)


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
        if "continues" in examples[0]:
            prepared["continues"] = [bool(e["continues"]) for e in examples]
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
