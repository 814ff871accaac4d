"""Reading the dataset a config names: generated corpora, plain parallel text, local files,
``load_from_disk`` directories and hub ids, as a ``DatasetDict`` of raw rows."""

from __future__ import annotations

import importlib
from pathlib import Path

import datasets

from seq2seq.config import DATA_KINDS, DataConfig
from seq2seq.synthetic import make_corpus


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


def _class_folders(config: DataConfig) -> datasets.DatasetDict:
    """``path/<split>/<class>/<file or frame folder>``: one row per clip, labelled by its folder
    (``folder_labels`` may give a class folder a readable label)."""
    root = Path(config.path)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    splits = {}
    for split in sorted(p for p in root.iterdir() if p.is_dir()):
        clips = sorted(clip for folder in split.iterdir() if folder.is_dir() for clip in folder.iterdir()
                       if not clip.name.startswith("."))
        if clips:
            labels = [config.folder_labels.get(clip.parent.name, clip.parent.name) for clip in clips]
            splits[split.name] = datasets.Dataset.from_dict({config.source_column: [str(c) for c in clips],
                                                             config.target_column: labels})
    if not splits:
        raise ValueError(f"{root} has no <split>/<class>/<clip> folders")
    return datasets.DatasetDict(splits)


# Generated corpora written as media files: data.path -> (module, function(directory, sizes, seed=)).
MEDIA_GENERATORS = {
    "actions": ("seq2seq.synthetic_video", "make_video_corpus"),
    "dtmf": ("seq2seq.synthetic_audio", "make_dtmf_corpus"),
    "audio_visual": ("seq2seq.synthetic_av", "make_audio_visual_corpus"),
}


def _generated_dir(config: DataConfig, name: str) -> Path:
    """Where a generated media corpus is written: data.generated_dir (default ~/.cache/seq2seq/generated)/name."""
    return Path(config.generated_dir or Path.home() / ".cache" / "seq2seq" / "generated") / name


def load_raw_dataset(config: DataConfig) -> datasets.DatasetDict:
    """Read the dataset the config names; every failure names the path, id or split."""
    if config.kind == "generated" and config.path in MEDIA_GENERATORS:
        module, function = MEDIA_GENERATORS[config.path]
        make = getattr(importlib.import_module(module), function)
        return make(_generated_dir(config, config.path), config.generated_sizes, seed=config.generated_seed)
    if config.kind == "generated" and config.path == "qa_world":
        from seq2seq.synthetic_qa import make_qa_corpus

        return make_qa_corpus(config.generated_sizes, seed=config.generated_seed)
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
    if config.kind == "class_folders":
        return _class_folders(config)
    if config.kind == "fsdd":
        from seq2seq.spoken_digits import read_fsdd

        return read_fsdd(config.path)
    if config.kind == "fsdd_connected":
        from seq2seq.spoken_digits import make_connected_digits

        return make_connected_digits(config.path, _generated_dir(config, "fsdd_connected"), config.generated_sizes,
                                     seed=config.generated_seed)
    if config.kind == "babi":
        from seq2seq.babi import read_babi

        return read_babi(config.path, tasks=config.babi_tasks)
    raise ValueError(f"data.kind must be one of {', '.join(DATA_KINDS)}; got {config.kind!r}")


def get_split(dataset: datasets.DatasetDict, split: str, limit: int = 0) -> datasets.Dataset:
    if split not in dataset:
        raise KeyError(f"split '{split}' not in dataset (available: {', '.join(dataset)})")
    selected = dataset[split]
    if len(selected) == 0:
        raise ValueError(f"split '{split}' is empty")
    if limit and len(selected) > limit:
        selected = selected.select(range(limit))
    return selected
