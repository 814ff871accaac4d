import pytest

from seq2seq.sentences import join_translations, sentence_spans


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Ein Hund läuft. Zwei Katzen schlafen!  Wo ist der Ball?",
     ["Ein Hund läuft.", "Zwei Katzen schlafen!", "Wo ist der Ball?"]),
    ("Dr. Müller kam am 3. Mai. Er blieb.", ["Dr. Müller kam am 3. Mai.", "Er blieb."]),  # abbreviation, ordinal
    ('J. Smith said "Hello." Then he left.', ['J. Smith said "Hello."', "Then he left."]),  # initial, quote
    ("Es kostet 3.50 Euro. Gut.", ["Es kostet 3.50 Euro.", "Gut."]),
    ("e.g. this one. And z.B. diese.", ["e.g. this one.", "And z.B. diese."]),
    ("it ends. but lower case follows", ["it ends. but lower case follows"]),
    ("Line one\nLine two.\n\nParagraph two. Another", ["Line one", "Line two.", "Paragraph two.", "Another"]),
    ("我很好。你呢？好的", ["我很好。", "你呢？", "好的"]),
    ("three hundred forty-two", ["three hundred forty-two"]),
    ("   ", []),
])
def test_sentence_boundaries(text, expected):
    assert sentences(text) == expected


@pytest.mark.parametrize("text", ["  Eins. Zwei!\n\n  Drei?  ", "Ohne Ende", "A.\tB.\r\nC."])
def test_joining_keeps_every_character_between_sentences(text):
    spans = sentence_spans(text)
    assert join_translations(text, spans, [text[start:end] for start, end in spans]) == text
    marked = join_translations(text, spans, [f"<{i}>" for i in range(len(spans))])
    assert [marked.count(f"<{i}>") for i in range(len(spans))] == [1] * len(spans)
    with pytest.raises(ValueError, match="sentences but"):
        join_translations(text, spans, [])


@pytest.mark.parametrize(("text", "expected"), [
    ("three hundred forty-two. three hundred forty-two. seven.",
     ["three hundred forty-two.", "three hundred forty-two.", "seven."]),
    ("a dog runs . two cats sleep !", ["a dog runs .", "two cats sleep !"]),  # tokenized: space before the stop
    ("dr. müller kam am 3. mai. er blieb.", ["dr. müller kam am 3. mai.", "er blieb."]),  # exceptions hold
    ("e.g. this one. and z.b. diese.", ["e.g. this one.", "and z.b. diese."]),
])
def test_lowercased_text_splits_before_a_lowercase_letter(text, expected):
    assert [text[start:end] for start, end in sentence_spans(text, lowercase=True)] == expected
    assert len(sentence_spans(text)) < len(expected)  # cased rules: a lowercase letter starts no sentence
