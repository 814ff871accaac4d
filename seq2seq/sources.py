"""Reading the dataset a config names, as a ``DatasetDict`` of raw rows (an
``IterableDatasetDict`` with ``data.streaming``).

``data.kind: huggingface`` reads whatever ``datasets`` reads (a hub id, a local dataset folder, a
builder such as ``csv`` or ``audiofolder`` with its files, a ``save_to_disk`` directory); the
other kinds are corpora the project generates or formats it reads itself. A hub id that cannot
be reached (offline, ``HF_DATASETS_OFFLINE=1``) is an error that shows the config for local files.
"""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

import datasets

from seq2seq.config import DATA_KINDS, DataConfig
from seq2seq.series import GENERATED_SERIES, generated_series, statsmodels_series
from seq2seq.synthetic import make_corpus, make_text_corpus
from seq2seq.text_files import read_lines


def _parallel_text(config: DataConfig) -> datasets.DatasetDict:
    if not config.source_files:
        raise ValueError("data.kind=parallel_text needs data.source_files: {split: path}")
    splits = {}
    for split, source_path in config.source_files.items():
        if split not in config.target_files:
            raise ValueError(f"data.target_files has no entry for split '{split}'")
        sources, targets = read_lines(source_path, "data file"), read_lines(config.target_files[split], "data file")
        if len(sources) != len(targets):
            raise ValueError(
                f"{source_path} has {len(sources)} lines but {config.target_files[split]} has "
                f"{len(targets)}: parallel files must be line-aligned"
            )
        # Named as the columns the translation task reads, whatever data.columns maps them to.
        splits[split] = datasets.Dataset.from_dict({config.columns.get("source", "source"): sources,
                                                    config.columns.get("target", "target"): targets})
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
            columns = (config.columns.get("video", "video"), config.columns.get("target", "label"))
            rows = dict(zip(columns, ([str(c) for c in clips], labels), strict=True))
            if config.metadata_file:
                rows |= _clip_metadata(root, config.metadata_file, clips, reserved=columns)
            splits[split.name] = datasets.Dataset.from_dict(rows)
    if not splits:
        raise ValueError(f"{root} has no <split>/<class>/<clip> folders")
    return datasets.DatasetDict(splits)


