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


def per_class_accuracy(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Percentage of each reference class predicted exactly, by class (sorted)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    hits: dict[str, list[int]] = {}
    for prediction, reference in zip(predictions, references, strict=True):
        hits.setdefault(reference.strip(), []).append(prediction.strip() == reference.strip())
    return {label: 100.0 * sum(values) / len(values) for label, values in sorted(hits.items())}


def mean_class_accuracy(predictions: list[str], references: list[str]) -> float:
    """Per-class accuracy averaged over the classes (balanced accuracy)."""
    by_class = per_class_accuracy(predictions, references)
    return sum(by_class.values()) / len(by_class) if by_class else 0.0


def confusion_matrix(predictions: list[str], references: list[str],
                     labels: list[str] | None = None) -> tuple[list[str], list[list[int]]]:
    """Counts[reference][prediction] over ``labels`` (default: every reference class), plus a last
    column "(other)" for predictions outside them."""
    labels = sorted({r.strip() for r in references}) if labels is None else list(labels)
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * (len(labels) + 1) for _ in labels]
    for prediction, reference in zip(predictions, references, strict=True):
        if reference.strip() in index:
            counts[index[reference.strip()]][index.get(prediction.strip(), len(labels))] += 1
    return labels, counts


def _error_rate(predictions: list[str], references: list[str], split) -> float:
    from torchaudio.functional import edit_distance

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    errors = sum(edit_distance(split(r), split(p)) for p, r in zip(predictions, references, strict=True))
    return 100.0 * errors / max(1, sum(len(split(r)) for r in references))


def cer(predictions: list[str], references: list[str]) -> float:
    """Character error rate in percent: edits (torchaudio's Levenshtein distance) per reference character."""
    return _error_rate(predictions, references, lambda text: list(text.strip()))


def wer(predictions: list[str], references: list[str]) -> float:
    """Word error rate in percent: edits per reference word (whitespace-separated)."""
    return _error_rate(predictions, references, str.split)
