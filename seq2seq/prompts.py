"""A language model's prompts: the decoder reads each prompt, and generation continues it.

A prompt batch is ``tgt_in`` (B, P): bos and the prompt's ids, padded at the end. The decoder's
RNN reads every prompt token but the last, packed so padding never changes a row's state; search
then starts from each row's last prompt token (bos for an empty prompt), so the first generated
token is predicted exactly as in teacher-forced training.
"""

from __future__ import annotations

import torch

from seq2seq.decoder import AttentionDecoder, DecoderState, Memory
from seq2seq.rnn import run_rnn
from seq2seq.tokenization import PAD_ID


def read_prompts(decoder: AttentionDecoder, prompts: torch.Tensor) -> tuple[DecoderState, Memory, torch.Tensor]:
    """prompts (B, P), bos first -> the state after all but each row's last token, the empty
    memory, and the last tokens (B,) that search starts from."""
    batch_size = prompts.size(0)
    lengths = (prompts != PAD_ID).sum(dim=1)
    if bool((lengths == 0).any()):
        raise ValueError("every prompt row needs at least its bos token")
    state = decoder.zero_state(batch_size, prompts)
    last_tokens = prompts.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
    read = lengths - 1  # tokens the RNN reads before search takes over
    if bool((read > 0).any()):
        embedded = decoder.embedding(prompts[:, :-1])
        # Packing needs a length >= 1: a row with nothing to read reads one token, and keeps its zero state.
        _, hidden = run_rnn(decoder.rnn, embedded, read.clamp(min=1), state.hidden)
        keep_zero = (read == 0).view(1, -1, 1)
        if isinstance(hidden, tuple):
            hidden = tuple(h.masked_fill(keep_zero, 0.0) for h in hidden)
        else:
            hidden = hidden.masked_fill(keep_zero, 0.0)
        state = DecoderState(hidden, None)
    return state, decoder.empty_memory(batch_size, prompts), last_tokens
