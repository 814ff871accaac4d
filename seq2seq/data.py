"""From raw datasets to padded batches.

``sources.load_raw_dataset`` reads the dataset a config names; the task layer turns each row
into named raw inputs and a target text; ``prepare.prepare_dataset`` computes what can be computed once
(token ids, media checks) with a cached ``Dataset.map``; ``Examples`` adds the media each
processor loads per access (or features cached once: ``add_frame_features``); ``batching.py``
groups examples of similar length; ``Collator`` pads them into a ``Batch``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from seq2seq.preparation import (
    augmentation_generator,
    bucketing_cost,
    describe_input,
)
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# batches


@dataclass
class Batch:
    """Padded model inputs by name, and the target.

    inputs[name] = (values, mask): text ids (B, S), video frames (B, T, C, H, W) or features
    (B, T, F), each with a bool mask (B, S|T) True at real positions. tgt_in (bos + target) and
    tgt_out (target + eos): (B, T), pad 0.
    """

    inputs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    tgt_in: torch.Tensor | None = None
    tgt_out: torch.Tensor | None = None
    # (B, K) the sentences the answer rests on, in the order of reasoning (bAbI), -1 after the
    # last; positions in the memory the hops read. Only for supervising the hops.
    supporting_facts: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        moved = {name: (values.to(device), mask.to(device)) for name, (values, mask) in self.inputs.items()}
        return Batch(moved, *(None if t is None else t.to(device)
                              for t in (self.tgt_in, self.tgt_out, self.supporting_facts)))

    def __len__(self) -> int:
        if not self.inputs:  # a language model's batch is its text alone
            return self.tgt_in.size(0)
        return next(iter(self.inputs.values()))[1].size(0)

    @property
    def num_target_tokens(self) -> int:
        return 0 if self.tgt_out is None else int((self.tgt_out != PAD_ID).sum())


def _pad(sequences: list[list[int]], value: int = PAD_ID) -> torch.Tensor:
    longest = max(len(s) for s in sequences)
    padded = torch.full((len(sequences), longest), value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return padded


class Collator:
    """Examples (a dict per example: each input's processed value, optionally ``tgt_ids``) -> Batch.

    Each input is padded by its own processor."""

    def __init__(self, processors: dict[str, Any]):
        self.processors = processors

    def __call__(self, examples: list[dict[str, Any]]) -> Batch:
        inputs = {name: processor.collate([e[name] for e in examples]) for name, processor in self.processors.items()}
        if "tgt_ids" not in examples[0]:
            return Batch(inputs)
        # A block of a longer text (language modelling) ``continues``: it ends without eos, and
        # its tokens are predicted from bos and the tokens before them in the block.
        tgt_in = _pad([[BOS_ID, *e["tgt_ids"][:-1]] if e.get("continues") else [BOS_ID, *e["tgt_ids"]]
                       for e in examples])
        tgt_out = _pad([e["tgt_ids"] if e.get("continues") else [*e["tgt_ids"], EOS_ID] for e in examples])
        supporting = _pad([[-1, *e["supporting_facts"]] for e in examples], -1)[:, 1:] \
            if "supporting_facts" in examples[0] else None  # a leading -1: a batch without facts has width 0
        return Batch(inputs, tgt_in, tgt_out, supporting)


# ---------------------------------------------------------------------------------------------
# examples


class Examples(torch.utils.data.Dataset):
    """Model-ready examples: the prepared columns, plus media loaded and processed per access.

    ``train`` turns on each processor's augmentation, drawn from a generator seeded by (seed,
    epoch, row), so a resumed run sees the same augmented clips as an uninterrupted one.
    """

    def __init__(self, prepared: datasets.Dataset, processors: dict[str, Any], *, rows: datasets.Dataset | None = None,
                 to_example: Callable[[dict[str, Any]], dict[str, Any]] | None = None, train: bool = False,
                 seed: int = 0):
        self.prepared, self.processors, self.rows, self.to_example = prepared, processors, rows, to_example
        self.train, self.seed, self.epoch = train, seed, 0
        stored = set(prepared.column_names)
        # Media inputs are loaded per access, unless their features were cached (add_frame_features).
        self.media = [name for name, p in processors.items() if not p.cached and name not in stored]
        self.features = [name for name, p in processors.items() if not p.cached and name in stored]
        self.collate = Collator(processors)
        wanted = (*processors, "tgt_ids", "supporting_facts", "continues")
        self.columns = [c for c in wanted if c in stored and c not in self.features]
        # What a batch reads: only the columns it needs (not target_text), and cached features as
        # numpy arrays (converting nested Python lists would cost more than the model's step).
        # Cached audio spectra become features per access (augmented, in training).
        self.spectra = [name for name in self.features if hasattr(processors[name], "from_spectrum")]
        self.augmented = [name for name in self.spectra if train and processors[name].augments]
        self._columns_read = prepared.select_columns(self.columns + (["row"] if self.media or self.augmented else []))
        self._features_read = prepared.with_format("arrow", columns=self.features) if self.features else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.prepared)

    def select(self, indices) -> Examples:
        return self.replace(self.prepared.select(indices))

    def replace(self, prepared: datasets.Dataset) -> Examples:
        """The same examples over other prepared columns (a selection, or with cached features)."""
        return Examples(prepared, self.processors, rows=self.rows, to_example=self.to_example, train=self.train,
                        seed=self.seed)

    @property
    def references(self) -> list[str]:
        return self.prepared["target_text"]

    def lengths(self, *, targets: bool = True) -> list[int]:
        """Per-example cost used for bucketing: the longest text input (or target), in tokens
        (a sentence-level input: all its sentences' tokens).

        The rule is ``preparation.bucketing_cost``, as for streamed examples."""
        text_inputs = [name for name in self.columns if name in self.processors]
        if not text_inputs:
            return [1] * len(self)
        with_targets = targets and "tgt_ids" in self.columns
        # One columnar read: indexing a column row by row costs a table lookup per row (minutes on bAbI 10k).
        block = self.prepared.select_columns(text_inputs + (["tgt_ids"] if with_targets else []))[:]
        columns = [(block[name], self.processors[name].num_tokens) for name in text_inputs]
        target_ids = block["tgt_ids"] if with_targets else None
        return [bucketing_cost([size(values[i]) for values, size in columns],
                               len(target_ids[i]) if target_ids is not None else None) for i in range(len(self))]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        block = self._columns_read[indices]  # one columnar read for the whole batch
        examples = [{name: block[name][i] for name in self.columns} for i in range(len(indices))]
        if self._features_read is not None:
            table = self._features_read[indices]
            for name in self.features:
                for example, clip in zip(examples, _clips_from_arrow(table.column(name)), strict=True):
                    example[name] = clip
        if self.spectra:
            for position, example in enumerate(examples):
                generator = None
                if self.augmented:
                    generator = augmentation_generator(self.seed, self.epoch, block["row"][position], 1)
                for name in self.spectra:
                    example[name] = self.processors[name].from_spectrum(
                        example[name], train=name in self.augmented, generator=generator)
        if self.media:
            for example, row in zip(examples, block["row"], strict=True):
                raw = self.to_example(self.rows[row])
                generator = augmentation_generator(self.seed, self.epoch, row)
                for name in self.media:
                    example[name] = self.processors[name](raw[name], train=self.train, generator=generator,
                                                          name=describe_input(raw[name], name, row))
        return examples


# ---------------------------------------------------------------------------------------------
# cached features


def _clips_from_arrow(column) -> list[torch.Tensor]:
    """A column of clips, each a list of per-frame feature lists, as float tensors (T_i, F).

    Arrow's flat buffers are reshaped directly: 10x faster than going through Python lists."""
    clips = column.combine_chunks()
    frames = clips.flatten()  # every clip's frames, in order
    values = frames.flatten().to_numpy(zero_copy_only=False).astype(np.float32)  # a copy: writable
    values = values.reshape(len(frames), -1)  # (sum of T_i, F)
    lengths = clips.value_lengths().to_numpy(zero_copy_only=False)
    return [torch.from_numpy(part) for part in np.split(values, np.cumsum(lengths)[:-1])]


@torch.no_grad()
def add_frame_features(data: Examples, name: str, extract: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       extractor_fingerprint: str, *, batch_size: int = 32,
                       cache_dir: str | Path | None = None) -> Examples:
    """``data`` with the media input ``name`` replaced by per-frame features, computed once.

    ``extract`` maps frames (B, T, C, H, W) and their mask to features (B, T, F): a frozen CNN.
    Clips go through the processor's deterministic eval preset (cached features cannot be
    augmented). The result is a cached ``Dataset.map`` keyed by the prepared data and
    ``extractor_fingerprint`` (the CNN's weights), so an epoch neither decodes a video nor runs
    the CNN again, and a second run with the same CNN reads the features from the cache.
    """
    processor, prepared = data.processors[name], data.prepared
    fingerprint = hashlib.sha256(f"{prepared._fingerprint}-{name}-{extractor_fingerprint}".encode()).hexdigest()[:16]

    def featurize(rows: dict[str, list]) -> dict[str, list]:
        clips = []
        for row in rows["row"]:
            raw = data.to_example(data.rows[row])[name]
            clips.append(processor(raw, name=describe_input(raw, name, row)))
        values, mask = processor.collate(clips)
        features = extract(values, mask)
        return {name: [features[i, : len(clip)].numpy() for i, clip in enumerate(clips)]}  # float32

    cache_file = None
    if not prepared.cache_files and cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        cache_file = str(Path(cache_dir) / f"{fingerprint}-features.arrow")
    with_features = prepared.map(featurize, batched=True, batch_size=batch_size, new_fingerprint=fingerprint,
                                 cache_file_name=cache_file, desc=f"caching {name} features")
    return data.replace(with_features)
