"""Seq2SeqModel: one encoder per named input (text, video, audio) feeding one attention RNN decoder.

A model without inputs is a language model: the decoder alone, continuing prompts (``prompts.py``).

``build_model`` (``builders.py``) makes one from a config; ``save_pretrained`` / ``from_pretrained``
write and read a model directory (``model_files.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from seq2seq import generation
from seq2seq.config import InputConfig, ModelConfig, config_from_dict
from seq2seq.decoder import AttentionDecoder, DecoderState, Memory
from seq2seq.encoders import EncoderOutput
from seq2seq.encoders.base import join_outputs
from seq2seq.hops import READERS, HopsOutput, check_reader_settings
from seq2seq.losses import ctc_loss_sum, smoothed_cross_entropy
from seq2seq.model_files import load_weights, read_model_config, save_model_directory
from seq2seq.quantization import check_quantization, quantize_int8
from seq2seq.search import SearchOutput
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID


class Seq2SeqOutput(NamedTuple):
    """loss: mean over target tokens; loss_sum and num_tokens let callers normalise globally."""

    loss: torch.Tensor
    loss_sum: torch.Tensor
    num_tokens: torch.Tensor


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
        check_reader_settings(hops=hops, reader=reader, decoder_memory=decoder_memory,
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
        return join_outputs(outputs)._replace(final=final), hops

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
        memory = join_outputs(outputs)
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
        if not self.encoders:  # a language model: every sequence starts from the zero state
            return self.decoder.zero_state(batch.tgt_in.size(0), batch.tgt_in), \
                self.decoder.empty_memory(batch.tgt_in.size(0), batch.tgt_in)
        encoded = self.encode(batch)
        return self.decoder.init_state(encoded.final), self.decoder.prepare_memory(encoded)

    # -- training and scoring ------------------------------------------------------------------

    def forward(self, batch) -> Seq2SeqOutput:
        """Teacher-forced cross-entropy over the real (non-pad) target tokens (in training, mixed
        with the CTC loss when ``ctc_weight`` > 0, and plus the hops' loss against the supporting
        facts when ``hop_supervision`` > 0 and the batch has them)."""
        encoded, hops = self._encode(batch) if self.encoders else (None, None)
        state, memory = self.start(batch) if encoded is None else (self.decoder.init_state(encoded.final),
                                                                   self.decoder.prepare_memory(encoded))
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
            ctc = ctc_loss_sum(self.ctc_layer(memory.states), memory.mask, batch)
            loss_sum = (1 - self.ctc_weight) * loss_sum + self.ctc_weight * ctc
        if self.hop_supervision and self.training and batch.supporting_facts is not None:
            loss_sum = loss_sum + self.hop_supervision * self.reader.fact_loss(hops.weights, batch.supporting_facts)
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

    @torch.no_grad()
    def score_candidates(self, batch, candidates: list[list[int]], *,
                         encoded: EncoderOutput | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability (B, C) of every candidate output (bare ids, eos added) for every input.

        The inputs are encoded once and the B x C teacher-forced decodes run as one batch: this is
        how a classifier over a fixed label set scores all its labels. Also returns the attention
        (B, C, T, S) of each candidate's decode over the memory, T = the longest candidate + 1.
        ``encoded`` (``batch`` None) scores an encoding made elsewhere (a stream's, ``realtime.py``).
        """
        if not candidates or any(not ids for ids in candidates):
            raise ValueError("score_candidates needs at least one candidate, and no empty one")
        if encoded is None:
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
    def generate(self, batch=None, *, encoded: EncoderOutput | None = None, **settings) -> SearchOutput:
        """Decode ``batch``: greedy for ``num_beams == 1``, else batched beam search; with
        ``sampling`` (``sampling.py``: temperature, top-k, top-p, seed), one sampled output each.
        Settings (``num_beams``, ``max_length``, ``max_length_a``/``_b``, ``length_penalty``,
        ``n_best``, ``return_attention``, ``sampling``) and what they do: ``generation.generate``.

        ``encoded`` (instead of ``batch``) decodes an encoding made elsewhere: a stream's
        (``realtime.py``), read as its input arrived. A language model (no inputs) continues the
        prompts in ``batch.tgt_in`` (bos + prompt ids, padded at the end).
        """
        return generation.generate(self, batch, encoded, **settings)

    @torch.no_grad()
    def generate_steps(self, batch=None, *, encoded: EncoderOutput | None = None, **settings) -> Iterator[torch.Tensor]:
        """The tokens (B,) of ``generate(num_beams=1)`` (greedy, or sampled), yielded step by step
        as they are made (pad once a row has finished): streaming text generation."""
        return generation.generate_steps(self, batch, encoded, **settings)

    # -- persistence ---------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path, *, tokenizer=None, processors: dict | None = None,
                        extra: dict | None = None) -> None:
        """Write the model directory atomically (``model_files.py``), with ``extra`` in its config.json."""
        save_model_directory(self, {**self.config, **(extra or {})}, directory, tokenizer=tokenizer,
                             processors=processors)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | torch.device = "cpu") -> Seq2SeqModel:
        from seq2seq.builders import build_model  # builders.py constructs this class: imported here, not above

        config = read_model_config(directory)
        inputs = {name: config_from_dict(values, InputConfig) for name, values in config["inputs"].items()}
        for spec in inputs.values():
            spec.encoder.cnn_weights = ""  # the trained CNN weights are in model.safetensors
        model = build_model(config_from_dict(config["model"], ModelConfig), inputs,
                            source_vocab_size=config["source_vocab_size"],
                            target_vocab_size=config["target_vocab_size"])
        model.config = config
        if config.get("quantization"):  # saved int8: the same int8 layers, rebuilt from the file
            check_quantization(config["quantization"])
            if torch.device(device).type != "cpu":
                raise ValueError(f"{directory} holds an int8 model, which runs on the CPU only (device={device})")
            quantize_int8(model)
        load_weights(model, directory, config, device)
        return model.to(device).eval()

