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


def vocabulary(processor) -> set[str]:
    return {processor.id_to_piece(i) for i in range(processor.get_piece_size())}


def test_separate_vocabularies_are_per_language_and_a_joint_one_covers_both(corpus):
    sources, targets = corpus  # English and German number words
    separate = Tokenizer.train(sources, targets, vocab_size=60)
    source_pieces, target_pieces = vocabulary(separate.source), vocabulary(separate.target)
    assert "▁hundred" in source_pieces and "▁hundred" not in target_pieces
    assert any("hundert" in piece for piece in target_pieces)
    assert not any("hundert" in piece for piece in source_pieces)
    joint = Tokenizer.train(sources, targets, vocab_size=80, joint=True)  # room for both languages
    pieces = vocabulary(joint.source)
    assert any("hundred" in piece for piece in pieces) and any("hundert" in piece for piece in pieces)
    # One vocabulary: a sentence gets the same ids whichever side encodes it.
    assert joint.encode_target(targets[:20]) == [ids[:-1] for ids in joint.encode_source(targets[:20])]


def test_fingerprint_identifies_the_models(corpus):
    sources, targets = corpus
    first = Tokenizer.train(sources, targets, vocab_size=60)
    assert Tokenizer.train(sources, targets, vocab_size=60).fingerprint == first.fingerprint  # deterministic
    assert Tokenizer.train(sources, targets, vocab_size=70).fingerprint != first.fingerprint
    assert Tokenizer.train(targets, sources, vocab_size=60).fingerprint != first.fingerprint


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


def test_a_lowercased_source_folds_case_when_it_encodes_and_after_loading(tmp_path):
    sources = ["Sheep are afraid of wolves.", "Gertrude is a sheep.", "What is gertrude afraid of?"] * 30
    tokenizer = Tokenizer.train(sources, ["Wolf", "wolf"] * 20, vocab_size=60, model_type="bpe",
                                lowercase_source=True)
    assert tokenizer.encode_source(["Gertrude SHEEP"]) == tokenizer.encode_source(["gertrude sheep"])
    assert tokenizer.decode_target(tokenizer.encode_target(["Wolf"])) == ["Wolf"]  # the target keeps its case
    tokenizer.save_pretrained(tmp_path)
    assert Tokenizer.from_pretrained(tmp_path).encode_source(["Gertrude"]) == tokenizer.encode_source(["gertrude"])


SAMPLED_TOKENIZER = """
import hashlib, random
from seq2seq.tokenization import train_sentencepiece
rng = random.Random(0)
words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 7))) for _ in range(400)]
sentences = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(3000)]
model = train_sentencepiece(sentences, vocab_size=200, max_sentences=500)
print(hashlib.sha256(model.serialized_model_proto()).hexdigest())
"""


def test_a_corpus_above_max_sentences_is_sampled_reproducibly():
    """SentencePiece's own sample (input_sentence_size) is drawn anew in every process."""
    import subprocess
    import sys

    digests = {subprocess.run([sys.executable, "-c", SAMPLED_TOKENIZER], capture_output=True, text=True,
                              check=True).stdout for _ in range(2)}
    assert len(digests) == 1


@pytest.mark.parametrize("model_type", ["char", "unigram"])
def test_keep_whitespace_decodes_exactly_the_text_it_encoded(model_type, tmp_path):
    """Newlines, runs of spaces and a leading space survive; the default normalisation drops them."""
    texts = ["ROMEO:\nBut soft,  what light\n\n", "  two leading spaces", "tabs\tand\nlines\n"] * 20
    exact = Tokenizer.train(None, texts, vocab_size=40, model_type=model_type, keep_whitespace=True)
    assert exact.decode_target(exact.encode_target(texts)) == texts
    exact.save_pretrained(tmp_path / "tok")
    assert Tokenizer.from_pretrained(tmp_path / "tok").decode_target(exact.encode_target(texts)) == texts
    normalised = Tokenizer.train(None, texts, vocab_size=40, model_type=model_type)
    assert normalised.decode_target(normalised.encode_target(texts[:1])) != texts[:1]
    if model_type == "char":  # one token per character: a loss per token is a loss per character
        assert [len(ids) for ids in exact.encode_target(texts)] == [len(text) for text in texts]
