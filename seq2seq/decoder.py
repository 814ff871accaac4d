"""Attention RNN decoder.

Each step: embed the previous token (concatenated with the previous attentional vector when
input feeding is on), advance the RNN, attend over the memory with the new hidden state as query,
and combine hidden state and context into the attentional vector
``tanh(W_c [h_t; c_t])`` from which the output layer predicts the next token (Luong et al., 2015).
Bahdanau and Luong differ in the score function only (see ``attention.py``).

With several inputs their memories arrive joined along time. ``fusion="concat"`` attends over
them as one sequence (one softmax over every position); ``fusion="gate"`` normalises attention
within each input and mixes the per-input contexts with a learned gate
``softmax(W_g [h_t; c_1; ...; c_N])``, so no input can be drowned out by another one's length.

With no inputs at all (``num_inputs=0``) the decoder is a language model: no attention, no
bridge, every sequence starts from a zero state, and the output layer reads the RNN's (dropped-out)
hidden state directly, as in char-rnn. Its memory is empty (B, 0, M).

Without input feeding the recurrence does not depend on attention, so the teacher-forced
``forward`` runs the RNN over the whole target in one fused call and attends for all steps in one
batched product. With input feeding it loops over ``step``'s arithmetic.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from seq2seq.attention import make_attention, masked_softmax
from seq2seq.encoders.base import EncoderOutput
from seq2seq.rnn import RNNState, make_rnn


class Memory(NamedTuple):
    """Encoder memory prepared for decoding: states (B, S, M), mask (B, S), keys (B, S, A), and
    each input's number of positions when several are joined (see ``EncoderOutput``)."""

    states: torch.Tensor
    mask: torch.Tensor
    keys: torch.Tensor
    segments: tuple[int, ...] = ()

    def index_select(self, index: torch.Tensor) -> Memory:
        return Memory(self.states.index_select(0, index), self.mask.index_select(0, index),
                      self.keys.index_select(0, index), self.segments)


class DecoderState(NamedTuple):
    """hidden: (L, B, H), or (h, c) for an LSTM; att_vector: (B, H) when input feeding, else None."""

    hidden: RNNState
    att_vector: torch.Tensor | None

    def index_select(self, index: torch.Tensor) -> DecoderState:
        if isinstance(self.hidden, tuple):
            hidden = tuple(h.index_select(1, index) for h in self.hidden)
        else:
            hidden = self.hidden.index_select(1, index)
        att_vector = None if self.att_vector is None else self.att_vector.index_select(0, index)
        return DecoderState(hidden, att_vector)


FUSIONS = ("concat", "gate")


