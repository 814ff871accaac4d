"""Multi-hop reading of a memory before decoding, and a model's query input."""

import pytest
import torch

from seq2seq.config import InputConfig, ModelConfig
from seq2seq.data import Batch
from seq2seq.hops import MultiHopReader
from seq2seq.model import build_model


def test_each_hop_is_a_distribution_over_real_positions_and_padding_changes_nothing():
    torch.manual_seed(0)
    reader = MultiHopReader(size=6, hidden_size=5, hops=3).eval()
    query, states = torch.randn(2, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    states[0, 3] = 0.0
    read, weights = reader(query, states, mask)
    assert read.shape == (2, 6) and weights.shape == (2, 3, 4)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 3))
    assert weights[0, :, 3].abs().max() == 0
    alone, alone_weights = reader(query[:1], states[:1, :3], mask[:1, :3])
    torch.testing.assert_close(alone, read[:1])
    torch.testing.assert_close(alone_weights, weights[:1, :, :3])
    with pytest.raises(ValueError, match="hops must be at least 1"):
        MultiHopReader(size=6, hidden_size=5, hops=0)


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
    expected, _ = model.reader(question.final, context.states + model.input_embedding.weight[0], context.mask)
    encoded = model.encode(batch())
    torch.testing.assert_close(encoded.final, expected)
    assert encoded.states.shape[1] == 4 + 2  # the decoder still attends over both inputs
    with pytest.raises(ValueError, match="query_input 'answer' is not one of the model's inputs"):
        two_text_inputs(query_input="answer")
    with pytest.raises(ValueError, match="hops over several inputs need a query_input"):
        two_text_inputs(hops=2)
