"""The text processor: flat token ids, or token ids per sentence for sentence-level encoders."""

import pytest

from seq2seq.processors import TextProcessor, build_processor
from seq2seq.tokenization import EOS_ID, PAD_ID, Tokenizer

STORY = ["Mary went to the kitchen.", "John picked up the apple.", "Mary went to the garden."]


@pytest.fixture(scope="module")
def tokenizer():
    words = STORY + ["Where is Mary?", "Sandra dropped the milk."]
    return Tokenizer.train(words * 20, ["kitchen", "garden"] * 20, vocab_size=60, model_type="bpe")


def test_a_flat_processor_reads_a_list_of_sentences_as_their_text(tokenizer):
    processor = TextProcessor(tokenizer)
    assert processor.encode([STORY]) == processor.encode([" ".join(STORY)])
    assert processor.num_tokens(processor.encode([STORY])[0]) == len(processor.encode([STORY])[0])


def test_sentences_are_tokenized_one_by_one_and_only_the_latest_are_kept(tokenizer):
    processor = TextProcessor(tokenizer, sentences=True, max_sentences=2)
    from_list, from_text = processor.encode([STORY, " ".join(STORY)])
    assert from_list == from_text == [tokenizer.encode_source([s])[0] for s in STORY[1:]]
    assert processor.num_tokens(from_list) == sum(map(len, from_list))
    assert processor.encode([""]) == [[[EOS_ID]]]  # no sentence: one empty one, never nothing
    ids, mask = processor.collate([from_list, processor.encode([STORY[:1]])[0]])
    assert ids.shape == (2, 2, max(map(len, from_list)))
    assert mask.any(dim=-1).tolist() == [[True, True], [True, False]]
    assert (ids[~mask] == PAD_ID).all()


def test_sentence_settings_are_checked_and_saved(tokenizer):
    processor = build_processor("text", {"sentences": True, "max_sentences": 50}, tokenizer, "context")
    assert processor.to_dict() == {"kind": "text", "sentences": True, "max_sentences": 50}
    assert TextProcessor(tokenizer).to_dict() == {"kind": "text"}
    assert processor.fingerprint != TextProcessor(tokenizer).fingerprint
    with pytest.raises(ValueError, match="inputs.context.processor: unknown text processor setting 'sentence'"):
        build_processor("text", {"sentence": True}, tokenizer, "context")
    with pytest.raises(ValueError, match="max_sentences needs sentences: true"):
        build_processor("text", {"max_sentences": 5}, tokenizer, "context")
    with pytest.raises(TypeError, match="context 0: sentence 1 must be text"):
        processor.encode([["fine.", 7]], name="context")