class AttentionDecoder(nn.Module):
    def __init__(self, *, vocab_size: int, embedding_size: int, hidden_size: int, memory_size: int,
                 rnn_type: str = "gru", num_layers: int = 1, attention: str = "bahdanau", attention_size: int = 512,
                 input_feeding: bool = False, dropout: float = 0.0, embedding_dropout: float = 0.0,
                 padding_idx: int = 0, tie_embeddings: bool = False, fusion: str = "concat", num_inputs: int = 1):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        if num_inputs == 0 and input_feeding:
            raise ValueError("input_feeding feeds the attention back: a decoder without inputs has none")
        if tie_embeddings and embedding_size != hidden_size:
            raise ValueError(f"tie_embeddings needs embedding_size == decoder hidden_size, got {embedding_size} "
                             f"and {hidden_size}")
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.input_feeding = input_feeding
        self.is_lstm = rnn_type.lower() == "lstm"
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_idx)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.rnn = make_rnn(rnn_type=rnn_type, input_size=embedding_size + (hidden_size if input_feeding else 0),
                            hidden_size=hidden_size, num_layers=num_layers, dropout=dropout)
        attends = num_inputs > 0
        self.attention = make_attention(attention, query_size=hidden_size, memory_size=memory_size,
                                        attention_size=attention_size) if attends else None
        self.bridge = nn.Linear(memory_size, num_layers * hidden_size) if attends else None
        self.att_vector_layer = nn.Linear(hidden_size + memory_size, hidden_size) if attends else None
        self.dropout = nn.Dropout(dropout)
        self.output_layer = nn.Linear(hidden_size, vocab_size)
        gated = fusion == "gate" and num_inputs > 1
        self.gate_layer = nn.Linear(hidden_size + num_inputs * memory_size, num_inputs) if gated else None
        if tie_embeddings:
            self.output_layer.weight = self.embedding.weight

    # -- set-up from the encoder ---------------------------------------------------------------

    def prepare_memory(self, encoder_output: EncoderOutput) -> Memory:
        """Project attention keys once per source."""
        if self.attention is None:
            raise ValueError("this decoder has no inputs to attend to (a language model): use empty_memory")
        states = encoder_output.states
        return Memory(states, encoder_output.mask, self.attention.project_keys(states), encoder_output.segments)

    def empty_memory(self, batch_size: int, like: torch.Tensor) -> Memory:
        """The memory of a decoder without inputs: no positions, (B, 0, H)."""
        states = like.new_zeros(batch_size, 0, self.hidden_size, dtype=self.embedding.weight.dtype)
        return Memory(states, states.new_zeros(batch_size, 0, dtype=torch.bool), states)

    def zero_state(self, batch_size: int, like: torch.Tensor) -> DecoderState:
        """The start of every sequence without inputs: zeros (L, B, H)."""
        hidden = like.new_zeros(self.num_layers, batch_size, self.hidden_size, dtype=self.embedding.weight.dtype)
        return DecoderState((hidden, torch.zeros_like(hidden)) if self.is_lstm else hidden, None)

    def init_state(self, encoder_final: torch.Tensor) -> DecoderState:
        """Bridge: every layer starts from ``tanh(W encoder_final)``; (B, M) -> (L, B, H)."""
        batch_size = encoder_final.size(0)
        hidden = torch.tanh(self.bridge(encoder_final))
        hidden = hidden.view(batch_size, self.num_layers, self.hidden_size).transpose(0, 1)
        hidden = hidden.contiguous()
        state: RNNState = (hidden, torch.zeros_like(hidden)) if self.is_lstm else hidden
        att_vector = encoder_final.new_zeros(batch_size, self.hidden_size) if self.input_feeding else None
        return DecoderState(state, att_vector)

    # -- decoding --------------------------------------------------------------------------------

    def forward(
        self, tgt_in: torch.Tensor, state: DecoderState, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced pass over ``tgt_in`` (B, T).

        Returns attentional vectors (B, T, H), to be fed to ``output_layer``, and attention
        weights (B, T, S).
        """
        embedded = self.embedding_dropout(self.embedding(tgt_in))  # (B, T, E)
        if not self.input_feeding:
            outputs, _ = self.rnn(embedded, state.hidden)  # (B, T, H)
            return self._attend(outputs, memory)
        att_vectors, weights = [], []
        for t in range(tgt_in.size(1)):
            att_vector, state, step_weights = self._step(embedded[:, t : t + 1], state, memory)
            att_vectors.append(att_vector)
            weights.append(step_weights)
        return torch.cat(att_vectors, dim=1), torch.cat(weights, dim=1)

    def step(
        self, prev_tokens: torch.Tensor, state: DecoderState, memory: Memory
    ) -> tuple[torch.Tensor, DecoderState, torch.Tensor]:
        """One decoding step: ``prev_tokens`` (B,) -> logits (B, V), new state, weights (B, S)."""
        embedded = self.embedding_dropout(self.embedding(prev_tokens.unsqueeze(1)))  # (B, 1, E)
        att_vector, state, weights = self._step(embedded, state, memory)
        return self.output_layer(att_vector.squeeze(1)), state, weights.squeeze(1)

    def _step(
        self, embedded: torch.Tensor, state: DecoderState, memory: Memory
    ) -> tuple[torch.Tensor, DecoderState, torch.Tensor]:
        """embedded (B, 1, E) -> attentional vector (B, 1, H), state, weights (B, 1, S)."""
        rnn_input = embedded
        if self.input_feeding:
            rnn_input = torch.cat([embedded, state.att_vector.unsqueeze(1)], dim=-1)
        output, hidden = self.rnn(rnn_input, state.hidden)  # (B, 1, H)
        att_vector, weights = self._attend(output, memory)
        return att_vector, DecoderState(hidden, att_vector.squeeze(1) if self.input_feeding else None), weights

    def _attend(self, queries: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (B, T, H) -> attentional vectors (B, T, H), weights (B, T, S)."""
        if self.attention is None:  # a language model reads its hidden state directly (S = 0)
            return self.dropout(queries), queries.new_zeros(*queries.shape[:2], 0)
        if self.gate_layer is not None:
            context, weights = self._gated_attention(queries, memory)
        else:
            context, weights = self.attention(queries, memory.keys, memory.states, memory.mask)
        att_vectors = torch.tanh(self.att_vector_layer(torch.cat([queries, context], dim=-1)))
        return self.dropout(att_vectors), weights

    def _gated_attention(self, queries: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """One softmax per input, contexts mixed by the gate: context (B, T, M), weights (B, T, S),
        each input's weights scaled by its gate value (so a row still sums to 1)."""
        if len(memory.segments) != self.gate_layer.out_features:
            raise ValueError(f"gated fusion was built for {self.gate_layer.out_features} inputs; the memory joins "
                             f"{len(memory.segments)}")
        scores = self.attention.scores(queries, memory.keys)  # (B, T, S)
        contexts, parts, start = [], [], 0
        for size in memory.segments:
            part = masked_softmax(scores[..., start : start + size], memory.mask[:, start : start + size])
            contexts.append(torch.bmm(part, memory.states[:, start : start + size]))
            parts.append(part)
            start += size
        gate = torch.softmax(self.gate_layer(torch.cat([queries, *contexts], dim=-1)), dim=-1)  # (B, T, N)
        context = sum(gate[..., i : i + 1] * c for i, c in enumerate(contexts))
        weights = torch.cat([gate[..., i : i + 1] * p for i, p in enumerate(parts)], dim=-1)
        return context, weights
