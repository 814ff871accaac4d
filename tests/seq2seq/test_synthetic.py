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
    assert not set(first["train"]["source"]) & set(first["validation"]["source"])
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
