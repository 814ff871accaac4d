import json

import pytest
import torch
from conftest import collate, make_model

from seq2seq.model import Seq2SeqModel
from seq2seq.tokenization import BOS_ID, PAD_ID


def pairs():
    return [{"src_ids": [5, 6, 7, 8, 3], "tgt_ids": [9, 10, 11]},
            {"src_ids": [12, 3], "tgt_ids": [13, 14, 15, 16, 17]},
            {"src_ids": [20, 21, 22, 3], "tgt_ids": [18]}]


@pytest.mark.parametrize("input_feeding", [False, True])
def test_batch_loss_is_the_sum_of_per_example_losses(input_feeding):
    model = make_model(input_feeding=input_feeding)
    together = model(collate(pairs()))
    alone = [model(collate([pair])) for pair in pairs()]
    torch.testing.assert_close(together.loss_sum, sum(o.loss_sum for o in alone))
    assert int(together.num_tokens) == sum(len(p["tgt_ids"]) + 1 for p in pairs())
    torch.testing.assert_close(together.loss, together.loss_sum / together.num_tokens)


def test_score_matches_the_training_loss():
    model = make_model()
    data = collate(pairs())
    torch.testing.assert_close(-model.score(data).sum(), model(data).loss_sum)


def test_label_smoothing_spreads_mass_over_emittable_tokens_only():
    """Target distribution: 1 - eps on the reference, eps spread evenly over every token but pad and bos."""
    model = make_model(target_vocab_size=40)
    model.label_smoothing = 0.1
    data = collate(pairs())
    state, memory = model.start(data)
    att_vectors, _ = model.decoder(data.tgt_in, state, memory)
    mask = data.tgt_out != PAD_ID
    log_probs = torch.log_softmax(model.decoder.output_layer(att_vectors[mask]), dim=-1)  # (N, V)
    target = torch.full_like(log_probs, 0.1 / (40 - 2))
    target[:, [PAD_ID, BOS_ID]] = 0.0
    target[torch.arange(len(target)), data.tgt_out[mask]] += 0.9
    torch.testing.assert_close(target.sum(-1), torch.ones(len(target)))
    expected = -(target * log_probs).sum()
    torch.testing.assert_close(model(data).loss_sum, expected)


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "elman"])
def test_save_and_load_round_trip_exactly(tmp_path, rnn_type):
    model = make_model(rnn_type=rnn_type, input_feeding=True, attention="luong_general")
    model.save_pretrained(tmp_path / "model", extra={"task": "translation"})
    loaded = Seq2SeqModel.from_pretrained(tmp_path / "model")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    data = collate(pairs())
    torch.testing.assert_close(loaded(data).loss, model(data).loss, rtol=0, atol=0)
    assert torch.equal(loaded.generate(data, num_beams=3).tokens, model.generate(data, num_beams=3).tokens)
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["task"] == "translation" and saved["format_version"] == 2
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "model.safetensors"]


def test_saving_twice_replaces_the_directory(tmp_path):
    first, second = make_model(seed=1), make_model(seed=2)
    first.save_pretrained(tmp_path / "model")
    second.save_pretrained(tmp_path / "model")
    loaded = Seq2SeqModel.from_pretrained(tmp_path / "model")
    assert torch.equal(loaded.decoder.bridge.weight, second.decoder.bridge.weight)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging leftovers


