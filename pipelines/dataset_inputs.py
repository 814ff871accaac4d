"""Running a pipeline over a Hugging Face dataset, batch by batch (transformers' KeyDataset pattern).

    from pipelines import KeyDataset, pipeline
    transcribe = pipeline("speech-recognition", model="runs/speech_recognition/model")
    for result in transcribe(KeyDataset(dataset, "audio")):  # or transcribe(dataset["audio"])
        print(result["text"])

A pipeline given a ``Dataset``, an ``IterableDataset``, one column of either, or a ``KeyDataset``
returns a generator with one result per row, computed ``batch_size`` rows at a time, so a dataset
larger than memory (a stream) works. Whole rows suit pipelines whose input is a dict (question
answering's ``{"question", "context"}``); the others take one column.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import datasets
from datasets.arrow_dataset import Column
from datasets.iterable_dataset import IterableColumn

from seq2seq.columns import ColumnReader, resolve_columns


class KeyDataset:
    """One column of a dataset (map-style or streamed), as a pipeline's input."""

    def __init__(self, dataset: datasets.Dataset | datasets.IterableDataset, key: str):
        names = dataset.column_names
        if names is not None and key not in names:
            raise KeyError(f"KeyDataset: column '{key}' not found (available: {', '.join(names)})")
        self.dataset, self.key = dataset, key

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index][self.key]

    def __iter__(self) -> Iterator[Any]:
        return (row[self.key] for row in self.dataset)


def mapped_rows(rows: Any, columns: dict[str, str], fields: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Each row as ``{field: value}``, read through the column mapping the model was trained with
    (``data.columns``, saved in its config.json: ``context`` from ``context_sentences``, say); a
    field whose mapped column a row lacks is read under its own name."""
    features = getattr(rows, "features", None)
    mapped = ColumnReader({field: columns.get(field) or field for field in fields}, features)
    plain = ColumnReader({field: field for field in fields}, features)
    for row in rows:
        if not isinstance(row, dict):  # not rows (one column): the pipeline says what it needs
            yield row
            continue
        yield {field: (mapped if mapped.has(row, field) else plain)(row, field) for field in fields
               if mapped.has(row, field) or plain.has(row, field)}


def is_dataset(value: Any) -> bool:
    return isinstance(value, (datasets.Dataset, datasets.IterableDataset, Column, IterableColumn, KeyDataset))


def results_per_row(call: Callable[..., list[Any]], inputs: Any, rows_per_batch: int, *, takes_rows: bool,
                    task: str, **options: Any) -> Iterator[Any]:
    """``call(list_of_items, **options)`` over ``inputs`` in batches, one result per item."""
    if not takes_rows and isinstance(inputs, (datasets.Dataset, datasets.IterableDataset)):
        raise TypeError(f"the {task} pipeline reads one column of a dataset: pass KeyDataset(dataset, 'column') "
                        f"or dataset['column']")
    for batch in chunks(inputs, rows_per_batch):
        yield from call(batch, **options)


def chunks(items: Any, size: int) -> Iterator[list[Any]]:
    """Lists of ``size`` consecutive items (the last may be shorter), read lazily from any iterable."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def input_and_target(task: Any, data_columns: dict[str, str], features: Any, *,
                     text: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``to_example`` for a task with one input (``task.inputs``' only name) and a text target: the
    row's input (its text, or the media value as stored) and, where the row has it, the target."""
    (name,) = [field for field in task.columns if field != "target"]
    read = ColumnReader(resolve_columns(task.columns, data_columns, task.name), features)

    def to_example(row: dict[str, Any]) -> dict[str, Any]:
        example = {name: read.text(row, name) if text else read(row, name)}
        if read.has(row, "target"):
            example["target_text"] = read.text(row, "target", optional=True)
        return example

    return to_example


def text_inputs(inputs: Any, *, what: str, item: str, allow_empty: bool = False) -> list[str]:
    """A string or a list of strings as a list, or an error naming the bad one: ``what`` names
    the input ("translation input"), ``item`` one of them ("sentence"); an empty string is an
    error unless ``allow_empty`` (a language model's prompt may be empty)."""
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"{what} must be a string or a list of strings, got {type(inputs).__name__}")
    if not texts:
        raise ValueError(f"{what} is empty: give at least one {item}")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what} {position} is {type(text).__name__}, not a string")
        if not allow_empty and not text.strip():
            raise ValueError(f"{what} {position} is an empty string")
    return list(texts)
