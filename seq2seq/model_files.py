"""A trained model as a directory: writing it atomically, reading its description and weights.

``config.json`` holds the model's own arguments, its inputs, task, generation defaults and format
version; ``model.safetensors`` its weights; the tokenizer and processors write their own files
next to them. Reading needs no training code, no YAML and no pickle. Directories of format 1
(text only, before named inputs) are converted when read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file, save_model
from torch import nn

from seq2seq.quantization import is_quantized, load_quantized_state, quantized_state

FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_model_directory(model: nn.Module, description: dict[str, Any], directory: str | Path, *, tokenizer=None,
                         processors: dict | None = None) -> None:
    """Write the model directory atomically: a temporary directory renamed into place."""
    from seq2seq.processors import save_processors

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        description = {"format_version": FORMAT_VERSION, **description}
        if is_quantized(model):  # int8 values, scales and zero points (quantization.py)
            description["quantization"] = "int8"
            save_file(quantized_state(model), str(staging / WEIGHTS_FILE))
        else:
            description.pop("quantization", None)
            save_model(model, str(staging / WEIGHTS_FILE))
        (staging / CONFIG_FILE).write_text(json.dumps(description, indent=2, ensure_ascii=False))
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
        if processors is not None:
            save_processors(staging, processors)
        replace_directory(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_weights(model: nn.Module, directory: str | Path, config: dict[str, Any],
                 device: str | torch.device) -> None:
    """Fill ``model`` (built from ``config``, the directory's description) with its saved weights."""
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{directory} is not a complete model directory: {WEIGHTS_FILE} is missing")
    state = load_file(str(weights), device=str(device))
    if config.get("converted_from_format") == 1:  # format 1 named its only encoder by modality
        state = {key.replace("encoders.text.", "encoders.source.", 1): value for key, value in state.items()}
    # A weight shared by two modules (the text inputs' embedding) is stored once, under one
    # name: the others are filled in from the same tensor.
    aliases = {name: kept for kept, names in _shared_names(model).items() for name in names}
    if config.get("quantization"):
        load_quantized_state(model, state, aliases)
        return
    state.update({name: state[kept] for name, kept in aliases.items() if name not in state and kept in state})
    model.load_state_dict(state)


def read_model_config(directory: str | Path) -> dict[str, Any]:
    """A model directory's config.json, format 1 converted to the current format."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"model directory not found: {directory}")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a model directory: {CONFIG_FILE} is missing")
    config = json.loads(path.read_text(encoding="utf-8"))
    version = config.get("format_version")
    if version == 1 and isinstance(config.get("model"), dict) and "encoder" in config["model"]:
        # Format 1: one text encoder, configured under model.encoder, its input named "source".
        config["inputs"] = {"source": {"modality": "text", "encoder": config["model"].pop("encoder")}}
        config["format_version"], config["converted_from_format"] = FORMAT_VERSION, 1
    elif version != FORMAT_VERSION:
        raise ValueError(f"{path}: model format version {version!r} is not supported (this library reads format "
                         f"{FORMAT_VERSION}, and converts format 1); upgrade seq2seq to load it")
    for key in ("model", "inputs", "source_vocab_size", "target_vocab_size"):
        if key not in config:
            raise ValueError(f"{path}: missing key '{key}'")
    return config


def replace_directory(staging: Path, directory: Path) -> None:
    """``directory`` replaced by the finished ``staging`` one: the old is moved aside first, so a
    crash leaves one complete directory, never a half-written one."""
    if directory.exists():
        retired = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        directory.rename(retired)
        staging.rename(directory)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(directory)


def _shared_names(model: nn.Module) -> dict[str, list[str]]:
    """For each parameter reachable under several names: its first name -> the other names."""
    first: dict[int, str] = {}
    shared: dict[str, list[str]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in first:
            shared.setdefault(first[id(tensor)], []).append(name)
        else:
            first[id(tensor)] = name
    return shared
