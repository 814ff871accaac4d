"""Text processor: the SentencePiece source model of the model's tokenizer.

Text inputs are tokenized once, when the data is prepared (a cached ``Dataset.map``), and padded
per batch. An empty text is the single token eos, never an empty sequence, so the encoder and the
attention always have at least one real position.

With ``sentences`` the input is a list of sentences (a string is split with
``sentences.sentence_spans``), each tokenized on its own, for a sentence-level encoder: a story
whose memory holds one vector per sentence. ``max_sentences`` keeps only the most recent ones
(bAbI's answers lie in the latest events; memory networks keep the last 50).
"""

from __future__ import annotations

from typing import Any

import torch

from seq2seq.sentences import sentence_spans
from seq2seq.tokenization import PAD_ID, Tokenizer


def split_sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


class TextProcessor:
    kind = "text"
    cached = True  # its output is stored with the prepared data

    def __init__(self, tokenizer: Tokenizer, *, sentences: bool = False, max_sentences: int = 0):
        if not isinstance(sentences, bool):
            raise ValueError(f"sentences must be true or false, got {sentences!r}")
        if not isinstance(max_sentences, int) or max_sentences < 0:
            raise ValueError(f"max_sentences must be a whole number >= 0 (0 = all), got {max_sentences!r}")
        if max_sentences and not sentences:
            raise ValueError("max_sentences needs sentences: true")
        self.tokenizer, self.sentences, self.max_sentences = tokenizer, sentences, max_sentences

    @classmethod
    def from_dict(cls, tokenizer: Tokenizer, settings: dict[str, Any]) -> TextProcessor:
        unknown = sorted(set(settings) - {"sentences", "max_sentences"})
        if unknown:
            raise ValueError(f"unknown text processor setting {unknown[0]!r} (known: sentences, max_sentences)")
        return cls(tokenizer, **settings)

    @property
    def fingerprint(self) -> str:
        return f"{self.tokenizer.fingerprint}-{self.sentences}-{self.max_sentences}"

    def split(self, text: str | list[str], name: str = "text") -> list[str]:
        """A text's sentences: a list is taken as given, a string is split; at most the last
        ``max_sentences``. No sentence at all is one empty sentence."""
        sentences = text if isinstance(text, list) else split_sentences(text)
        for position, sentence in enumerate(sentences):
            if not isinstance(sentence, str):
                raise TypeError(f"{name}: sentence {position} must be text, got {type(sentence).__name__}")
        if self.max_sentences:
            sentences = sentences[-self.max_sentences :]
        return sentences or [""]

    def kept_positions(self, text: str | list[str], positions: list[int]) -> list[int]:
        """Sentence positions in ``text`` -> positions among the sentences ``split`` keeps (the
        latest ``max_sentences``); positions of dropped sentences are left out."""
        dropped = max(0, len(text if isinstance(text, list) else split_sentences(text)) - len(self.split(text)))
        return [position - dropped for position in positions if position >= dropped]

    def encode(self, texts: list[Any], name: str = "text") -> list[Any]:
        """Token ids per text, each ending with eos; with ``sentences``, a list of them per text.

        A flat processor reads a list of sentences as their text joined by spaces."""
        for position, text in enumerate(texts):
            if not isinstance(text, (str, list)):
                raise TypeError(f"{name} {position} must be text, got {type(text).__name__}")
        if not self.sentences:
            return self.tokenizer.encode_source([t if isinstance(t, str) else " ".join(t) for t in texts])
        split = [self.split(text, f"{name} {position}") for position, text in enumerate(texts)]
        ids = self.tokenizer.encode_source([sentence for sentences in split for sentence in sentences])
        grouped, start = [], 0
        for sentences in split:
            grouped.append(ids[start : start + len(sentences)])
            start += len(sentences)
        return grouped

    def num_tokens(self, ids: list[Any]) -> int:
        """The length of one encoded text in tokens (all sentences together)."""
        return sum(map(len, ids)) if self.sentences else len(ids)

    def collate(self, sequences: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Id lists -> ids (B, S) padded with pad, mask (B, S) True at real tokens.

        With ``sentences``: ids (B, N, L), N the most sentences and L the longest sentence."""
        if self.sentences:
            num_sentences = max(len(s) for s in sequences)
            longest = max(len(sentence) for s in sequences for sentence in s)
            ids = torch.full((len(sequences), num_sentences, longest), PAD_ID, dtype=torch.long)
            for row, sentences in enumerate(sequences):
                for position, sentence in enumerate(sentences):
                    ids[row, position, : len(sentence)] = torch.as_tensor(sentence, dtype=torch.long)
            return ids, ids != PAD_ID
        longest = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), longest), PAD_ID, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
        return ids, ids != PAD_ID

    def to_dict(self) -> dict[str, Any]:
        # The SentencePiece models are the tokenizer's files.
        if not self.sentences:
            return {"kind": self.kind}
        return {"kind": self.kind, "sentences": True, "max_sentences": self.max_sentences}
