"""Strict dataclasses from nested dicts: the machinery under ``config.py``.

An unknown key or a value of the wrong type is a ``ConfigError`` that names the dotted key (with
a suggestion for a likely typo). Strings are converted where the field's declared type is clear,
so a command-line override ``training.learning_rate=1e-3`` (which PyYAML reads as a string)
becomes a float. A field may restrict its values with ``choice`` or ``at_least``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value is unknown, missing or of the wrong type."""


def choice(default: str | int, *options: str | int) -> Any:
    """A field that must be one of ``options`` (checked when the config is loaded)."""
    return field(default=default, metadata={"choices": options})


def at_least(default: int | float, minimum: int | float) -> Any:
    """A number field that must be ``>= minimum`` (checked when the config is loaded)."""
    return field(default=default, metadata={"minimum": minimum})


def did_you_mean(word: str, options: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest option, or ''."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# ---------------------------------------------------------------------------------------------
# one value against its declared type


def _coerce_container(value: Any, annotation: Any, key: str, moved: dict) -> Any:
    if typing.get_origin(annotation) is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return [coerce(item, item_type, f"{key}[{index}]", **moved) for index, item in enumerate(value)]
    key_type, value_type = typing.get_args(annotation)
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
    return {coerce(k, key_type, f"{key}.{k}"): coerce(v, value_type, f"{key}.{k}", **moved) for k, v in value.items()}


def _coerce_union(value: Any, annotation: Any, key: str, moved: dict) -> Any:
    errors = []
    for option in typing.get_args(annotation):
        if option is type(None) and value is None:
            return None
        try:
            return coerce(value, option, key, **moved)
        except ConfigError as error:
            errors.append(str(error))
    raise ConfigError("; ".join(errors))


def _coerce_number(value: Any, annotation: type, key: str) -> int | float:
    kinds = (int,) if annotation is int else (int, float)
    if isinstance(value, kinds) and not isinstance(value, bool):
        return annotation(value)
    if isinstance(value, str):
        try:
            return annotation(value)
        except ValueError:
            pass
    raise ConfigError(f"{key}: expected {'an integer' if annotation is int else 'a number'}, got {value!r}")


def _coerce_scalar(value: Any, annotation: Any, key: str) -> Any:
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if annotation in (int, float):
        return _coerce_number(value, annotation, key)
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        hint = " (YAML reads unquoted no/yes/off/on as booleans: quote the value)" if isinstance(value, bool) else ""
        raise ConfigError(f"{key}: expected a string, got {value!r}{hint}")
    raise ConfigError(f"{key}: unsupported field type {annotation!r}")


def coerce(value: Any, annotation: Any, key: str, **moved: dict) -> Any:
    """Check ``value`` against a field type, converting strings where the type is clear."""
    if annotation is Any:  # checked by whoever consumes it (a processor's own from_dict)
        return value
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return from_dict(annotation, value, key + ".", **moved)
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        return _coerce_container(value, annotation, key, moved)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, annotation, key, moved)
    return _coerce_scalar(value, annotation, key)


# ---------------------------------------------------------------------------------------------
# whole dataclasses


def _check_value(spec: dataclasses.Field, value: Any, key: str, moved_values: dict) -> None:
    options = spec.metadata.get("choices")
    if isinstance(value, str) and (key, value) in moved_values:
        raise ConfigError(f"{key}: {value!r} is now {moved_values[key, value]!r}")
    if options is not None and value not in options:
        shown = ", ".join(repr(o) if o == "" else str(o) for o in options)
        raise ConfigError(f"{key}: {value!r} is not one of {shown}{did_you_mean(str(value), map(str, options))}")
    minimum = spec.metadata.get("minimum")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {value!r}")


def from_dict(cls: type, values: dict[str, Any], prefix: str = "", *, moved_keys: dict | None = None,
              moved_values: dict | None = None) -> Any:
    """``cls`` (a dataclass, nested ones included) from nested dicts. ``moved_keys`` (dotted key
    -> where it went) and ``moved_values`` ((dotted key, old value) -> new value) tell an old
    config what to write instead."""
    moved_keys, moved_values = moved_keys or {}, moved_values or {}
    hints = typing.get_type_hints(cls)
    specs = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(specs))
    if unknown and prefix + unknown[0] in moved_keys:
        raise ConfigError(f"config key '{prefix}{unknown[0]}' is now {moved_keys[prefix + unknown[0]]}")
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'{did_you_mean(unknown[0], specs)} "
            f"(known keys in this section: {', '.join(sorted(specs))})"
        )
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = coerce(value, hints[name], prefix + name, moved_keys=moved_keys, moved_values=moved_values)
        _check_value(specs[name], kwargs[name], prefix + name, moved_values)
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------------
# dotted keys


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections as one mapping of dotted keys (``training.learning_rate``)."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def set_dotted(values: dict[str, Any], dotted_key: str, raw: str) -> None:
    """Apply one ``section.key=value`` override to nested dicts (before they become dataclasses)."""
    parts = dotted_key.split(".")
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted_key}: '{part}' is not a section")
    # YAML parsing gives lists/dicts/ints; type coercion later fixes the rest. Booleans stay text
    # ("no" is a valid mixed_precision), and bool fields accept true/false/yes/no text.
    value = yaml.safe_load(raw) if raw != "" else ""
    if parts[0] == "inputs" and len(parts) == 2 and value is None:
        # inputs.NAME=null drops an input: a fusion config trained on one of its inputs alone.
        if parts[1] not in node:
            raise ConfigError(f"{dotted_key}=null: there is no input {parts[1]!r} to drop "
                              f"(inputs: {', '.join(node) or 'none'})")
        del node[parts[1]]
        return
    node[parts[-1]] = raw if isinstance(value, bool) else value


def read_values(path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Nested dicts from a YAML file (or none) with ``section.key=value`` overrides applied."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        values = loaded or {}
    for override in overrides or []:
        if "=" not in override:
            raise ConfigError(f"override '{override}' must look like section.key=value")
        dotted_key, raw = override.split("=", 1)
        set_dotted(values, dotted_key.strip(), raw.strip())
    return values
