"""Seq2SeqModel: encoders by modality feeding one attention RNN decoder.

A trained model is a directory: ``config.json`` (the model's own arguments, task, generation
defaults, format version), ``model.safetensors`` and the tokenizer files. ``from_pretrained``
needs nothing else: no training code, no YAML, no pickle.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors.torch import load_model, save_model
from torch import nn
from torch.nn import functional as F

from seq2seq.config import ModelConfig, config_from_dict, config_to_dict
from seq2seq.decoder import AttentionDecoder, DecoderState, Memory
from seq2seq.encoders import EncoderOutput, TextEncoder
from seq2seq.search import SearchOutput, beam_search, greedy_search, output_limits
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

# Which Batch fields each modality's encoder reads, in argument order.
ENCODER_INPUTS = {"text": ("src_ids", "src_mask")}


class Seq2SeqOutput(NamedTuple):
    """loss: mean over target tokens; loss_sum and num_tokens let callers normalise globally."""

    loss: torch.Tensor
    loss_sum: torch.Tensor
    num_tokens: torch.Tensor


def smoothed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Summed cross-entropy of logits (N, V) against targets (N,) with label smoothing.

    The target distribution puts ``1 - smoothing`` on the reference token and spreads
    ``smoothing`` uniformly over the tokens the decoder can emit: not pad or bos, which search
    never generates (``F.cross_entropy``'s smoothing would spread it over the whole vocabulary).
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (N,)
    emittable = log_probs.sum(dim=-1) - log_probs[:, PAD_ID] - log_probs[:, BOS_ID]
    uniform = -emittable / (log_probs.size(-1) - 2)
    return ((1.0 - smoothing) * nll + smoothing * uniform).sum()


# The keyword arguments of Seq2SeqModel.generate that a generation config or pipeline supplies.
SEARCH_SETTINGS = ("num_beams", "max_length", "max_length_a", "max_length_b", "length_penalty")


def check_generation_settings(*, num_beams: int, max_length: int, n_best: int = 1, max_length_a: float = 0.0,
                              max_length_b: int = 0) -> None:
    """Impossible settings are an error that names them, not a crash deep inside search."""
    if not isinstance(max_length_a, (int, float)) or max_length_a < 0:
        raise ValueError(f"max_length_a must be a number >= 0, got {max_length_a!r}")
    if not isinstance(max_length_b, int) or max_length_b < 0:
        raise ValueError(f"max_length_b must be a whole number >= 0, got {max_length_b!r}")
    if not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be a whole number >= 1 (1 is greedy search), got {num_beams!r}")
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a whole number >= 1, got {max_length!r}")
    if not isinstance(n_best, int) or not 1 <= n_best <= num_beams:
        raise ValueError(f"n_best must be between 1 and num_beams={num_beams}, got {n_best!r}")


class Seq2SeqModel(nn.Module):
    def __init__(
        self,
        *,
        encoders: dict[str, nn.Module],
        decoder: AttentionDecoder,
        memory_size: int,
        label_smoothing: float = 0.0,
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.decoder = decoder
        self.label_smoothing = label_smoothing
        # With several modalities their memories are concatenated along time; a learned
        # embedding tells the attention which modality a position came from.
        self.modality_embedding = nn.Embedding(len(encoders), memory_size) if len(encoders) > 1 else None
        self.config = config or {}

    # -- encoding ------------------------------------------------------------------------------

    def encode(self, batch) -> EncoderOutput:
        outputs = []
        for index, (modality, encoder) in enumerate(self.encoders.items()):
            output = encoder(*(getattr(batch, name) for name in ENCODER_INPUTS[modality]))
            if self.modality_embedding is not None:
                output = output._replace(states=output.states + self.modality_embedding.weight[index])
            outputs.append(output)
        if len(outputs) == 1:
            return outputs[0]
        return EncoderOutput(
            torch.cat([o.states for o in outputs], dim=1),
            torch.cat([o.mask for o in outputs], dim=1),
            torch.stack([o.final for o in outputs]).mean(dim=0),
        )

    def start(self, batch) -> tuple[DecoderState, Memory]:
        encoded = self.encode(batch)
        return self.decoder.init_state(encoded.final), self.decoder.prepare_memory(encoded)

    # -- training and scoring ------------------------------------------------------------------

    def forward(self, batch) -> Seq2SeqOutput:
        """Teacher-forced cross-entropy over the real (non-pad) target tokens."""
        state, memory = self.start(batch)
        att_vectors, _ = self.decoder(batch.tgt_in, state, memory)  # (B, T, H)
        target_mask = batch.tgt_out != PAD_ID
        # The output layer is the costliest product: run it on real positions only.
        logits = self.decoder.output_layer(att_vectors[target_mask])  # (N, V)
        targets = batch.tgt_out[target_mask]
        if self.label_smoothing:
            loss_sum = smoothed_cross_entropy(logits, targets, self.label_smoothing)
        else:
            loss_sum = F.cross_entropy(logits.float(), targets, reduction="sum")
        num_tokens = target_mask.sum()
        return Seq2SeqOutput(loss_sum / num_tokens.clamp(min=1), loss_sum, num_tokens)

    @torch.no_grad()
    def score(self, batch) -> torch.Tensor:
        """Log-probability (B,) of each ``tgt_out`` sequence given its source."""
        state, memory = self.start(batch)
        att_vectors, _ = self.decoder(batch.tgt_in, state, memory)
        log_probs = torch.log_softmax(self.decoder.output_layer(att_vectors).float(), dim=-1)
        token_log_probs = log_probs.gather(-1, batch.tgt_out.unsqueeze(-1)).squeeze(-1)  # (B, T)
        return token_log_probs.masked_fill(batch.tgt_out == PAD_ID, 0.0).sum(dim=1)

    # -- generation ----------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        batch,
        *,
        num_beams: int = 1,
        max_length: int = 100,
        max_length_a: float = 0.0,
        max_length_b: int = 0,
        length_penalty: float = 1.0,
        n_best: int = 1,
        return_attention: bool = True,
    ) -> SearchOutput:
        """Decode ``batch``: greedy for ``num_beams == 1``, else batched beam search.

        Each output is limited to ``min(max_length, a * S + b)`` tokens, S being its input's length
        in encoder positions (``search.output_limits``; ``a = b = 0``: ``max_length`` for all).
        Scores are log-probabilities divided by the length penalty, for both (see ``search.py``).
        ``return_attention=False`` spares beam search the attention histories (faster).
        """
        check_generation_settings(num_beams=num_beams, max_length=max_length, n_best=n_best,
                                  max_length_a=max_length_a, max_length_b=max_length_b)
        state, memory = self.start(batch)
        limits = output_limits(memory.mask.sum(dim=1), max_length=max_length, max_length_a=max_length_a,
                               max_length_b=max_length_b)
        ids = dict(bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID, max_length=limits, alpha=length_penalty)
        if num_beams == 1:
            return greedy_search(self.decoder, state, memory, **ids)
        return beam_search(
            self.decoder, state, memory, num_beams=num_beams, n_best=n_best, return_attention=return_attention,
            **ids,
        )

    # -- persistence ---------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path, *, tokenizer=None, extra: dict | None = None) -> None:
        """Write the model directory atomically: a temporary directory renamed into place."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            description = {"format_version": FORMAT_VERSION, **self.config, **(extra or {})}
            (staging / CONFIG_FILE).write_text(json.dumps(description, indent=2, ensure_ascii=False))
            save_model(self, str(staging / WEIGHTS_FILE))
            if tokenizer is not None:
                tokenizer.save_pretrained(staging)
            _replace_directory(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | torch.device = "cpu") -> Seq2SeqModel:
        directory = Path(directory)
        config = read_model_config(directory)
        weights = directory / WEIGHTS_FILE
        if not weights.is_file():
            raise FileNotFoundError(f"{directory} is not a complete model directory: {WEIGHTS_FILE} is missing")
        model = build_model(
            config_from_dict(config["model"], ModelConfig),
            source_vocab_size=config["source_vocab_size"],
            target_vocab_size=config["target_vocab_size"],
        )
        model.config = config
        load_model(model, str(weights), device=str(device))
        return model.to(device).eval()


