"""Text processor: the SentencePiece source model of the model's tokenizer.

Text inputs are tokenized once, when the data is prepared (a cached ``Dataset.map``), and padded
per batch. An empty text is the single token eos, never an empty sequence, so the encoder and the
attention always have at least one real position.
"""

from __future__ import annotations

from typing import Any

import torch

from seq2seq.tokenization import PAD_ID, Tokenizer


class TextProcessor:
    kind = "text"
    cached = True  # its output is stored with the prepared data

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    @property
    def fingerprint(self) -> str:
        return self.tokenizer.fingerprint

    def encode(self, texts: list[str], name: str = "text") -> list[list[int]]:
        """Token ids per text, each ending with eos."""
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{name} {position} must be text, got {type(text).__name__}")
        return self.tokenizer.encode_source(texts)

    def collate(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Id lists -> ids (B, S) padded with pad, mask (B, S) True at real tokens."""
        longest = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), longest), PAD_ID, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
        return ids, ids != PAD_ID

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}  # the SentencePiece models are the tokenizer's files
