"""A model without inputs is a language model: prompts read exactly as in training, batched alike."""

import pytest
import torch

from seq2seq.builders import build_model
from seq2seq.config import DecoderConfig, ModelConfig
from seq2seq.data import Batch
from seq2seq.model import Seq2SeqModel
from seq2seq.prompts import read_prompts
from seq2seq.sampling import Sampling
from seq2seq.tokenization import BOS_ID, PAD_ID

VOCAB = 20
PROMPTS = [[5, 6, 7, 8, 9], [10, 11], [], [12, 4, 6]]


def make_language_model(rnn_type: str = "gru", num_layers: int = 1) -> Seq2SeqModel:
    torch.manual_seed(0)
    config = ModelConfig(embedding_size=16, embedding_dropout=0.0,
                         decoder=DecoderConfig(rnn_type=rnn_type, hidden_size=24, num_layers=num_layers, dropout=0.0))
    return build_model(config, {}, source_vocab_size=VOCAB, target_vocab_size=VOCAB).eval()


def prompt_batch(prompts: list[list[int]]) -> Batch:
    tgt_in = torch.full((len(prompts), 1 + max(map(len, prompts))), PAD_ID)
    for row, ids in enumerate(prompts):
        tgt_in[row, : 1 + len(ids)] = torch.tensor([BOS_ID, *ids])
    return Batch({}, tgt_in=tgt_in)


def test_a_language_model_has_no_attention_and_starts_from_zero():
    model = make_language_model()
    assert model.decoder.attention is None and model.decoder.bridge is None and not model.encoders
    parameters = sum(p.numel() for p in model.parameters())
    # embedding + GRU + output layer, nothing else
    assert parameters == VOCAB * 16 + 3 * 24 * (16 + 24 + 2) + 24 * VOCAB + VOCAB


@pytest.mark.parametrize("rnn_type,num_layers", [("gru", 1), ("lstm", 2), ("elman", 1)])
def test_the_first_new_token_is_predicted_as_in_teacher_forcing(rnn_type, num_layers):
    """Reading a prompt then stepping its last token gives the teacher-forced logits at that
    position, for every row of a padded batch (an empty prompt: the logits after bos)."""
    model = make_language_model(rnn_type, num_layers)
    state, memory, last = read_prompts(model.decoder, prompt_batch(PROMPTS).tgt_in)
    stepped, _, _ = model.decoder.step(last, state, memory)
    for row, ids in enumerate(PROMPTS):
        tgt_in = torch.tensor([[BOS_ID, *ids]])
        start_state, start_memory = model.start(Batch({}, tgt_in=tgt_in))
        vectors, _ = model.decoder(tgt_in, start_state, start_memory)
        torch.testing.assert_close(stepped[row], model.decoder.output_layer(vectors[0, -1]), atol=1e-5, rtol=1e-5)


def test_prompts_generate_the_same_alone_and_batched_and_beam_one_is_greedy():
    model = make_language_model()
    batched = model.generate(prompt_batch(PROMPTS), max_length=12)
    for row, ids in enumerate(PROMPTS):
        alone = model.generate(prompt_batch([ids]), max_length=12)
        length = alone.tokens.size(-1)
        assert torch.equal(batched.tokens[row, :, :length], alone.tokens[0])
        torch.testing.assert_close(batched.scores[row], alone.scores[0])
    beam = model.generate(prompt_batch(PROMPTS), max_length=12, num_beams=1)
    assert torch.equal(beam.tokens, batched.tokens)
    wide = model.generate(prompt_batch(PROMPTS), max_length=12, num_beams=4)
    assert bool((wide.scores >= batched.scores - 1e-5).all())  # beam search finds at least greedy's score


def test_sampled_continuations_repeat_for_a_seed():
    model = make_language_model()
    sample = lambda seed: model.generate(prompt_batch(PROMPTS), max_length=15,  # noqa: E731
                                         sampling=Sampling(temperature=2.0, seed=seed)).tokens
    assert torch.equal(sample(3), sample(3))
    assert any(not torch.equal(sample(3), sample(seed)) for seed in range(4, 8))


def test_a_language_model_round_trips_through_its_directory(tmp_path):
    model = make_language_model("lstm", 2)
    model.save_pretrained(tmp_path / "model")
    loaded = Seq2SeqModel.from_pretrained(tmp_path / "model")
    batch = prompt_batch(PROMPTS)
    assert torch.equal(model.generate(batch, max_length=10).tokens, loaded.generate(batch, max_length=10).tokens)
    assert torch.equal(model.score(Batch({}, batch.tgt_in, batch.tgt_in.roll(-1, 1))),
                       loaded.score(Batch({}, batch.tgt_in, batch.tgt_in.roll(-1, 1))))


def test_a_prompt_row_without_bos_is_an_error():
    model = make_language_model()
    with pytest.raises(ValueError, match="bos"):
        read_prompts(model.decoder, torch.tensor([[BOS_ID, 5], [PAD_ID, PAD_ID]]))