def read_model_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"model directory not found: {directory}")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a model directory: {CONFIG_FILE} is missing")
    config = json.loads(path.read_text(encoding="utf-8"))
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {version!r} (this library reads {FORMAT_VERSION})")
    for key in ("model", "source_vocab_size", "target_vocab_size"):
        if key not in config:
            raise ValueError(f"{path}: missing key '{key}'")
    return config


def _replace_directory(staging: Path, directory: Path) -> None:
    if directory.exists():
        retired = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        directory.rename(retired)
        staging.rename(directory)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(directory)


def build_model(
    config: ModelConfig, *, source_vocab_size: int, target_vocab_size: int, label_smoothing: float = 0.0
) -> Seq2SeqModel:
    """The only place that reads a ModelConfig."""
    encoder_config, decoder_config = config.encoder, config.decoder
    encoder = TextEncoder(
        vocab_size=source_vocab_size,
        embedding_size=config.embedding_size,
        hidden_size=encoder_config.hidden_size,
        rnn_type=encoder_config.rnn_type,
        num_layers=encoder_config.num_layers,
        bidirectional=encoder_config.bidirectional,
        dropout=encoder_config.dropout,
        embedding_dropout=config.embedding_dropout,
        padding_idx=PAD_ID,
    )
    memory_size = encoder.output_size
    decoder = AttentionDecoder(
        vocab_size=target_vocab_size,
        embedding_size=config.embedding_size,
        hidden_size=decoder_config.hidden_size,
        memory_size=memory_size,
        rnn_type=decoder_config.rnn_type,
        num_layers=decoder_config.num_layers,
        attention=decoder_config.attention,
        attention_size=decoder_config.attention_size,
        input_feeding=decoder_config.input_feeding,
        dropout=decoder_config.dropout,
        embedding_dropout=config.embedding_dropout,
        padding_idx=PAD_ID,
        tie_embeddings=decoder_config.tie_embeddings,
    )
    description = {
        "model": config_to_dict(config),
        "source_vocab_size": source_vocab_size,
        "target_vocab_size": target_vocab_size,
    }
    return Seq2SeqModel(
        encoders={"text": encoder},
        decoder=decoder,
        memory_size=memory_size,
        label_smoothing=label_smoothing,
        config=description,
    )
