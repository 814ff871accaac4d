"""Deterministic corpora the project generates itself, so nothing is downloaded.

- ``numbers_en_de``: English number words -> German number words, 0 to 999,999. German puts
  units before tens ("forty-two" -> "zweiundvierzig") and writes the number as one word, so the
  model has to reorder and align, not just substitute. Each number of digits (1 to 6) is a sixth
  of the examples, so the training split holds every number below 1,000 many times over; a
  quarter of the sources are in sentence case ("Forty-two").
- ``copy`` and ``reverse``: sequences of 3 to 12 distinct letters, for quick tests.
- ``counting`` (language modelling, column ``text``): counting in English words from a random
  number below 100, 3 to 8 numbers a text ("forty-one, forty-two, forty-three."): a model that
  learned it continues "ninety-eight, ninety-nine," with "one hundred".

Splits never share a source sentence (ignoring case); only ``numbers_en_de``'s training split
repeats one.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from datasets import Dataset, DatasetDict

_EN_SMALL = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_DE_SMALL = [
    "null",
    "ein",
    "zwei",
    "drei",
    "vier",
    "fünf",
    "sechs",
    "sieben",
    "acht",
    "neun",
    "zehn",
    "elf",
    "zwölf",
    "dreizehn",
    "vierzehn",
    "fünfzehn",
    "sechzehn",
    "siebzehn",
    "achtzehn",
    "neunzehn",
]
_DE_TENS = ["_", "_", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig"]


def english_number(n: int) -> str:
    if n < 20:
        return _EN_SMALL[n]
    if n < 100:
        tens, units = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{_EN_SMALL[units]}" if units else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_EN_SMALL[hundreds]} hundred" + (f" {english_number(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    return f"{english_number(thousands)} thousand" + (f" {english_number(rest)}" if rest else "")


def _german_below_1000(n: int, final: bool) -> str:
    """German words for 0 < n < 1000; ``final`` numbers end in "eins", prefixes in "ein"."""
    hundreds, rest = divmod(n, 100)
    words = f"{_DE_SMALL[hundreds]}hundert" if hundreds else ""
    if rest == 1:
        words += "eins" if final else "ein"
    elif rest < 20:
        words += _DE_SMALL[rest] if rest else ""
    else:
        tens, units = divmod(rest, 10)
        words += (f"{_DE_SMALL[units]}und" if units else "") + _DE_TENS[tens]
    return words


def german_number(n: int) -> str:
    if n == 0:
        return "null"
    thousands, rest = divmod(n, 1000)
    words = f"{_german_below_1000(thousands, final=False)}tausend" if thousands else ""
    return words + (_german_below_1000(rest, final=True) if rest else "")


def _numbers_en_de(rng: random.Random) -> tuple[str, str]:
    # Equal weight per number of digits, so small numbers are not drowned out by 6-digit ones
    # (the training split repeats them: "one" is what a user types first).
    digits = rng.randint(1, 6)
    n = rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)
    english = english_number(n)
    if rng.random() < 0.25:  # sentence case, as a number starting a sentence is written
        english = english[0].upper() + english[1:]
    return english, german_number(n)


def _letters(rng: random.Random) -> list[str]:
    # Distinct letters: a repeated run ("l l l l") makes content-based attention count, which
    # tiny test models do not learn reliably, and the point of the task is alignment.
    return rng.sample("abcdefghijklmnop", rng.randint(3, 12))


def _copy(rng: random.Random) -> tuple[str, str]:
    letters = _letters(rng)
    return " ".join(letters), " ".join(letters)


def _reverse(rng: random.Random) -> tuple[str, str]:
    letters = _letters(rng)
    return " ".join(letters), " ".join(reversed(letters))


GENERATORS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "numbers_en_de": _numbers_en_de,
    "copy": _copy,
    "reverse": _reverse,
}
# Corpora whose training split may hold a source more than once, so that a small set of inputs
# (the numbers below 100) keeps its weight beside a large one.
REPEATED_IN_TRAINING = {"numbers_en_de"}


def make_corpus(name: str, sizes: dict[str, int], seed: int = 1234) -> DatasetDict:
    """A DatasetDict with ``source`` and ``target`` columns, one split per entry of ``sizes``.

    Splits are drawn in a fixed order (train, validation, test, then the others by name), so the
    same sizes give the same data however the mapping is ordered (YAML writers sort keys).
    """
    if name not in GENERATORS:
        raise ValueError(f"unknown generated corpus {name!r}; choose one of {sorted([*GENERATORS, 'actions'])}")
    generate = GENERATORS[name]
    rng = random.Random(seed)
    seen: set[str] = set()
    splits = {}
    canonical = {"train": 0, "validation": 1, "test": 2}
    for split in sorted(sizes, key=lambda split: (canonical.get(split, 3), split)):
        size = sizes[split]
        repeats = split == "train" and name in REPEATED_IN_TRAINING
        sources, targets = [], []
        attempts = 0
        while len(sources) < size:
            attempts += 1
            if attempts > 100 * size + 1000:
                raise ValueError(f"corpus {name!r} has too few distinct examples for {sizes}")
            source, target = generate(rng)
            key = source.casefold()  # "One" in training makes "one" no held-out example
            if key in seen and not repeats:
                continue
            seen.add(key)
            sources.append(source)
            targets.append(target)
        splits[split] = Dataset.from_dict({"source": sources, "target": targets})
    return DatasetDict({split: splits[split] for split in sizes})


def _counting(rng: random.Random, starts: list[int]) -> str:
    start = rng.choice(starts)
    return ", ".join(english_number(n) for n in range(start, start + rng.randint(3, 8))) + "."


def make_text_corpus(name: str, sizes: dict[str, int], seed: int = 1234) -> DatasetDict:
    """A DatasetDict with a ``text`` column (language modelling), one split per entry of ``sizes``.

    ``counting`` holds out by where a text starts: validation texts start at numbers ending in 8,
    test texts at numbers ending in 9, training texts anywhere else (so a held-out text is never
    a training text, though its numbers appear in training texts that pass through them)."""
    if name != "counting":
        raise ValueError(f"unknown generated text corpus {name!r}; choose counting")
    rng = random.Random(seed)
    held_out, canonical = {"validation": 8, "test": 9}, {"train": 0, "validation": 1, "test": 2}
    splits = {}
    for split in sorted(sizes, key=lambda split: (canonical.get(split, 3), split)):  # the same texts in any order
        size = sizes[split]
        digit = held_out.get(split)
        starts = [n for n in range(100) if (n % 10 == digit if digit is not None else n % 10 not in (8, 9))]
        splits[split] = Dataset.from_dict({"text": [_counting(rng, starts) for _ in range(size)]})
    return DatasetDict({split: splits[split] for split in sizes})
