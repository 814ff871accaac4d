"""Continued training (incremental learning): a new run that starts from a saved model.

``training.init_from: DIR`` takes the saved model's weights, architecture, tokenizer and processors
(the config's own model, inputs and tokenizer sections give way, with a warning where they
differ) and trains on this run's data, so a deployed model keeps learning as new data arrives.

A classifier (a task that records its label set) continued on data with labels it was never
trained on is stopped with an error, unless ``training.allow_new_labels``: then the labels' new
words join the target vocabulary (``Tokenizer.with_target_words``; known ids keep their meaning),
the decoder's embedding and output layer grow by as many rows, and the saved model's label set
is the old labels and the new ones. ``data.replay_path`` / ``data.replay_fraction`` mix a share
of the old data into the new (rehearsal), the simplest guard against forgetting the old labels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate.logging import get_logger
from torch import nn

from seq2seq.config import Config, InputConfig, ModelConfig, config_from_dict, config_to_dict
from seq2seq.model_files import read_model_config
from seq2seq.tokenization import Tokenizer

logger = get_logger(__name__)  # logs on the main process only


def saved_description(init_from: str) -> dict[str, Any]:
    if not Path(init_from).is_dir():
        raise FileNotFoundError(f"training.init_from: model directory not found: {init_from}")
    return read_model_config(init_from)


def with_saved_architecture(config: Config) -> Config:
    """``config`` with the model and inputs of the model it continues (the weights fit no other)."""
    saved = saved_description(config.training.init_from)
    if saved.get("quantization"):
        raise ValueError(f"training.init_from: {config.training.init_from} holds an int8 model, which cannot "
                         "train: continue from the fp32 model it was made from")
    if saved.get("task", "translation") != config.task:
        raise ValueError(f"training.init_from: {config.training.init_from} holds a '{saved.get('task')}' model; "
                         f"this run's task is '{config.task}'")
    model = config_from_dict(saved["model"], ModelConfig)
    inputs = {name: config_from_dict(values, InputConfig) for name, values in saved["inputs"].items()}
    for spec in inputs.values():
        spec.encoder.cnn_weights = ""  # the CNN's trained weights come with the model
    pairs = (("model", config.model, model), ("inputs", config.inputs, inputs))
    differing = [section for section, ours, theirs in pairs if _as_dict(ours) != _as_dict(theirs)]
    if differing:
        logger.warning("training.init_from: the config's %s section(s) differ from the saved model's; the saved "
                       "model's are used", " and ".join(differing))
    return dataclasses.replace(config, model=model, inputs=inputs)


def _as_dict(section: Any) -> dict[str, Any]:
    if isinstance(section, dict):
        return {name: config_to_dict(value) for name, value in section.items()}
    return config_to_dict(section)


def continued_tokenizer(config: Config, task, targets: list[str]) -> Tokenizer:
    """The saved model's tokenizer; for a classifier with ``allow_new_labels``, grown to spell
    the new labels. New labels without it are an error naming them."""
    init_from = config.training.init_from
    tokenizer = Tokenizer.from_pretrained(init_from)
    if not hasattr(task, "describe"):
        return tokenizer
    known = set(saved_description(init_from).get("labels", []))
    new = sorted(set(targets) - known)
    if not new:
        return tokenizer
    if not config.training.allow_new_labels:
        shown = ", ".join(repr(label) for label in new[:5]) + (" ..." if len(new) > 5 else "")
        raise ValueError(f"the training data has {len(new)} label(s) the model in {init_from} was not trained on "
                         f"({shown}); set training.allow_new_labels: true to learn them")
    if tokenizer.joint and any(spec.modality == "text" for spec in config.inputs.values()):
        raise ValueError("new labels need new target tokens, but this model's vocabulary is shared with its text "
                         "inputs (tokenizer.joint): it cannot grow")
    return tokenizer.with_target_words(new)


def saved_labels(config: Config) -> list[str]:
    return list(saved_description(config.training.init_from).get("labels", []))


def continued_model(init_from: str, tokenizer: Tokenizer):
    """The saved model in training mode, its target vocabulary grown to the tokenizer's."""
    from seq2seq.model import Seq2SeqModel

    model = Seq2SeqModel.from_pretrained(init_from)
    grow_target_vocabulary(model, tokenizer.target_vocab_size)
    if tokenizer.joint:
        model.config["source_vocab_size"] = tokenizer.source_vocab_size
    return model.train()


def _grown_rows(weight: torch.Tensor, size: int) -> torch.Tensor:
    """``weight`` (V, ...) with rows up to ``size``; a new row starts at the mean of the old ones
    (a new token starts as likely as an average one, not at random)."""
    extra = weight.mean(dim=0, keepdim=True).expand(size - weight.size(0), *weight.shape[1:])
    return torch.cat([weight, extra])


def grow_target_vocabulary(model, size: int) -> None:
    decoder = model.decoder
    old = decoder.embedding.num_embeddings
    if size == old:
        return
    if size < old:
        raise ValueError(f"a target vocabulary of {size} tokens cannot replace the model's {old}")
    tied = decoder.output_layer.weight is decoder.embedding.weight
    with torch.no_grad():
        embedding = nn.Embedding(size, decoder.embedding.embedding_dim, padding_idx=decoder.embedding.padding_idx)
        embedding.weight.copy_(_grown_rows(decoder.embedding.weight, size))
        decoder.embedding = embedding
        for owner, name in ((decoder, "output_layer"), (model, "ctc_layer")):
            layer = getattr(owner, name)
            if layer is None:
                continue
            grown = nn.Linear(layer.in_features, size)
            grown.weight.copy_(_grown_rows(layer.weight, size))
            grown.bias.copy_(_grown_rows(layer.bias, size))
            setattr(owner, name, grown)
    if tied:
        decoder.output_layer.weight = decoder.embedding.weight
    model.config["target_vocab_size"] = size
    logger.info("target vocabulary grown from %d to %d tokens", old, size)


def mix_replay(rows: datasets.Dataset, config: Config, task, read_split) -> datasets.Dataset:
    """``rows`` and a seeded sample of ``data.replay_path``'s training split, ``replay_fraction``
    times as many rows (at most all of it), shuffled in among them by the training sampler."""
    dc = config.data
    old = read_split(dataclasses.replace(dc, path=dc.replay_path, replay_path="", replay_fraction=0.0))
    count = min(len(old), round(dc.replay_fraction * len(rows)))
    picked = old.shuffle(seed=config.training.seed).select(range(count))
    if picked.features != rows.features:
        try:
            picked = picked.cast(rows.features)
        except (ValueError, TypeError) as error:
            raise ValueError(f"data.replay_path {dc.replay_path}: its columns do not match the training data's "
                             f"({error})") from None
    logger.info("replaying %d rows of %s among %d new ones", count, dc.replay_path, len(rows))
    return datasets.concatenate_datasets([rows, picked])
