"""Reading a task's fields out of dataset rows through the config's column mapping.

``data.columns`` maps each field a task reads (its named inputs and ``target``) to a column path:
a plain column (``de``), a key of a nested column (``translation.de``), or an item of a list
(``answers.text[0]``). A name that is itself a column wins over the nested reading, so CSV headers
with dots still work. A ``ClassLabel`` column gives its label name, not the class number, and
None for -1 (the ``datasets`` convention for a row without a label).
"""

from __future__ import annotations

import re
from typing import Any

import datasets

from seq2seq.strict import ConfigError, did_you_mean

_SEGMENT = re.compile(r"([^\[\]]+)((?:\[-?\d+\])*)")


def parse_path(path: str) -> list[str | int]:
    """``answers.text[0]`` -> ``["answers", "text", 0]``; a malformed path is an error naming it."""
    parts: list[str | int] = []
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise ValueError(f"column path {path!r} is malformed (write column, column.key or column[0])")
        parts.append(match.group(1))
        parts += [int(index) for index in re.findall(r"\[(-?\d+)\]", match.group(2))]
    return parts


def _feature_at(features: Any, parts: list[str | int]) -> Any:
    """The ``datasets`` feature a path leads to, or None where the features do not say."""
    feature = features
    for part in parts:
        if isinstance(part, int):
            feature = getattr(feature, "feature", None) if not isinstance(feature, list) else feature[0]
        elif isinstance(feature, (dict, datasets.Features)):
            feature = feature.get(part)
        elif isinstance(getattr(feature, "feature", None), dict):  # a Sequence of dicts is a dict of lists
            inner = feature.feature.get(part)
            feature = None if inner is None else datasets.Sequence(inner)
        else:
            return None
        if feature is None:
            return None
    return feature


def _class_names(feature: Any) -> list[str] | None:
    if isinstance(feature, datasets.ClassLabel):
        return feature.names
    inner = getattr(feature, "feature", None)
    return inner.names if isinstance(inner, datasets.ClassLabel) else None


class ColumnReader:
    """``reader(row, "target")`` -> the value of the column mapped to ``target`` in that row.

    ``columns`` maps field -> column path; ``features`` (the dataset's, when known) turn
    ``ClassLabel`` numbers into names. A missing column or key is a ``KeyError`` naming the field,
    the path and what the row has.
    """

    def __init__(self, columns: dict[str, str], features: datasets.Features | None = None):
        self.columns = dict(columns)
        self.paths = {field: parse_path(path) for field, path in self.columns.items() if path}
        self.names = {}
        for field, path in self.columns.items():
            if path and features is not None:
                feature = features.get(path) if path in features else _feature_at(features, self.paths[field])
                self.names[field] = _class_names(feature)

    def has(self, row: dict[str, Any], field: str) -> bool:
        """Whether the row has the column ``field`` is mapped to (a test split may lack the target)."""
        path = self.columns.get(field)
        return bool(path) and (path in row or self.paths[field][0] in row)

    def __call__(self, row: dict[str, Any], field: str) -> Any:
        path = self.columns[field]
        if path in row:
            value = row[path]
        else:
            value = row
            for depth, part in enumerate(self.paths[field]):
                value = self._step(value, part, field, path, depth)
        names = self.names.get(field)
        if names is not None:
            value = [self._name(v, names, field) for v in value] if isinstance(value, list) else \
                self._name(value, names, field)
        return value

    def _name(self, number: Any, names: list[str], field: str) -> str | None:
        if number is None or number == -1:  # no label
            return None
        if not isinstance(number, int) or not 0 <= number < len(names):
            raise ValueError(f"{field} column '{self.columns[field]}': class number {number!r} is not one of the "
                             f"{len(names)} ClassLabel names (0-{len(names) - 1}, or -1 for no label)")
        return names[number]

    def text(self, row: dict[str, Any], field: str, *, optional: bool = False) -> str | None:
        """The value of ``field``, which must be text (a translation side, a transcript, an answer);
        ``optional``: None where the row has none (a target's empty cell, a ClassLabel's -1)."""
        value = self(row, field)
        return None if value is None and optional else text_value(value, field, self.columns[field])

    @staticmethod
    def _step(value: Any, part: str | int, field: str, path: str, depth: int) -> Any:
        where = f"{field} column '{path}'"
        if isinstance(part, int):
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"{where}: [{part}] needs a list, found {type(value).__name__}")
            if not -len(value) <= part < len(value):
                raise KeyError(f"{where}: the list has {len(value)} items, no [{part}]")
            return value[part]
        if not isinstance(value, dict):
            raise TypeError(f"{where}: .{part} needs a mapping, found {type(value).__name__}")
        if part not in value:
            available = ", ".join(sorted(map(str, value)))
            if depth == 0:
                raise KeyError(f"{where} not found in dataset row (available: {available})")
            raise KeyError(f"{where}: no key '{part}' (available: {available})")
        return value[part]


def text_value(value: Any, field: str, path: str) -> str:
    """A field that must hold text (a translation side, a transcript, an answer).

    A whole number is taken as its digits: CSV readers turn a column of digits ("42") into
    integers, and JSON writes them as numbers."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        raise TypeError(f"{field} column '{path}' holds a list of {len(value)} texts: pick one, e.g. '{path}[0]'")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"{field} column '{path}' must hold text, got {type(value).__name__}")
    return value


def resolve_columns(defaults: dict[str, str], configured: dict[str, str], task_name: str) -> dict[str, str]:
    """The task's default columns with the config's mapping applied; an unknown field is an error."""
    unknown = sorted(set(configured) - set(defaults))
    if unknown:
        raise ConfigError(f"data.columns: the {task_name} task reads no field {unknown[0]!r}"
                          f"{did_you_mean(unknown[0], defaults)} (its fields: {', '.join(defaults)})")
    return {**defaults, **configured}
