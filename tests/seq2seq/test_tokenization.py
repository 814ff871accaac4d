import pytest

from seq2seq.synthetic import make_corpus
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID, Tokenizer


@pytest.fixture(scope="module")
def corpus():
    data = make_corpus("numbers_en_de", {"train": 800})["train"]
    return data["source"], data["target"]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
@pytest.mark.parametrize("joint", [False, True])
def test_round_trip_and_special_ids(corpus, model_type, joint):
    sources, targets = corpus
    tokenizer = Tokenizer.train(sources, targets, vocab_size=80, model_type=model_type, joint=joint)
    assert tokenizer.joint == joint
    assert tokenizer.decode_target(tokenizer.encode_target(targets[:50])) == targets[:50]
    encoded = tokenizer.encode_source(sources[:5])
    assert all(ids[-1] == EOS_ID for ids in encoded)
    assert all(min(ids[:-1]) > EOS_ID for ids in encoded)  # no special ids inside text


def test_separate_vocabularies_differ_and_joint_is_shared(corpus):
    sources, targets = corpus
    separate = Tokenizer.train(sources, targets, vocab_size=60)
    assert separate.source.id_to_piece(10) != separate.target.id_to_piece(10) or \
        separate.source_vocab_size != separate.target_vocab_size
    joint = Tokenizer.train(sources, targets, vocab_size=60, joint=True)
    assert joint.source_vocab_size == joint.target_vocab_size


def test_decode_stops_at_eos_and_drops_padding(corpus):
    sources, targets = corpus
    tokenizer = Tokenizer.train(sources, targets, vocab_size=60)
    ids = tokenizer.encode_target(["zwei"])[0]
    assert tokenizer.decode_target([[BOS_ID, *ids, EOS_ID, *ids, PAD_ID]]) == ["zwei"]


def test_save_and_load_give_identical_ids(corpus, tmp_path):
    sources, targets = corpus
    tokenizer = Tokenizer.train(sources, targets, vocab_size=60)
    tokenizer.save_pretrained(tmp_path)
    loaded = Tokenizer.from_pretrained(tmp_path)
    assert loaded.encode_source(sources[:20]) == tokenizer.encode_source(sources[:20])
    assert loaded.encode_target(targets[:20]) == tokenizer.encode_target(targets[:20])


def test_loading_a_non_tokenizer_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer_config.json"):
        Tokenizer.from_pretrained(tmp_path)


def test_empty_training_text_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        Tokenizer.train(["", " "], ["a"], vocab_size=10)
