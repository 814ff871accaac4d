import pytest

from seq2seq.synthetic import english_number, german_number, make_corpus


@pytest.mark.parametrize(("n", "english", "german"), [
    (0, "zero", "null"),
    (1, "one", "eins"),
    (17, "seventeen", "siebzehn"),
    (21, "twenty-one", "einundzwanzig"),
    (101, "one hundred one", "einhunderteins"),
    (342, "three hundred forty-two", "dreihundertzweiundvierzig"),
    (1000, "one thousand", "eintausend"),
    (21001, "twenty-one thousand one", "einundzwanzigtausendeins"),
    (999999, "nine hundred ninety-nine thousand nine hundred ninety-nine",
     "neunhundertneunundneunzigtausendneunhundertneunundneunzig"),
])
def test_number_words(n, english, german):
    assert english_number(n) == english
    assert german_number(n) == german


def test_corpus_is_deterministic_and_splits_are_disjoint():
    sizes = {"train": 300, "validation": 50}
    first, second = make_corpus("numbers_en_de", sizes, seed=7), make_corpus("numbers_en_de", sizes, seed=7)
    assert first["train"]["source"] == second["train"]["source"]
    lowered = lambda split: {source.lower() for source in first[split]["source"]}  # noqa: E731
    assert not lowered("train") & lowered("validation")  # "One" in training: "one" is not held out
    reverse = make_corpus("reverse", {"train": 5})["train"][0]
    assert reverse["target"] == " ".join(reversed(reverse["source"].split()))


def test_unknown_corpus_is_an_error():
    with pytest.raises(ValueError, match="'nope'"):
        make_corpus("nope", {"train": 1})


def test_the_order_of_the_sizes_mapping_does_not_change_the_data():
    forward = make_corpus("reverse", {"train": 50, "validation": 10, "test": 10})
    shuffled = make_corpus("reverse", {"test": 10, "train": 50, "validation": 10})
    for split in ("train", "validation", "test"):
        assert forward[split]["source"] == shuffled[split]["source"]


def test_the_numbers_corpus_trains_on_what_users_type_first():
    """Small numbers keep their weight beside six-digit ones, lowercase and in sentence case."""
    sources = make_corpus("numbers_en_de", {"train": 20000, "validation": 500})["train"]["source"]
    counts = {}
    for source in sources:
        counts[source] = counts.get(source, 0) + 1
    for n in range(100):  # each about 20000 / 6 / 90 = 37 times or more
        assert counts.get(english_number(n), 0) >= 10, english_number(n)
    for n in range(10):  # each about 20000 / 6 / 10 / 4 = 83 times
        capitalised = english_number(n).capitalize()
        assert counts.get(capitalised, 0) >= 40, capitalised
    assert sum(source[0].isupper() for source in sources) == pytest.approx(len(sources) / 4, rel=0.05)
    assert len(counts) > 10000  # and still thousands of distinct large numbers
