"""Real-time inference: a model's input encoded as it arrives, decodable at any moment.

``EncodingStream(model)`` takes a one-input model whose encoder can stream (audio or video,
unidirectional; ``encoders/streaming.py``). ``feed`` encodes a chunk of processed input, carrying
the RNN's state; ``encoded()`` is the memory so far, as ``Seq2SeqModel.encode`` makes it for the
whole input, ready for ``generate(encoded=...)`` or ``score_candidates(encoded=...)``. An attention
decoder reads the whole memory, so what is decoded before the end is a partial result; the one
decoded after ``finish`` equals offline processing of the same input.
"""

from __future__ import annotations

import torch

from seq2seq.encoders import EncoderOutput
from seq2seq.encoders.streaming import encoder_stream


class EncodingStream:
    def __init__(self, model):
        if len(model.encoders) != 1:
            inputs = ", ".join(model.encoders) or "none"
            raise ValueError(f"streaming takes a model with one audio or video input; this one has {inputs}")
        if model.reader is not None:
            raise ValueError("a model with hops reads its whole memory before the first hop: it cannot stream")
        self.name, encoder = next(iter(model.encoders.items()))
        self.stream = encoder_stream(encoder)
        self.projection = dict(model.projections).get(self.name)
        self.device = next(model.parameters()).device
        self.parts: list[torch.Tensor] = []
        self.length = 0  # encoder positions so far

    @torch.no_grad()
    def feed(self, values: torch.Tensor) -> int:
        """Processed input (audio features (T, F) or video frames (T, C, H, W)) -> the number of new
        memory positions (fewer than T where the encoder subsamples or looks ahead)."""
        return self._add(self.stream.feed(values.to(self.device)))

    @torch.no_grad()
    def finish(self) -> int:
        """The end of the input: the positions it releases (a look-ahead's last ones)."""
        return self._add(self.stream.finish())

    def _add(self, states: torch.Tensor) -> int:
        if self.projection is not None:
            states = self.projection(states)
        self.parts.append(states)
        self.length += states.size(0)
        return states.size(0)

    @torch.no_grad()
    def encoded(self) -> EncoderOutput:
        """The memory so far (1, S, D), its mask and the summary that starts the decoder."""
        if self.length == 0:
            raise ValueError("nothing is encoded yet: feed more input first")
        states = torch.cat(self.parts).unsqueeze(0)
        self.parts = [states.squeeze(0)]
        final = self.stream.final
        if self.projection is not None:
            final = self.projection(final)
        mask = torch.ones(states.shape[:2], dtype=torch.bool, device=states.device)
        return EncoderOutput(states, mask, final)
