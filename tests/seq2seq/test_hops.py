"""Multi-hop reading of a memory before decoding, and a model's query input."""

import pytest
import torch
import torch.nn.functional as F

from seq2seq.builders import build_model
from seq2seq.config import InputConfig, ModelConfig
from seq2seq.data import Batch
from seq2seq.hops import CombinedReader, MultiHopReader, QueryReductionLayer, QueryReductionReader
from seq2seq.model import Seq2SeqModel


@pytest.mark.parametrize("reader_class", [MultiHopReader, QueryReductionReader, CombinedReader])
def test_each_hop_reads_real_positions_only_and_padding_changes_nothing(reader_class):
    torch.manual_seed(0)
    reader = reader_class(size=6, hops=3).eval()
    query, states = torch.randn(2, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    states[0, 3] = 0.0
    read = reader(query, states, mask)
    rows = 6 if reader_class is CombinedReader else 3  # both readers' hops
    assert len(reader.labels) == rows
    assert read.final.shape == (2, 6) and read.queries.shape == (2, rows, 6) and read.weights.shape == (2, rows, 4)
    if reader_class is CombinedReader:  # the sum of the two readers' final queries
        torch.testing.assert_close(read.final, read.queries[:, 2] + read.queries[:, 5])
    else:
        torch.testing.assert_close(read.queries[:, -1], read.final)
    if reader_class is not QueryReductionReader:  # attention: each hop is a distribution
        torch.testing.assert_close(read.weights[:, -3:].sum(dim=-1), torch.ones(2, 3))
    assert read.weights[0, :, 3].abs().max() == 0
    alone = reader(query[:1], states[:1, :3], mask[:1, :3])
    torch.testing.assert_close(alone.final, read.final[:1])
    torch.testing.assert_close(alone.weights, read.weights[:1, :, :3])
    with pytest.raises(ValueError, match="hops must be at least 1"):
        reader_class(size=6, hops=0)


def test_a_query_reduction_layer_computes_its_recurrence_for_all_steps_at_once():
    torch.manual_seed(0)
    layer = QueryReductionLayer(4)
    states, queries = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    reduced, update = layer(states, queries, mask)
    # The recurrence step by step: h_t = z_t r_t tanh(W [x_t; q_t]) + (1 - z_t) h_{t-1}, h_0 = 0.
    hidden, expected = torch.zeros(2, 4), []
    for t in range(5):
        matched = states[:, t] * queries[:, t]
        z = torch.sigmoid(layer.update_gate(matched)) * mask[:, t : t + 1]
        r = torch.sigmoid(layer.reset_gate(matched))
        candidate = torch.tanh(layer.candidate(torch.cat([states[:, t], queries[:, t]], dim=-1)))
        hidden = z * r * candidate + (1 - z) * hidden
        expected.append(hidden)
    torch.testing.assert_close(reduced, torch.stack(expected, dim=1))
    assert update[0, 3:].abs().max() == 0


def test_the_backward_pass_reads_each_story_from_its_own_last_sentence():
    torch.manual_seed(0)
    reader = QueryReductionReader(size=4, hops=1).eval()
    query, states = torch.randn(1, 4), torch.randn(1, 3, 4)
    padded = torch.cat([states, torch.randn(1, 2, 4)], dim=1)  # garbage past the end is never read
    mask = torch.tensor([[True, True, True, False, False]])
    torch.testing.assert_close(reader(query, padded, mask).final, reader(query, states, mask[:, :3]).final)
    # Reversing the sentences changes the answer: the passes see their order.
    in_order = reader(query, states, mask[:, :3]).final
    assert not torch.allclose(reader(query, states.flip(1), mask[:, :3]).final, in_order)


def two_text_inputs(**model):
    config = ModelConfig(embedding_size=8, embedding_dropout=0.0, **model)
    config.decoder.hidden_size, config.decoder.attention_size, config.decoder.dropout = 12, 6, 0.0
    inputs = {name: InputConfig(modality="text") for name in ("context", "question")}
    for spec in inputs.values():
        spec.encoder.hidden_size, spec.encoder.dropout = 5, 0.0
    torch.manual_seed(0)
    return build_model(config, inputs, source_vocab_size=20, target_vocab_size=15).eval()


def batch():
    context = torch.tensor([[4, 5, 6, 3], [7, 8, 3, 0]])
    question = torch.tensor([[9, 3], [10, 3]])
    return Batch({"context": (context, context != 0), "question": (question, question != 0)})


def test_text_inputs_share_one_embedding():
    model = two_text_inputs()
    assert model.encoders["context"].embedding is model.encoders["question"].embedding


def test_the_query_input_starts_the_decoder_and_hops_read_the_other_inputs():
    model = two_text_inputs(query_input="question")
    question = model.encoders["question"](*batch().inputs["question"])
    torch.testing.assert_close(model.encode(batch()).final, question.final)
    model = two_text_inputs(query_input="question", hops=2)
    context = model.encoders["context"](*batch().inputs["context"])
    question = model.encoders["question"](*batch().inputs["question"])
    # The reader sees the context's memory as the decoder does: with the context's input embedding.
    expected = model.reader(question.final, context.states + model.input_embedding.weight[0], context.mask).final
    encoded = model.encode(batch())
    torch.testing.assert_close(encoded.final, expected)
    assert encoded.states.shape[1] == 4 + 2  # the decoder still attends over both inputs
    with pytest.raises(ValueError, match="query_input 'answer' is not one of the model's inputs"):
        two_text_inputs(query_input="answer")
    with pytest.raises(ValueError, match="hops over several inputs need a query_input"):
        two_text_inputs(hops=2)


def sentence_inputs(position_encoding: str = "none", **model):
    config = ModelConfig(embedding_size=8, embedding_dropout=0.0, query_input="question", hops=2, **model)
    config.decoder.hidden_size, config.decoder.attention_size, config.decoder.dropout = 12, 6, 0.0
    inputs = {"context": InputConfig(modality="text", processor={"sentences": True, "max_sentences": 10}),
              "question": InputConfig(modality="text")}
    for spec in inputs.values():
        spec.encoder.hidden_size, spec.encoder.dropout, spec.encoder.bag_of_words = 4, 0.0, True
        spec.encoder.position_encoding = position_encoding
    inputs["context"].encoder.memory_unit, inputs["context"].encoder.sentence_rnn = "sentences", False
    torch.manual_seed(0)
    return build_model(config, inputs, source_vocab_size=20, target_vocab_size=15).eval()


def story_batch():
    context = torch.tensor([[[4, 5, 3], [6, 7, 3], [8, 3, 0]], [[9, 5, 3], [0, 0, 0], [0, 0, 0]]])
    question = torch.tensor([[10, 3], [11, 3]])
    return Batch({"context": (context, context != 0), "question": (question, question != 0)},
                 torch.tensor([[1, 12], [1, 13]]), torch.tensor([[12, 2], [13, 2]]))


@pytest.mark.parametrize("reader", ["attention", "query_reduction", "both"])
def test_a_decoder_that_reads_the_reader_attends_over_the_hops_queries(reader):
    model = sentence_inputs(reader=reader, decoder_memory="reader", share_text_rnn=True)
    assert model.encoders["question"].rnn is model.encoders["context"].word_rnn
    encoded = model.encode(story_batch())
    rows = 4 if reader == "both" else 2  # both readers' hops
    assert encoded.states.shape == (2, rows, 8) and bool(encoded.mask.all())  # (B, hops, D)
    assert model.hop_weights(story_batch()).shape == (2, rows, 3)  # (B, hops, sentences)
    assert model.hop_weights(story_batch())[1, :, 1:].abs().max() == 0
    loss = model(story_batch()).loss
    loss.backward()
    assert model.encoders["context"].word_rnn.weight_hh_l0.grad.abs().sum() > 0


def test_a_model_with_a_shared_rnn_and_reader_memory_round_trips_exactly(tmp_path):
    model = sentence_inputs(reader="query_reduction", decoder_memory="reader", share_text_rnn=True)
    model.save_pretrained(tmp_path / "model")
    loaded = Seq2SeqModel.from_pretrained(tmp_path / "model")
    assert loaded.encoders["question"].rnn is loaded.encoders["context"].word_rnn
    torch.testing.assert_close(loaded(story_batch()).loss, model(story_batch()).loss, rtol=0, atol=0)
    generated = loaded.generate(story_batch(), max_length=4)
    torch.testing.assert_close(generated.tokens, model.generate(story_batch(), max_length=4).tokens)


@pytest.mark.parametrize("position_encoding", ["replace", "add"])
def test_position_encoding_reaches_both_encoders_and_is_saved_with_the_model(tmp_path, position_encoding):
    model = sentence_inputs(position_encoding)
    assert [encoder.position_encoding for encoder in model.encoders.values()] == [position_encoding] * 2
    # Same weights (same seed), plain bags: the loss differs, so the setting is in the computation.
    assert not torch.allclose(sentence_inputs()(story_batch()).loss, model(story_batch()).loss)
    model.save_pretrained(tmp_path / "model")
    loaded = Seq2SeqModel.from_pretrained(tmp_path / "model")
    assert [encoder.position_encoding for encoder in loaded.encoders.values()] == [position_encoding] * 2
    torch.testing.assert_close(loaded(story_batch()).loss, model(story_batch()).loss, rtol=0, atol=0)


def test_reader_settings_that_cannot_work_are_errors():
    with pytest.raises(ValueError, match="decoder_memory 'reader' needs hops"):
        two_text_inputs(decoder_memory="reader")
    with pytest.raises(ValueError, match="bag_of_words adds the embeddings"):
        config = ModelConfig(embedding_size=8)
        spec = InputConfig(modality="text")
        spec.encoder.hidden_size, spec.encoder.bag_of_words = 5, True
        build_model(config, {"source": spec}, source_vocab_size=20, target_vocab_size=15)


def test_the_text_embedding_can_start_small():
    model = sentence_inputs(embedding_init_std=0.1)
    weight = model.encoders["context"].embedding.weight
    assert weight[0].abs().max() == 0  # padding stays zero
    assert 0.07 < weight[1:].std().item() < 0.13
    assert two_text_inputs().encoders["context"].embedding.weight[1:].std().item() > 0.7  # PyTorch's N(0, 1)


@pytest.mark.parametrize("reader", ["attention", "query_reduction", "both"])
def test_supervising_the_hops_adds_a_loss_that_pulls_them_toward_the_facts(reader):
    model = sentence_inputs(reader=reader, decoder_memory="reader", hop_supervision=1.0).train()
    plain = story_batch()
    supervised = Batch(plain.inputs, plain.tgt_in, plain.tgt_out, torch.tensor([[2, 0], [0, -1]]))
    torch.manual_seed(0)
    without = model(plain).loss_sum
    torch.manual_seed(0)
    with_facts = model(supervised).loss_sum
    assert with_facts > without  # an untrained reader does not read the facts yet
    weights = model.hop_weights(supervised)

    def attention_loss(hops):  # hop 1 -> sentence 2, hop 2 -> sentence 0; story 2: hop 1 -> sentence 0
        return -(hops[0, 0, 2].log() + hops[0, 1, 0].log() + hops[1, 0, 0].log())

    def reduction_loss(gates):  # every layer's gates open at the facts (sentences 0 and 2; 0) only
        targets = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]).unsqueeze(1).expand_as(gates)
        return F.binary_cross_entropy(gates.clamp(1e-6, 1 - 1e-6), targets, reduction="sum")

    expected = {"attention": lambda: attention_loss(weights), "query_reduction": lambda: reduction_loss(weights),
                "both": lambda: reduction_loss(weights[:, :2]) + attention_loss(weights[:, 2:])}[reader]()
    torch.testing.assert_close(with_facts - without, expected, rtol=1e-4, atol=1e-4)
    model.eval()  # evaluation reports the answer's loss only
    torch.testing.assert_close(model(supervised).loss_sum, model(plain).loss_sum)
