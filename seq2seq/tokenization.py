"""SentencePiece tokenizers for the source and target sides, saved next to the model.

Ids are fixed for every model: pad 0, unk 1, bos 2, eos 3. Source sequences end with eos; target
sequences are stored bare and the collator adds bos/eos, so one tokenizer serves training and
decoding alike.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import sentencepiece as spm

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_IDS = (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
TOKENIZER_CONFIG = "tokenizer_config.json"


def train_sentencepiece(
    sentences: Iterable[str],
    *,
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    max_sentences: int = 1_000_000,
    lowercase: bool = False,
    keep_whitespace: bool = False,
) -> spm.SentencePieceProcessor:
    """Train a SentencePiece model in memory on ``sentences``; with ``lowercase`` the model folds
    case itself (its normalisation rule), when it is trained and whenever it encodes.

    ``keep_whitespace``: text decodes exactly as it was written (no Unicode normalisation, runs
    of spaces and newlines kept, no leading space added): a language model writes layout too."""
    if model_type not in ("unigram", "bpe", "word", "char"):
        raise ValueError(f"tokenizer.model_type must be 'unigram', 'bpe', 'word' or 'char', got {model_type!r}")
    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        raise ValueError("cannot train a tokenizer: the training text is empty")
    if len(sentences) > max_sentences:
        # Our own seeded sample: SentencePiece's (input_sentence_size) draws a new one every run.
        kept = sorted(random.Random(0).sample(range(len(sentences)), max_sentences))
        sentences = [sentences[index] for index in kept]
    model = io.BytesIO()
    exact = dict(normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
                 user_defined_symbols=["\n"], max_sentence_length=1 << 20) if keep_whitespace else {}
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        **({} if keep_whitespace else {"normalization_rule_name": "nmt_nfkc_cf" if lowercase else "nmt_nfkc"}),
        input_sentence_size=max_sentences,  # no more than this reach it: nothing left for it to sample
        shuffle_input_sentence=True,
        # Small corpora cannot always fill the requested vocabulary; take what they give.
        hard_vocab_limit=False,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        num_threads=2,
        minloglevel=2,
        **exact,
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


class Tokenizer:
    """A source and a target SentencePiece model (the same object when the vocabulary is joint)."""

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, source: spm.SentencePieceProcessor, target: spm.SentencePieceProcessor):
        self.source = source
        self.target = target

    @property
    def joint(self) -> bool:
        return self.source is self.target

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of both SentencePiece models: equal fingerprints give equal ids."""
        digest = hashlib.sha256(b"joint" if self.joint else b"separate")
        digest.update(self.source.serialized_model_proto())
        digest.update(self.target.serialized_model_proto())
        return digest.hexdigest()[:16]

    @property
    def source_vocab_size(self) -> int:
        return self.source.get_piece_size()

    @property
    def target_vocab_size(self) -> int:
        return self.target.get_piece_size()

    @classmethod
    def train(
        cls,
        source_texts: Iterable[str] | None,
        target_texts: Iterable[str],
        *,
        vocab_size: int,
        model_type: str = "unigram",
        joint: bool = False,
        character_coverage: float = 1.0,
        max_sentences: int = 1_000_000,
        lowercase_source: bool = False,
        keep_whitespace: bool = False,
    ) -> Tokenizer:
        """A source and a target model (``joint``: one for both); ``lowercase_source`` folds the
        source side's case (both sides' when joint); ``keep_whitespace``: see ``train_sentencepiece``."""
        options = dict(
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            max_sentences=max_sentences,
            keep_whitespace=keep_whitespace,
        )
        if source_texts is None:  # no text inputs (video, audio): one model, for the targets
            shared = train_sentencepiece(target_texts, **options)
            return cls(shared, shared)
        if joint:
            shared = train_sentencepiece(_chain(source_texts, target_texts), lowercase=lowercase_source, **options)
            return cls(shared, shared)
        return cls(train_sentencepiece(source_texts, lowercase=lowercase_source, **options),
                   train_sentencepiece(target_texts, **options))

    # -- encoding ------------------------------------------------------------------------------

    def encode_source(self, texts: list[str]) -> list[list[int]]:
        """Source ids, each sequence ending with eos."""
        return [ids + [EOS_ID] for ids in self.source.encode(texts)]

    def encode_target(self, texts: list[str]) -> list[list[int]]:
        """Bare target ids (no bos/eos)."""
        return self.target.encode(texts)

    def decode_target(self, sequences: Iterable[Iterable[int]]) -> list[str]:
        """Text for each id sequence, cut at the first eos; special ids are dropped."""
        texts = []
        for sequence in sequences:
            ids = []
            for token in sequence:
                token = int(token)
                if token == EOS_ID:
                    break
                if token not in (PAD_ID, BOS_ID):
                    ids.append(token)
            texts.append(self.target.decode(ids))
        return texts

    def target_pieces(self, ids: Iterable[int]) -> list[str]:
        return [self.target.id_to_piece(int(i)) for i in ids]

    def source_pieces(self, text: str) -> list[str]:
        return self.source.encode(text, out_type=str) + ["</s>"]

    def with_target_words(self, texts: Iterable[str]) -> Tokenizer:
        """A tokenizer whose target vocabulary also covers ``texts``: each piece SentencePiece
        would map to unk (a new label's new word) becomes a piece of its own, its id after the
        existing ones, so the ids a model already knows keep their meaning. A joint vocabulary
        grows on both sides."""
        from sentencepiece import sentencepiece_model_pb2

        texts = list(texts)
        spans = {piece for text in texts for piece in self.target.encode(text, out_type=str)
                 if self.target.piece_to_id(piece) == UNK_ID}
        if not spans:
            return self
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(self.target.serialized_model_proto())
        # An unknown span runs over several words or characters: a word model learns each word
        # ("▁circling"), the others each character.
        if proto.trainer_spec.model_type == sentencepiece_model_pb2.TrainerSpec.WORD:
            unknown = sorted({"▁" + word for span in spans for word in span.split("▁") if word})
        else:
            unknown = sorted({character for span in spans for character in span})
        unknown = [piece for piece in unknown if self.target.piece_to_id(piece) == UNK_ID]
        lowest = min(piece.score for piece in proto.pieces)
        normal = sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL
        for text in unknown:
            piece = proto.pieces.add()
            piece.piece, piece.score, piece.type = text, lowest - 1.0, normal
        target = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
        still = [text for text in texts if UNK_ID in target.encode(text)]
        if still:
            raise ValueError(f"the target vocabulary cannot spell {still[:3]} even with new pieces")
        return Tokenizer(target if self.joint else self.source, target)

    # -- persistence ---------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = {"source": "source.spm"} if self.joint else {"source": "source.spm", "target": "target.spm"}
        (directory / files["source"]).write_bytes(self.source.serialized_model_proto())
        if not self.joint:
            (directory / files["target"]).write_bytes(self.target.serialized_model_proto())
        meta = {"joint": self.joint, "files": files, "pad_id": PAD_ID, "unk_id": UNK_ID,
                "bos_id": BOS_ID, "eos_id": EOS_ID}
        (directory / TOKENIZER_CONFIG).write_text(json.dumps(meta, indent=2))

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> Tokenizer:
        directory = Path(directory)
        meta_path = directory / TOKENIZER_CONFIG
        if not meta_path.is_file():
            raise FileNotFoundError(f"{directory} has no {TOKENIZER_CONFIG}: not a saved tokenizer")
        meta = json.loads(meta_path.read_text())
        processors = {}
        for side, name in meta["files"].items():
            path = directory / name
            if not path.is_file():
                raise FileNotFoundError(f"tokenizer file missing: {path}")
            processors[side] = spm.SentencePieceProcessor(model_proto=path.read_bytes())
        source = processors["source"]
        return cls(source, source if meta["joint"] else processors["target"])


def _chain(*iterables: Iterable[str]) -> Iterator[str]:
    for iterable in iterables:
        yield from iterable
