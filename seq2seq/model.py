"""Seq2SeqModel: one encoder per named input (text, video) feeding one attention RNN decoder.

A trained model is a directory: ``config.json`` (the model's own arguments, its inputs, task,
generation defaults, format version), ``model.safetensors``, the tokenizer files and
``processor_config.json``. ``from_pretrained`` needs nothing else: no training code, no YAML, no
pickle. Directories of format 1 (text only, before named inputs) are converted when read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors.torch import load_file, save_model
from torch import nn
from torch.nn import functional as F

from seq2seq.config import InputConfig, ModelConfig, config_from_dict, config_to_dict
from seq2seq.decoder import AttentionDecoder, DecoderState, Memory
from seq2seq.encoders import AudioEncoder, EncoderOutput, SentenceEncoder, TextEncoder, VideoEncoder
from seq2seq.hops import READERS, HopsOutput
from seq2seq.search import SearchOutput, beam_search, greedy_search, output_limits
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID

FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


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


def _check_reader_settings(*, hops: int, reader: str, decoder_memory: str, hop_supervision: float) -> None:
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r} (choose {', '.join(READERS)})")
    if decoder_memory not in ("inputs", "reader"):
        raise ValueError(f"decoder_memory must be 'inputs' or 'reader', got {decoder_memory!r}")
    if decoder_memory == "reader" and not hops:
        raise ValueError("decoder_memory 'reader' needs hops >= 1 (the reader's output is the memory)")
    if hop_supervision and not hops:
        raise ValueError("hop_supervision needs hops >= 1 (it is a loss on what the hops read)")


class Seq2SeqModel(nn.Module):
    def __init__(
        self,
        *,
        encoders: dict[str, nn.Module],
        decoder: AttentionDecoder,
        memory_size: int,
        label_smoothing: float = 0.0,
        ctc_weight: float = 0.0,
        target_vocab_size: int = 0,
        query_input: str = "",
        hops: int = 0,
        reader: str = "attention",
        decoder_memory: str = "inputs",
        hop_supervision: float = 0.0,
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.decoder = decoder
        self.label_smoothing = label_smoothing
        if not 0.0 <= ctc_weight < 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1), got {ctc_weight}")
        if ctc_weight and len(encoders) > 1:
            raise ValueError("ctc_weight needs a model with one input (CTC aligns the target to one memory)")
        # Joint CTC-attention training (Kim et al., 2017): an auxiliary CTC loss on the encoder
        # states, blank = the padding id, used in training only. It teaches the encoder what and
        # where the target's tokens are, so the attention finds its monotonic alignment early.
        self.ctc_weight = ctc_weight
        self.ctc_layer = nn.Linear(memory_size, target_vocab_size) if ctc_weight else None
        # Every input's memory has the decoder's memory size: encoders of another size are projected.
        self.projections = nn.ModuleDict({name: nn.Linear(encoder.output_size, memory_size)
                                          for name, encoder in encoders.items() if encoder.output_size != memory_size})
        # With several inputs their memories are concatenated along time; a learned embedding
        # tells the attention which input a position came from.
        self.input_embedding = nn.Embedding(len(encoders), memory_size) if len(encoders) > 1 else None
        if query_input and query_input not in encoders:
            raise ValueError(f"query_input {query_input!r} is not one of the model's inputs ({', '.join(encoders)})")
        if hops and not query_input and len(encoders) > 1:
            raise ValueError("hops over several inputs need a query_input (the input that asks)")
        self.query_input = query_input
        _check_reader_settings(hops=hops, reader=reader, decoder_memory=decoder_memory,
                               hop_supervision=hop_supervision)
        self.reader = READERS[reader](size=memory_size, hops=hops) if hops else None
        self.decoder_memory = decoder_memory
        # Strong supervision (Weston et al., 2015): an auxiliary loss pulling the hops' reading
        # weights toward the supporting facts, in training only, when the batch has them.
        self.hop_supervision = hop_supervision
        self.config = config or {}

    # -- encoding ------------------------------------------------------------------------------

    def encode(self, batch) -> EncoderOutput:
        """Each input through its own encoder; several memories are joined along time. With hops,
        the reader's final query starts the decoder (and with ``decoder_memory="reader"`` the
        queries after each hop are all the decoder attends over)."""
        return self._encode(batch)[0]

    def _encode(self, batch) -> tuple[EncoderOutput, HopsOutput | None]:
        outputs = self._encode_inputs(batch)
        final, read = self._query(outputs)
        hops = None
        if self.reader is not None:
            hops = self.read(final, read)
            final = hops.final
            if self.decoder_memory == "reader":
                mask = torch.ones_like(hops.queries[..., 0], dtype=torch.bool)
                return EncoderOutput(hops.queries, mask, final), hops
        if len(outputs) == 1:
            return outputs[0]._replace(final=final), hops
        return _join(outputs)._replace(final=final), hops

    def _encode_inputs(self, batch) -> list[EncoderOutput]:
        outputs = []
        for index, (name, encoder) in enumerate(self.encoders.items()):
            if name not in batch.inputs:
                raise KeyError(f"the batch has no input {name!r} (it has {', '.join(batch.inputs)})")
            output = encoder(*batch.inputs[name])
            if name in self.projections:
                project = self.projections[name]
                output = EncoderOutput(project(output.states) * output.mask.unsqueeze(-1), output.mask,
                                       project(output.final))
            if self.input_embedding is not None:
                output = output._replace(states=output.states + self.input_embedding.weight[index])
            outputs.append(output)
        return outputs

    def _query(self, outputs: list[EncoderOutput]) -> tuple[torch.Tensor, list[EncoderOutput]]:
        """The summary that starts the decoder (or the hops), and the inputs the hops read."""
        names = list(self.encoders)
        if self.query_input:
            final = outputs[names.index(self.query_input)].final
            return final, [o for name, o in zip(names, outputs, strict=True) if name != self.query_input] or outputs
        if len(outputs) == 1:
            return outputs[0].final, outputs
        return torch.stack([o.final for o in outputs]).mean(dim=0), outputs

    def read(self, query: torch.Tensor, outputs: list[EncoderOutput]) -> HopsOutput:
        """The reader's hops over the memory of ``outputs`` (joined along time), from ``query``."""
        memory = _join(outputs)
        return self.reader(query, memory.states, memory.mask)

    @torch.no_grad()
    def hop_weights(self, batch) -> torch.Tensor:
        """How much each hop read each position (B, hops, S) of the memory it reads: the inputs
        other than the query input, joined along time."""
        if self.reader is None:
            raise ValueError("this model has no hops (model.hops is 0)")
        final, read = self._query(self._encode_inputs(batch))
        return self.read(final, read).weights

    def start(self, batch) -> tuple[DecoderState, Memory]:
        encoded = self.encode(batch)
        return self.decoder.init_state(encoded.final), self.decoder.prepare_memory(encoded)

    # -- training and scoring ------------------------------------------------------------------

    def forward(self, batch) -> Seq2SeqOutput:
        """Teacher-forced cross-entropy over the real (non-pad) target tokens (in training, mixed
        with the CTC loss when ``ctc_weight`` > 0, and plus the hops' loss against the supporting
        facts when ``hop_supervision`` > 0 and the batch has them)."""
        encoded, hops = self._encode(batch)
        state, memory = self.decoder.init_state(encoded.final), self.decoder.prepare_memory(encoded)
        att_vectors, _ = self.decoder(batch.tgt_in, state, memory)  # (B, T, H)
        target_mask = batch.tgt_out != PAD_ID
        # The output layer is the costliest product: run it on real positions only.
        logits = self.decoder.output_layer(att_vectors[target_mask])  # (N, V)
        targets = batch.tgt_out[target_mask]
        if self.label_smoothing:
            loss_sum = smoothed_cross_entropy(logits, targets, self.label_smoothing)
        else:
            loss_sum = F.cross_entropy(logits.float(), targets, reduction="sum")
        if self.ctc_layer is not None and self.training:
            loss_sum = (1 - self.ctc_weight) * loss_sum + self.ctc_weight * self._ctc_loss_sum(memory, batch)
        if self.hop_supervision and self.training and batch.supporting_facts is not None:
            loss_sum = loss_sum + self.hop_supervision * self.reader.fact_loss(hops.weights, batch.supporting_facts)
        num_tokens = target_mask.sum()
        return Seq2SeqOutput(loss_sum / num_tokens.clamp(min=1), loss_sum, num_tokens)

    def _ctc_loss_sum(self, memory: Memory, batch) -> torch.Tensor:
        """CTC negative log-likelihood of the target tokens (no bos/eos) over the encoder states,
        summed over the batch."""
        log_probs = F.log_softmax(self.ctc_layer(memory.states).float(), dim=-1).transpose(0, 1)  # (S, B, V)
        targets = batch.tgt_in[:, 1:]  # tokens, then padding
        target_lengths = (batch.tgt_out != PAD_ID).sum(dim=1) - 1
        # zero_infinity: a target longer than its subsampled input has no alignment; skip it, not NaN.
        return F.ctc_loss(log_probs, targets, memory.mask.sum(dim=1), target_lengths, blank=PAD_ID,
                          reduction="sum", zero_infinity=True)

    @torch.no_grad()
    def score(self, batch) -> torch.Tensor:
        """Log-probability (B,) of each ``tgt_out`` sequence given its source."""
        state, memory = self.start(batch)
        att_vectors, _ = self.decoder(batch.tgt_in, state, memory)
        log_probs = torch.log_softmax(self.decoder.output_layer(att_vectors).float(), dim=-1)
        token_log_probs = log_probs.gather(-1, batch.tgt_out.unsqueeze(-1)).squeeze(-1)  # (B, T)
        return token_log_probs.masked_fill(batch.tgt_out == PAD_ID, 0.0).sum(dim=1)

    @torch.no_grad()
    def score_candidates(self, batch, candidates: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability (B, C) of every candidate output (bare ids, eos added) for every input.

        The inputs are encoded once and the B x C teacher-forced decodes run as one batch: this is
        how a classifier over a fixed label set scores all its labels. Also returns the attention
        (B, C, T, S) of each candidate's decode over the memory, T = the longest candidate + 1.
        """
        if not candidates or any(not ids for ids in candidates):
            raise ValueError("score_candidates needs at least one candidate, and no empty one")
        encoded = self.encode(batch)
        num_inputs, num_candidates = encoded.states.size(0), len(candidates)
        longest = max(map(len, candidates)) + 1
        tgt_in = torch.full((num_candidates, longest), PAD_ID, dtype=torch.long, device=encoded.states.device)
        tgt_out = tgt_in.clone()
        for row, ids in enumerate(candidates):
            tgt_in[row, : len(ids) + 1] = torch.tensor([BOS_ID, *ids])
            tgt_out[row, : len(ids) + 1] = torch.tensor([*ids, EOS_ID])
        tgt_in, tgt_out = tgt_in.repeat(num_inputs, 1), tgt_out.repeat(num_inputs, 1)  # (B*C, T), input-major
        expanded = EncoderOutput(*(t.repeat_interleave(num_candidates, dim=0) for t in encoded[:3]), encoded.segments)
        state, memory = self.decoder.init_state(expanded.final), self.decoder.prepare_memory(expanded)
        att_vectors, attention = self.decoder(tgt_in, state, memory)
        log_probs = torch.log_softmax(self.decoder.output_layer(att_vectors).float(), dim=-1)
        token_log_probs = log_probs.gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1).masked_fill(tgt_out == PAD_ID, 0.0)
        scores = token_log_probs.sum(dim=1).view(num_inputs, num_candidates)
        return scores, attention.view(num_inputs, num_candidates, longest, -1)

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

    def save_pretrained(self, directory: str | Path, *, tokenizer=None, processors: dict | None = None,
                        extra: dict | None = None) -> None:
        """Write the model directory atomically: a temporary directory renamed into place."""
        from seq2seq.processors import save_processors

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            description = {"format_version": FORMAT_VERSION, **self.config, **(extra or {})}
            (staging / CONFIG_FILE).write_text(json.dumps(description, indent=2, ensure_ascii=False))
            save_model(self, str(staging / WEIGHTS_FILE))
            if tokenizer is not None:
                tokenizer.save_pretrained(staging)
            if processors is not None:
                save_processors(staging, processors)
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
        inputs = {name: config_from_dict(values, InputConfig) for name, values in config["inputs"].items()}
        for spec in inputs.values():
            spec.encoder.cnn_weights = ""  # the trained CNN weights are in model.safetensors
        model = build_model(config_from_dict(config["model"], ModelConfig), inputs,
                            source_vocab_size=config["source_vocab_size"],
                            target_vocab_size=config["target_vocab_size"])
        model.config = config
        state = load_file(str(weights), device=str(device))
        if config.get("converted_from_format") == 1:  # format 1 named its only encoder by modality
            state = {key.replace("encoders.text.", "encoders.source.", 1): value for key, value in state.items()}
        # A weight shared by two modules (the text inputs' embedding) is stored once, under one
        # name: the others are filled in from the same tensor.
        aliases = {name: kept for kept, names in _shared_names(model).items() for name in names}
        state.update({name: state[kept] for name, kept in aliases.items() if name not in state and kept in state})
        model.load_state_dict(state)
        return model.to(device).eval()


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


def _replace_directory(staging: Path, directory: Path) -> None:
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


def _join(outputs: list[EncoderOutput]) -> EncoderOutput:
    """Several inputs' outputs as one memory, joined along time (final: their mean)."""
    if len(outputs) == 1:
        return outputs[0]
    return EncoderOutput(
        torch.cat([o.states for o in outputs], dim=1),
        torch.cat([o.mask for o in outputs], dim=1),
        torch.stack([o.final for o in outputs]).mean(dim=0),
        tuple(o.states.size(1) for o in outputs),
    )


def build_encoder(spec: InputConfig, *, source_vocab_size: int, embedding_size: int,
                  embedding_dropout: float) -> nn.Module:
    """The encoder of one input, by its modality."""
    encoder = spec.encoder
    common = dict(hidden_size=encoder.hidden_size, rnn_type=encoder.rnn_type, num_layers=encoder.num_layers,
                  bidirectional=encoder.bidirectional, dropout=encoder.dropout)
    if spec.modality == "text" and spec.processor.get("sentences"):
        return SentenceEncoder(vocab_size=source_vocab_size, embedding_size=embedding_size,
                               embedding_dropout=embedding_dropout, padding_idx=PAD_ID,
                               max_positions=spec.processor.get("max_sentences") or 100,
                               memory_unit=encoder.memory_unit, sentence_rnn=encoder.sentence_rnn,
                               recency_noise=encoder.recency_noise, bag_of_words=encoder.bag_of_words,
                               position_encoding=encoder.position_encoding, **common)
    if spec.modality == "text":
        return TextEncoder(vocab_size=source_vocab_size, embedding_size=embedding_size,
                           embedding_dropout=embedding_dropout, padding_idx=PAD_ID,
                           bag_of_words=encoder.bag_of_words, position_encoding=encoder.position_encoding,
                           **common)
    if spec.modality == "video":
        return VideoEncoder(cnn=encoder.cnn, cnn_weights=encoder.cnn_weights or None, freeze_cnn=encoder.freeze_cnn,
                            feature_size=encoder.feature_size, spatial_grid=encoder.spatial_grid,
                            frame_differences=encoder.frame_differences,
                            mirror_invariant=encoder.mirror_invariant, **common)
    if spec.modality == "audio":
        from seq2seq.processors import AudioProcessor

        feature_size = AudioProcessor.from_dict(spec.processor).feature_size
        return AudioEncoder(feature_size=feature_size, subsampling=encoder.subsampling,
                            conv_channels=encoder.conv_channels, **common)
    raise ValueError(f"unknown modality {spec.modality!r}")


def _share_text_weights(text_encoders: list[nn.Module], config: ModelConfig) -> None:
    """Text inputs share the source vocabulary, so they share one embedding: a word means the
    same in a question as in its context (and, with ``share_text_rnn``, one word-level RNN)."""
    for encoder in text_encoders[1:]:
        encoder.embedding = text_encoders[0].embedding
        if config.share_text_rnn:
            _share_rnn(text_encoders[0], encoder)
    if config.embedding_init_std and text_encoders:
        with torch.no_grad():
            text_encoders[0].embedding.weight.normal_(0.0, config.embedding_init_std)
            text_encoders[0].embedding.weight[PAD_ID].zero_()


def _share_rnn(first: nn.Module, other: nn.Module) -> None:
    """``other`` reads its text with ``first``'s (word-level) RNN."""
    rnn = first.word_rnn if hasattr(first, "word_rnn") else first.rnn
    name = "word_rnn" if hasattr(other, "word_rnn") else "rnn"
    mine = getattr(other, name)
    if (type(mine), mine.input_size, mine.hidden_size, mine.num_layers, mine.bidirectional) != (
            type(rnn), rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.bidirectional):
        raise ValueError("share_text_rnn needs text inputs whose encoders have the same rnn_type, hidden_size, "
                         "num_layers and bidirectional")
    setattr(other, name, rnn)


def build_model(
    config: ModelConfig, inputs: dict[str, InputConfig], *, source_vocab_size: int, target_vocab_size: int,
    label_smoothing: float = 0.0,
) -> Seq2SeqModel:
    """The only place that reads a ModelConfig and the inputs' encoder configs."""
    if not inputs:
        raise ValueError("a model needs at least one input (the config's inputs section is empty)")
    encoders = {name: build_encoder(spec, source_vocab_size=source_vocab_size, embedding_size=config.embedding_size,
                                    embedding_dropout=config.embedding_dropout) for name, spec in inputs.items()}
    _share_text_weights([encoders[name] for name, spec in inputs.items() if spec.modality == "text"], config)
    memory_size = next(iter(encoders.values())).output_size
    decoder_config = config.decoder
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
        fusion=config.fusion,
        num_inputs=1 if config.decoder_memory == "reader" else len(encoders),
    )
    description = {
        "model": config_to_dict(config),
        "inputs": {name: {"modality": spec.modality, "encoder": config_to_dict(spec.encoder),
                          "processor": spec.processor} for name, spec in inputs.items()},
        "source_vocab_size": source_vocab_size,
        "target_vocab_size": target_vocab_size,
    }
    return Seq2SeqModel(encoders=encoders, decoder=decoder, memory_size=memory_size, label_smoothing=label_smoothing,
                        ctc_weight=config.ctc_weight, target_vocab_size=target_vocab_size,
                        query_input=config.query_input, hops=config.hops, reader=config.reader,
                        decoder_memory=config.decoder_memory, hop_supervision=config.hop_supervision,
                        config=description)
