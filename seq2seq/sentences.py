"""Split a text into sentences without losing a character of it, and put translations back.

A sentence-level model translates a paragraph best sentence by sentence. ``sentence_spans``
finds where the sentences are; ``join_translations`` rebuilds a text from per-sentence results
with the original whitespace between them, so a paragraph's line breaks survive.

The rules are deliberately cautious: a missed boundary only leaves a longer input (which the
length limits then report), a wrong one cuts a sentence in two. A boundary is
- a line break, or
- ``.``, ``!``, ``?`` or ``…`` (with any closing quotes or brackets), then whitespace, then a
  capital letter, a digit or an opening quote or bracket; but not after a known abbreviation
  (``Dr.``, ``z.B.``, ``etc.``), a single letter (an initial: ``J. Smith``) or a number (German
  ordinals: ``am 3. Mai``), or
- ``。``, ``！`` or ``？`` (scripts that put no space after a sentence).

Lowercased text (tokenized corpora such as Multi30k's, models trained on them) has no capital to
start a sentence: with ``lowercase=True`` a lowercase letter after the punctuation also starts
one, with the same exceptions.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "cf", "approx", "no", "nr",
    "fig", "vol", "ca", "bzw", "usw", "z.b", "d.h", "u.a", "ggf", "evtl", "hr", "fr", "mme", "mlle", "m.m",
    "p.ex", "av", "mt", "inc", "ltd", "co", "corp", "dept", "gen", "gov", "sen", "rep",
})
_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s)")
_OPENING = "\"'«„“‘([¿¡"
_CJK_END = re.compile(r"[。！？]+[」』”’）]*")


def _word_before(text: str, end: int) -> str:
    """The token just before ``end`` (a boundary's punctuation), lower-cased, without that punctuation."""
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end].rstrip(".!?…\"'»”’)]").lower()


def _is_boundary(text: str, match: re.Match, lowercase: bool) -> bool:
    rest = text[match.end():].lstrip()
    if not rest:
        return False
    first = rest[0]
    if first in _OPENING:
        first = rest[1:2] or first
    if not (first.isupper() or first.isdigit() or first in _OPENING or lowercase and first.islower()):
        return False
    if text[match.start()] != ".":
        return True
    word = _word_before(text, match.end())
    return not (word in ABBREVIATIONS or len(word) == 1 or word.replace(".", "").isdigit())


def sentence_spans(text: str, *, lowercase: bool = False) -> list[tuple[int, int]]:
    """(start, end) of each sentence in ``text``; whitespace between sentences belongs to none.
    ``lowercase``: the text is lowercased, so a sentence may start with a lowercase letter."""
    cuts = {match.end() for match in _END.finditer(text) if _is_boundary(text, match, lowercase)}
    cuts |= {match.end() for match in _CJK_END.finditer(text)}
    cuts |= {match.start() for match in re.finditer(r"\n", text)}
    spans, start = [], 0
    for cut in sorted(cuts) + [len(text)]:
        piece = text[start:cut]
        if piece.strip():
            left = start + len(piece) - len(piece.lstrip())
            spans.append((left, left + len(piece.strip())))
        start = cut
    return spans


def join_translations(text: str, spans: list[tuple[int, int]], translations: list[str]) -> str:
    """``text`` with each span replaced by its translation; what lies between spans is kept."""
    if len(spans) != len(translations):
        raise ValueError(f"{len(spans)} sentences but {len(translations)} translations")
    pieces, position = [], 0
    for (start, end), translation in zip(spans, translations, strict=True):
        pieces += [text[position:start], translation]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
