"""The generated QA world: answers checked by replaying each story's sentences independently."""

import collections
import re

from seq2seq.synthetic_qa import QUESTION_TYPES, make_qa_corpus


def replay(sentences):
    """Places and holders read back from the text alone."""
    place, holder, dropped, history = {}, {}, {}, collections.defaultdict(list)
    for sentence in sentences:
        if m := re.fullmatch(r"(\w+) (?:went|moved|journeyed|travelled) to the (\w+)\.", sentence):
            place[m[1]] = m[2]
            history[m[1]].append(m[2])
        elif m := re.fullmatch(r"(\w+) picked up the (\w+)\.", sentence):
            holder[m[2]] = m[1]
            dropped.pop(m[2], None)
        elif m := re.fullmatch(r"(\w+) dropped the (\w+)\.", sentence):
            del holder[m[2]]
            dropped[m[2]] = place[m[1]]
        elif m := re.fullmatch(r"(\w+) gave the (\w+) to (\w+)\.", sentence):
            assert place[m[1]] == place[m[3]]  # passing needs both in one place
            holder[m[2]] = m[3]
        else:
            raise AssertionError(f"unexpected sentence {sentence!r}")
    return place, holder, dropped, history


def expected_answer(row):
    place, holder, dropped, history = replay(row["context_sentences"])
    question = row["question"]
    if m := re.fullmatch(r"Where is (\w+)\?", question):
        return place[m[1]]
    if m := re.fullmatch(r"Where is the (\w+)\?", question):
        return place[holder[m[1]]] if m[1] in holder else dropped[m[1]]
    if m := re.fullmatch(r"Where was (\w+) before the (\w+)\?", question):
        assert history[m[1]][-1] == m[2]
        return history[m[1]][-2]
    if m := re.fullmatch(r"Who has the (\w+)\?", question):
        return holder.get(m[1], "nobody")
    if m := re.fullmatch(r"Is (\w+) in the (\w+)\?", question):
        return "yes" if place[m[1]] == m[2] else "no"
    carried = sorted(thing for thing, person in holder.items() if person == question.split()[-2])
    if question.startswith("How many"):
        return ["none", "one", "two", "three", "four"][len(carried)]
    return ",".join(carried) or "nothing"


def test_every_answer_follows_from_the_story():
    corpus = make_qa_corpus({"train": 600, "validation": 200}, seed=3)
    for row in corpus["train"]:
        assert row["answer"] == expected_answer(row), row
        assert row["context"] == " ".join(row["context_sentences"])


def test_all_question_types_appear_with_varied_answers_and_splits_do_not_overlap():
    corpus = make_qa_corpus({"train": 600, "validation": 200}, seed=3)
    types = collections.Counter(corpus["train"]["type"])
    assert set(types) == set(QUESTION_TYPES) and min(types.values()) >= 30, types
    yes_no = collections.Counter(a for a, t in zip(corpus["train"]["answer"], corpus["train"]["type"], strict=True)
                                 if t == "yes_no")
    assert yes_no["yes"] > 0.3 * sum(yes_no.values()) and yes_no["no"] > 0.3 * sum(yes_no.values())
    assert any("," in answer for answer in corpus["train"]["answer"])  # several-word answers occur
    train = set(zip(corpus["train"]["context"], corpus["train"]["question"], strict=True))
    assert not train & set(zip(corpus["validation"]["context"], corpus["validation"]["question"], strict=True))
    assert make_qa_corpus({"train": 50}, seed=3)["train"][:] == make_qa_corpus({"train": 50}, seed=3)["train"][:]
