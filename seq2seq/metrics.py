"""Task metrics as thin wrappers over well-kept libraries (sacrebleu)."""

from __future__ import annotations

import sacrebleu


def bleu(predictions: list[str], references: list[str]) -> float:
    """Corpus BLEU (sacreBLEU defaults: 13a tokenisation, cased) on detokenized text."""
    return sacrebleu.corpus_bleu(predictions, [references]).score


def chrf(predictions: list[str], references: list[str]) -> float:
    return sacrebleu.corpus_chrf(predictions, [references]).score


def exact_match(predictions: list[str], references: list[str]) -> float:
    """Percentage of predictions equal to their reference after stripping outer whitespace."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return 0.0
    hits = sum(p.strip() == r.strip() for p, r in zip(predictions, references, strict=True))
    return 100.0 * hits / len(predictions)
