"""What ``Seq2SeqModel.generate`` and ``generate_steps`` do: where search starts, and which search runs.

Search starts from the decoder's state and memory made from the encoding (``model.encode(batch)``,
or an encoding made elsewhere: a stream's), or, for a language model, after reading the prompts.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from seq2seq.decoder import DecoderState, Memory
from seq2seq.encoders import EncoderOutput
from seq2seq.greedy import greedy_pick, greedy_search, one_path_steps
from seq2seq.prompts import read_prompts
from seq2seq.sampling import Sampling, sample_search, sampling_pick
from seq2seq.search import SearchOutput, beam_search, check_generation_settings, output_limits
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID


def search_start(model, batch, encoded: EncoderOutput | None, *, max_length: int, max_length_a: float,
                 max_length_b: int) -> tuple[DecoderState, Memory, int | torch.Tensor, torch.Tensor | None]:
    """The decoder's state and memory, each row's length limit, and (for a language model) each
    prompt's last token, which search starts from.

    Each output is limited to ``min(max_length, a * S + b)`` tokens, S being its input's length
    in encoder positions (``search.output_limits``; ``a = b = 0``: ``max_length`` for all); a
    language model's to ``max_length`` new tokens."""
    if encoded is not None or model.encoders:
        if encoded is None:
            encoded = model.encode(batch)
        state, memory = model.decoder.init_state(encoded.final), model.decoder.prepare_memory(encoded)
        limits = output_limits(memory.mask.sum(dim=1), max_length=max_length, max_length_a=max_length_a,
                               max_length_b=max_length_b)
        return state, memory, limits, None
    state, memory, first_tokens = read_prompts(model.decoder, batch.tgt_in)
    return state, memory, max_length, first_tokens


def generate(model, batch, encoded: EncoderOutput | None = None, *, num_beams: int = 1, max_length: int = 100,
             max_length_a: float = 0.0, max_length_b: int = 0, length_penalty: float = 1.0, n_best: int = 1,
             return_attention: bool = True, sampling: Sampling | None = None) -> SearchOutput:
    """Greedy search (``num_beams == 1``), beam search, or one sampled output per input.

    Scores are log-probabilities divided by the length penalty, for all (see ``search.py``).
    ``return_attention=False`` spares beam search the attention histories (faster)."""
    check_generation_settings(num_beams=num_beams, max_length=max_length, n_best=n_best,
                              max_length_a=max_length_a, max_length_b=max_length_b)
    state, memory, limits, first_tokens = search_start(model, batch, encoded, max_length=max_length,
                                                       max_length_a=max_length_a, max_length_b=max_length_b)
    ids = dict(bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID, max_length=limits, alpha=length_penalty,
               first_tokens=first_tokens)
    if sampling is not None:
        if num_beams != 1:
            raise ValueError(f"sampling draws one output per input: it needs num_beams=1, got {num_beams}")
        return sample_search(model.decoder, state, memory, sampling=sampling, **ids)
    if num_beams == 1:
        return greedy_search(model.decoder, state, memory, **ids)
    return beam_search(model.decoder, state, memory, num_beams=num_beams, n_best=n_best,
                       return_attention=return_attention, **ids)


@torch.no_grad()
def generate_steps(model, batch, encoded: EncoderOutput | None = None, *, max_length: int = 100,
                   max_length_a: float = 0.0, max_length_b: int = 0,
                   sampling: Sampling | None = None) -> Iterator[torch.Tensor]:
    """``generate(num_beams=1)``'s tokens (B,), one step at a time (pad once a row has finished)."""
    check_generation_settings(num_beams=1, max_length=max_length, max_length_a=max_length_a,
                              max_length_b=max_length_b)
    state, memory, limits, first_tokens = search_start(model, batch, encoded, max_length=max_length,
                                                       max_length_a=max_length_a, max_length_b=max_length_b)
    pick = greedy_pick if sampling is None else sampling_pick(sampling, memory.states.device)
    for tokens, *_ in one_path_steps(model.decoder, state, memory, max_length=limits, bos_id=BOS_ID, eos_id=EOS_ID,
                                     pad_id=PAD_ID, pick=pick, first_tokens=first_tokens):
        yield tokens
