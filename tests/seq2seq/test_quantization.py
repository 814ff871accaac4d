"""int8 dynamic quantization: close to fp32, saved as int8 and loaded bit for bit, smaller on disk."""

import json

import pytest
import torch
from conftest import collate, make_model

from seq2seq.model import Seq2SeqModel
from seq2seq.quantization import is_quantized, quantize_int8


def examples():
    return [{"src_ids": [5, 6, 7, 8, 3], "tgt_ids": [9, 10, 11]},
            {"src_ids": [12, 3], "tgt_ids": [13, 14, 15, 16, 17]},
            {"src_ids": [20, 21, 22, 23, 24, 25, 3], "tgt_ids": [18]}]


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "elman"])
def test_an_int8_model_scores_close_to_fp32_and_round_trips_exactly(tmp_path, rnn_type):
    model = make_model(rnn_type=rnn_type, num_layers=2)
    model.config = {"model": {}, "inputs": {}, "source_vocab_size": 30, "target_vocab_size": 40}
    fp32 = model.score(collate(examples()))
    model.save_pretrained(tmp_path / "fp32", extra=_description(rnn_type))
    quantize_int8(model)
    assert is_quantized(model)
    int8 = model.score(collate(examples()))
    torch.testing.assert_close(int8, fp32, atol=0.05 * fp32.abs().max().item(), rtol=0)  # int8 rounding only
    model.save_pretrained(tmp_path / "int8", extra=_description(rnn_type))
    assert json.loads((tmp_path / "int8" / "config.json").read_text())["quantization"] == "int8"
    loaded = Seq2SeqModel.from_pretrained(tmp_path / "int8")
    assert is_quantized(loaded)
    batch = collate(examples())
    assert torch.equal(loaded.score(batch), int8)
    assert torch.equal(loaded.generate(batch, num_beams=3, max_length=6).tokens,
                       model.generate(batch, num_beams=3, max_length=6).tokens)
    if rnn_type != "elman":  # the Elman RNN has no int8 kernel and stays fp32
        size = lambda name: (tmp_path / name / "model.safetensors").stat().st_size  # noqa: E731
        assert size("int8") < 0.5 * size("fp32")  # embeddings stay fp32; the rest takes a quarter


def _description(rnn_type):
    """What config.json needs to rebuild make_model's model."""
    from conftest import Config

    full = Config()
    full.model.embedding_size, full.model.embedding_dropout = 16, 0.0
    encoder = full.inputs["source"].encoder
    encoder.rnn_type, encoder.hidden_size, encoder.num_layers, encoder.dropout = rnn_type, 12, 2, 0.0
    decoder = full.model.decoder
    decoder.rnn_type, decoder.hidden_size, decoder.num_layers = rnn_type, 24, 2
    decoder.attention_size, decoder.dropout = 20, 0.0
    from seq2seq.config import config_to_dict

    return {"model": config_to_dict(full.model), "inputs": {"source": config_to_dict(full.inputs["source"])},
            "source_vocab_size": 30, "target_vocab_size": 40}


def test_quantizing_twice_changes_nothing_and_a_gpu_model_is_refused():
    model = quantize_int8(make_model())
    before = model.score(collate(examples()))
    assert torch.equal(quantize_int8(model).score(collate(examples())), before)
    with pytest.raises(ValueError, match="quantization must be one of int8"):
        from seq2seq.quantization import check_quantization

        check_quantization("int4")