def test_loading_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="model directory not found"):
        Seq2SeqModel.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        Seq2SeqModel.from_pretrained(tmp_path / "empty")
    make_model().save_pretrained(tmp_path / "model")
    (tmp_path / "model" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        Seq2SeqModel.from_pretrained(tmp_path / "model")
    (tmp_path / "model" / "config.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="model format version 99 is not supported"):
        Seq2SeqModel.from_pretrained(tmp_path / "model")


def test_a_model_saved_in_format_1_loads_and_gives_the_same_outputs(tmp_path):
    """Format 1 (before named inputs): one text encoder under model.encoder, weights encoders.text.*."""
    from safetensors.torch import load_file, save_file

    model = make_model(seed=3)
    model.save_pretrained(tmp_path / "model", extra={"task": "translation"})
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["model"]["encoder"] = config.pop("inputs")["source"]["encoder"]
    config["format_version"] = 1
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    weights = load_file(tmp_path / "model" / "model.safetensors")
    save_file({k.replace("encoders.source.", "encoders.text."): v for k, v in weights.items()},
              tmp_path / "model" / "model.safetensors")

    loaded = Seq2SeqModel.from_pretrained(tmp_path / "model")
    data = collate(pairs())
    assert torch.equal(loaded.generate(data, num_beams=3).tokens, model.generate(data, num_beams=3).tokens)
    torch.testing.assert_close(loaded(data).loss, model(data).loss, rtol=0, atol=0)


def test_truncated_weights_are_an_error_not_a_crash(tmp_path):
    make_model().save_pretrained(tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(Exception, match="(?i)safetensor|header|invalid|incomplete"):
        Seq2SeqModel.from_pretrained(tmp_path / "model")


def _audio_and_text_model(fusion: str):
    from seq2seq.builders import build_model
    from seq2seq.config import Config, InputConfig, config_from_dict
    from seq2seq.data import Collator
    from seq2seq.processors import AudioProcessor, TextProcessor

    config = Config()
    config.model.embedding_size, config.model.decoder.hidden_size, config.model.fusion = 16, 24, fusion
    audio_settings = {"sampling_rate": 8000, "num_mel_bins": 20}
    inputs = {"speech": config_from_dict({"modality": "audio", "processor": audio_settings,
                                          "encoder": {"hidden_size": 10, "conv_channels": 12, "dropout": 0.0}},
                                         InputConfig),
              "source": config_from_dict({"modality": "text", "encoder": {"hidden_size": 6}}, InputConfig)}
    torch.manual_seed(0)
    model = build_model(config.model, inputs, source_vocab_size=30, target_vocab_size=40).eval()
    processor = AudioProcessor(**audio_settings)
    generator = torch.Generator().manual_seed(0)
    waves = [{"array": torch.randn(n, generator=generator).numpy(), "sampling_rate": 8000} for n in (4000, 2400)]
    texts = ([5, 6, 3], [9, 3])
    examples = [{"speech": processor(w), "source": t, "tgt_ids": [7, 8]} for w, t in zip(waves, texts, strict=True)]
    return model, Collator({"speech": processor, "source": TextProcessor(None)}), examples


def test_gated_fusion_gives_each_input_its_own_softmax_mixed_by_the_gate():
    """fusion=gate: every attention row sums to 1, each input's share of it is its gate value
    (strictly between 0 and 1), and a batch neighbour's padding changes nothing."""
    model, collate, examples = _audio_and_text_model("gate")
    batch = collate(examples)
    state, memory = model.start(batch)
    assert memory.segments == (13, 3)  # the longest utterance's frames / 4, the longest text
    _, weights = model.decoder(batch.tgt_in, state, memory)  # (B, T, S)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(weights.shape[:2]))
    audio_share = weights[..., :13].sum(dim=-1)
    assert bool(((audio_share > 0) & (audio_share < 1)).all())
    assert bool((weights[~memory.mask.unsqueeze(1).expand_as(weights)] == 0).all())
    alone = collate(examples[1:])
    torch.testing.assert_close(model.score(alone), model.score(batch)[1:], rtol=1e-5, atol=1e-5)


def test_ctc_weight_adds_a_ctc_loss_in_training_only():
    from seq2seq.builders import build_model
    from seq2seq.config import Config, InputConfig, config_from_dict
    from seq2seq.losses import ctc_loss_sum

    model, collate, examples = _audio_and_text_model("concat")
    batch = collate(examples)
    config = Config()
    config.model.embedding_size, config.model.decoder.hidden_size, config.model.ctc_weight = 16, 24, 0.5
    config.model.embedding_dropout = config.model.decoder.dropout = 0.0  # train and eval differ by CTC only
    audio_only = {"speech": config_from_dict({"modality": "audio", "processor": {"sampling_rate": 8000,
                                                                                  "num_mel_bins": 20},
                                              "encoder": {"hidden_size": 10, "conv_channels": 12, "dropout": 0.0}},
                                             InputConfig)}
    torch.manual_seed(0)
    ctc_model = build_model(config.model, audio_only, source_vocab_size=30, target_vocab_size=40)
    speech = type(batch)({"speech": batch.inputs["speech"]}, batch.tgt_in, batch.tgt_out)
    ctc_model.train()
    with_ctc = ctc_model(speech).loss
    ctc_model.eval()
    without = ctc_model(speech).loss
    assert torch.isfinite(with_ctc) and not torch.isclose(with_ctc, without)
    memory = ctc_model.start(speech)[1]
    expected = 0.5 * without + 0.5 * ctc_loss_sum(ctc_model.ctc_layer(memory.states), memory.mask, speech) / 6
    torch.testing.assert_close(with_ctc, expected)  # 6 target tokens: 2 x (2 tokens + eos)
    with pytest.raises(ValueError, match="ctc_weight needs a model with one input"):
        build_model(config.model, {**audio_only, "source": config_from_dict({"modality": "text"}, InputConfig)},
                    source_vocab_size=30, target_vocab_size=40)


@pytest.mark.parametrize("fusion", ["concat", "gate"])
def test_a_model_with_audio_and_text_inputs_trains_saves_and_loads(tmp_path, fusion):
    """Several named inputs of different modalities and sizes feed one decoder (projections and
    input embeddings); the saved model rebuilds the audio encoder from its processor settings."""
    from seq2seq.data import Batch

    model, collate, examples = _audio_and_text_model(fusion)
    assert set(model.projections) == {"source"}  # 12 != 20: projected to the first input's size
    batch = collate(examples)
    assert batch.inputs["speech"][0].shape == (2, 51, 20)
    encoded = model.encode(batch)
    assert encoded.mask.sum(dim=1).tolist() == [13 + 3, 8 + 2]  # 51 and 31 frames / 4, plus the text's tokens
    model.save_pretrained(tmp_path / "model")
    loaded = Seq2SeqModel.from_pretrained(tmp_path / "model")
    torch.testing.assert_close(loaded(batch).loss, model(batch).loss, rtol=0, atol=0)
    assert torch.equal(loaded.generate(Batch(batch.inputs), max_length=5).tokens,
                       model.generate(Batch(batch.inputs), max_length=5).tokens)