def _clip_metadata(root: Path, name: str, clips: list[Path], *, reserved: tuple[str, ...]) -> dict[str, list[str]]:
    """The metadata file's columns (all but ``path``) for ``clips``, in their order."""
    path = root / name
    if not path.is_file():
        raise FileNotFoundError(f"data.metadata_file not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))
    if not table or "path" not in table[0]:
        raise ValueError(f"{path} needs a header with a 'path' column (each clip's path under {root})")
    clashes = sorted(set(table[0]) & set(reserved))
    if clashes:
        raise ValueError(f"{path}: column(s) {', '.join(clashes)} would replace the clips' own columns; rename them")
    by_path = {row["path"]: row for row in table}
    relative = [clip.relative_to(root).as_posix() for clip in clips]
    missing = [clip for clip in relative if clip not in by_path]
    if missing:
        raise ValueError(f"{path} has no row for {len(missing)} clip(s), e.g. {missing[0]}")
    columns = [column for column in table[0] if column != "path"]
    return {column: [by_path[clip][column] for clip in relative] for column in columns}


def _pooled(dataset: datasets.DatasetDict | datasets.IterableDatasetDict, config: DataConfig) -> datasets.Dataset:
    """The training and validation splits as one ``Dataset``, checked for ``group_column``."""
    if isinstance(dataset, datasets.IterableDatasetDict):
        raise ValueError("data.valid_groups re-splits the data in memory: it does not work with streamed data "
                         "(data.streaming or an iterable dataset)")
    if not config.group_column:
        raise ValueError("data.valid_groups needs data.group_column: the column that names each row's group")
    parts = [dataset[split] for split in dict.fromkeys((config.train_split, config.valid_split)) if split in dataset]
    if not parts:
        raise KeyError(f"neither split '{config.train_split}' nor '{config.valid_split}' is in the dataset "
                       f"(available: {', '.join(dataset)})")
    pooled = datasets.concatenate_datasets(parts)
    if config.group_column not in pooled.column_names:
        raise KeyError(f"data.group_column '{config.group_column}' is not a dataset column "
                       f"(available: {', '.join(pooled.column_names)})")
    return pooled


def hold_out_groups(dataset: datasets.DatasetDict | datasets.IterableDatasetDict,
                    config: DataConfig) -> datasets.DatasetDict:
    """Pool the training and validation splits and split them again by group: rows whose
    ``group_column`` value is in ``valid_groups`` validate, the others train. A person (or
    speaker) is then never in both, and each fold of a cross-validation holds out other ones."""
    pooled = _pooled(dataset, config)
    groups = [str(value) for value in pooled[config.group_column]]
    unknown = sorted(set(config.valid_groups) - set(groups))
    if unknown:
        raise ValueError(f"data.valid_groups: no row has {config.group_column} = {', '.join(unknown)} "
                         f"(groups: {', '.join(sorted(set(groups)))})")
    held_out = set(config.valid_groups)
    if held_out >= set(groups):
        raise ValueError(f"data.valid_groups holds out every {config.group_column}: nothing is left to train on")
    split = datasets.DatasetDict(dataset)
    split[config.train_split] = pooled.select([i for i, group in enumerate(groups) if group not in held_out])
    split[config.valid_split] = pooled.select([i for i, group in enumerate(groups) if group in held_out])
    return split


def group_names(config: DataConfig) -> list[str]:
    """The groups (``group_column`` values) of the training and validation splits together, sorted."""
    return sorted({str(value) for value in _pooled(_load(config), config)[config.group_column]})


# Generated corpora written as media files: data.path -> (module, function(directory, sizes, seed=)).
MEDIA_GENERATORS = {
    "actions": ("seq2seq.synthetic_video", "make_video_corpus"),
    "dtmf": ("seq2seq.synthetic_audio", "make_dtmf_corpus"),
    "audio_visual": ("seq2seq.synthetic_av", "make_audio_visual_corpus"),
}


def _generated_dir(config: DataConfig, name: str) -> Path:
    """Where a generated media corpus is written: data.generated_dir (default ~/.cache/seq2seq/generated)/name."""
    return Path(config.generated_dir or Path.home() / ".cache" / "seq2seq" / "generated") / name


# Builders of `datasets` that read local files (data_files or data_dir).
FILE_BUILDERS = ("csv", "json", "parquet", "text", "arrow", "audiofolder", "videofolder", "imagefolder", "webdataset")


class DatasetUnreachableError(ConnectionError, ValueError):
    """A hub dataset that cannot be reached (offline, or no network); a user error, not a crash."""


def _saved_to_disk(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file())


def _check_local_files(config: DataConfig) -> None:
    if not config.data_files and not config.data_dir:
        raise ValueError(f"data.path={config.path} reads local files: give data.data_files ({{train: file, "
                         f"validation: file}}) or data.data_dir")
    if config.data_dir and not Path(config.data_dir).is_dir():
        raise FileNotFoundError(f"data.data_dir not found: {config.data_dir}")
    for split, files in config.data_files.items():
        for file in [files] if isinstance(files, str) else files:
            if not any(character in file for character in "*?[") and not Path(file).is_file():
                raise FileNotFoundError(f"data file for split '{split}' not found: {file}")


def _huggingface(config: DataConfig) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """``load_from_disk`` for a saved directory, else ``load_dataset`` (a builder, a local folder, a hub id)."""
    path = Path(config.path)
    if _saved_to_disk(path):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.Dataset):
            raise ValueError(f"{path} holds a single Dataset; save a DatasetDict with splits: "
                             f"DatasetDict({{'train': ..., 'validation': ...}}).save_to_disk(...)")
        return loaded
    if config.path in FILE_BUILDERS:
        _check_local_files(config)
    elif not path.exists() and (path.is_absolute() or config.path.startswith(".") or config.path.count("/") > 1):
        raise FileNotFoundError(f"dataset folder not found: {config.path}")
    try:
        return datasets.load_dataset(config.path, config.config_name or None, data_dir=config.data_dir or None,
                                     data_files=config.data_files or None, streaming=config.streaming)
    except ConnectionError as error:
        if path.exists():
            raise
        offline = " (offline mode: HF_DATASETS_OFFLINE or HF_HUB_OFFLINE is set)" if datasets.config.HF_HUB_OFFLINE \
            else ""
        raise DatasetUnreachableError(
            f"cannot reach dataset '{config.path}' on the Hugging Face Hub{offline}, and no local folder has that "
            f"name. Without a network, use local files: data: {{kind: huggingface, path: json, data_files: {{train: "
            f"train.jsonl, validation: valid.jsonl}}}} (or csv, parquet, a save_to_disk directory, an "
            f"audiofolder/videofolder folder)"
        ) from error


def load_raw_dataset(config: DataConfig) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Read the dataset the config names; every failure names the path, id or split. With
    ``data.streaming`` the splits are ``IterableDataset``s, whatever their source."""
    loaded = _load(config)
    if config.valid_groups:
        loaded = hold_out_groups(loaded, config)
    if config.streaming and isinstance(loaded, datasets.DatasetDict):
        # In-memory or on-disk data streams in shards, so that shuffling mixes shard order too.
        loaded = datasets.IterableDatasetDict({split: part.to_iterable_dataset(num_shards=max(1, min(len(part), 64)))
                                               for split, part in loaded.items()})
    return loaded


def _load(config: DataConfig) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    if config.kind == "huggingface":
        return _huggingface(config)
    if config.kind == "generated" and config.path in MEDIA_GENERATORS:
        module, function = MEDIA_GENERATORS[config.path]
        make = getattr(importlib.import_module(module), function)
        return make(_generated_dir(config, config.path), config.generated_sizes, seed=config.generated_seed)
    if config.kind == "generated" and config.path == "qa_world":
        from seq2seq.synthetic_qa import make_qa_corpus

        return make_qa_corpus(config.generated_sizes, seed=config.generated_seed)
    if config.kind == "generated" and config.path in GENERATED_SERIES:
        return generated_series(config.path, config.generated_sizes.get("train", 600), config.generated_seed)
    if config.kind == "statsmodels":
        return statsmodels_series(config.path)
    if config.kind == "generated" and config.path == "counting":
        return make_text_corpus(config.path, config.generated_sizes, config.generated_seed)
    if config.kind == "generated":
        return make_corpus(config.path, config.generated_sizes, config.generated_seed)
    if config.kind == "parallel_text":
        return _parallel_text(config)
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

        return read_babi(config.path, tasks=config.babi_tasks, valid_fraction=config.babi_valid_fraction)
    if config.kind == "text_file":
        from seq2seq.text_blocks import read_text_file

        return read_text_file(config.path, valid_fraction=config.valid_fraction)
    raise ValueError(f"data.kind must be one of {', '.join(DATA_KINDS)}; got {config.kind!r}")
