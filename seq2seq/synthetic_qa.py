"""Generated question answering in the spirit of bAbI: a small world simulator.

People move between places and pick up, drop and pass objects. After each story of 2-12
statements come questions of seven types, every one answerable from the story alone:

- ``where_person``: "Where is Mary?" -> "kitchen"
- ``where_object``: "Where is the apple?" -> the place of whoever holds it, or where it was dropped
- ``where_before``: "Where was Mary before the kitchen?" -> the place she left to go there
- ``who_has``: "Who has the apple?" -> "John" or "nobody"
- ``yes_no``: "Is Mary in the kitchen?" -> "yes" / "no"
- ``count``: "How many objects is Mary carrying?" -> "none", "one", "two", ...
- ``carrying``: "What is Mary carrying?" -> "apple,football" (several words) or "nothing"

Rows have the bAbI reader's columns (``context_sentences``, ``context``, ``question``,
``answer``) plus ``type``. Splits never share a (story, question) pair.
"""

from __future__ import annotations

import random
from typing import Any

from datasets import Dataset, DatasetDict

PEOPLE = ("Mary", "John", "Sandra", "Daniel", "Fred", "Julie")
PLACES = ("kitchen", "garden", "hallway", "bathroom", "bedroom", "office")
OBJECTS = ("apple", "football", "milk", "book")
MOVES = ("went to", "moved to", "journeyed to", "travelled to")
NUMBERS = ("none", "one", "two", "three", "four")
QUESTION_TYPES = ("where_person", "where_object", "where_before", "who_has", "yes_no", "count", "carrying")


class World:
    """Who is where, who holds what, and where each person has been."""

    def __init__(self) -> None:
        self.place: dict[str, str] = {}  # person -> current place
        self.history: dict[str, list[str]] = {}  # person -> places in order
        self.holder: dict[str, str] = {}  # object -> person holding it
        self.dropped: dict[str, str] = {}  # object -> place where it lies

    def carried(self, person: str) -> list[str]:
        return sorted(o for o, p in self.holder.items() if p == person)

    def act(self, rng: random.Random) -> str:
        """One random event that is possible in the current state, as a sentence."""
        while True:
            person = rng.choice(PEOPLE)
            kind = rng.choice(("move", "move", "pick", "drop", "give")) if person in self.place else "move"
            here = self.place.get(person)
            if kind == "move":
                place = rng.choice([p for p in PLACES if p != here])
                self.place[person] = place
                self.history.setdefault(person, []).append(place)
                return f"{person} {rng.choice(MOVES)} the {place}."
            if kind == "pick":
                free = [o for o in OBJECTS if o not in self.holder and self.dropped.get(o, here) == here]
                if free:
                    thing = rng.choice(free)
                    self.holder[thing] = person
                    self.dropped.pop(thing, None)
                    return f"{person} picked up the {thing}."
            if kind == "drop" and self.carried(person):
                thing = rng.choice(self.carried(person))
                del self.holder[thing]
                self.dropped[thing] = here
                return f"{person} dropped the {thing}."
            if kind == "give" and self.carried(person):
                others = [p for p in PEOPLE if p != person and self.place.get(p) == here]
                if others:
                    thing, other = rng.choice(self.carried(person)), rng.choice(others)
                    self.holder[thing] = other
                    return f"{person} gave the {thing} to {other}."

    def questions(self, rng: random.Random) -> list[tuple[str, str, str]]:
        """Every question this state can answer, as (type, question, answer)."""
        asked = []
        for person, place in self.place.items():
            asked.append(("where_person", f"Where is {person}?", place))
            asked_about = place if rng.random() < 0.5 else rng.choice([p for p in PLACES if p != place])
            asked.append(("yes_no", f"Is {person} in the {asked_about}?", "yes" if asked_about == place else "no"))
            history = self.history[person]
            if len(history) >= 2:
                asked.append(("where_before", f"Where was {person} before the {history[-1]}?", history[-2]))
            carried = self.carried(person)
            asked.append(("count", f"How many objects is {person} carrying?", NUMBERS[len(carried)]))
            asked.append(("carrying", f"What is {person} carrying?", ",".join(carried) or "nothing"))
        for thing in OBJECTS:
            if thing in self.holder:
                asked.append(("where_object", f"Where is the {thing}?", self.place[self.holder[thing]]))
                asked.append(("who_has", f"Who has the {thing}?", self.holder[thing]))
            elif thing in self.dropped:
                asked.append(("where_object", f"Where is the {thing}?", self.dropped[thing]))
                asked.append(("who_has", f"Who has the {thing}?", "nobody"))
        return asked


def sample_questions(rng: random.Random, *, min_statements: int = 2, max_statements: int = 12,
                     per_story: int = 3) -> list[dict[str, Any]]:
    """One story and up to ``per_story`` questions about it, each of a different type when possible."""
    world, sentences = World(), []
    for _ in range(rng.randint(min_statements, max_statements)):
        sentences.append(world.act(rng))
    by_type: dict[str, list[tuple[str, str]]] = {}
    for kind, question, answer in world.questions(rng):
        by_type.setdefault(kind, []).append((question, answer))
    kinds = rng.sample(sorted(by_type), min(per_story, len(by_type)))
    rows = []
    for kind in kinds:
        question, answer = rng.choice(by_type[kind])
        rows.append({"context_sentences": list(sentences), "context": " ".join(sentences), "question": question,
                     "answer": answer, "type": kind})
    return rows


def make_qa_corpus(sizes: dict[str, int], seed: int = 1234) -> DatasetDict:
    """``sizes[split]`` questions per split; a (story, question) pair is in one split only."""
    seen: set[tuple[str, str]] = set()
    splits = {}
    canonical = {"train": 0, "validation": 1, "test": 2}  # a fixed order, however the mapping is written
    for split in sorted(sizes, key=lambda split: (canonical.get(split, 3), split)):
        size = sizes[split]
        rng, rows = random.Random(f"{seed}:{split}"), []
        while len(rows) < size:
            for row in sample_questions(rng):
                key = (row["context"], row["question"])
                if key not in seen and len(rows) < size:
                    seen.add(key)
                    rows.append(row)
        splits[split] = Dataset.from_list(rows)
    return DatasetDict(splits)
