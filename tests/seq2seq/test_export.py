"""ONNX export: the exported encoder and decoder step decode greedily to the same tokens as the
PyTorch model, and the exported folder translates without PyTorch."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import make_model

from seq2seq.data import Batch
from seq2seq.export import check_exportable, export_graphs, export_onnx, pack_state, unpack_state
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID


def _onnx_greedy(directory, source_ids: list[int], max_length: int) -> list[int]:
    import onnxruntime

    encoder = onnxruntime.InferenceSession(str(directory / "encoder.onnx"), providers=["CPUExecutionProvider"])
    step = onnxruntime.InferenceSession(str(directory / "decoder_step.onnx"), providers=["CPUExecutionProvider"])
    states, keys, state = encoder.run(None, {"source": np.array([source_ids], dtype=np.int64)})
    prev, tokens = BOS_ID, []
    for _ in range(max_length):
        logits, state = step.run(None, {"prev": np.array([prev]), "states": states, "keys": keys, "state": state})
        logits[0, [PAD_ID, BOS_ID]] = -np.inf
        prev = int(logits[0].argmax())
        tokens.append(prev)
        if prev == EOS_ID:
            break
    return tokens


@pytest.mark.parametrize("variant", [dict(rnn_type="lstm", input_feeding=True, num_layers=2),
                                     dict(rnn_type="gru", attention="luong_general")])
def test_exported_greedy_decoding_gives_the_models_tokens(tmp_path, variant):
    model = make_model(**variant)
    export_graphs(model, check_exportable(model), tmp_path)
    for source in ([5, 6, 7, 8, 9, 10, 11, 12, EOS_ID], [13, EOS_ID], [*range(20, 30), 4, EOS_ID]):
        ids = torch.tensor([source])
        expected = model.generate(Batch({"source": (ids, torch.ones_like(ids, dtype=torch.bool))}), max_length=12)
        expected = [t for t in expected.tokens[0, 0].tolist() if t != PAD_ID]
        assert _onnx_greedy(tmp_path, source, 12) == expected


def test_a_packed_state_unpacks_to_the_decoders_state():
    model = make_model(rnn_type="lstm", input_feeding=True, num_layers=2)
    state = model.decoder.init_state(torch.randn(1, 24))
    packed = pack_state(state)
    assert packed.shape == (5, 1, 24)  # two hidden layers, two cell layers, the attentional vector
    again = unpack_state(model.decoder, packed)
    assert all(torch.equal(a, b) for a, b in zip(again.hidden, state.hidden, strict=True))
    assert torch.equal(again.att_vector, state.att_vector)


def test_the_exported_folder_translates_as_the_pipeline_without_pytorch(trained_reverse_model, tmp_path):
    from pipelines import pipeline
    from seq2seq.synthetic import make_corpus

    directory = export_onnx(trained_reverse_model / "model", tmp_path / "onnx")
    sources = list(make_corpus("reverse", {"train": 1, "validation": 40, "test": 1})["validation"]["source"])
    expected = [r["translation_text"] for r in pipeline("translation", model=trained_reverse_model / "model",
                                                        bf16=False)(sources, num_beams=1, split_sentences=False)]
    # torch made unimportable: the runner needs numpy, onnxruntime and sentencepiece only.
    code = ("import json, sys; sys.modules['torch'] = None; sys.path.insert(0, sys.argv[1]); "
            "from translate import ExportedModel; "
            "print(json.dumps(ExportedModel(sys.argv[1])(json.loads(sys.argv[2]))))")
    run = subprocess.run([sys.executable, "-c", code, str(directory), json.dumps(sources)], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == expected
    assert sum(a == " ".join(reversed(s.split())) for a, s in zip(expected, sources, strict=True)) >= 30


def test_models_that_cannot_be_exported_say_why():
    model = make_model()
    model.encoders["extra"] = model.encoders["source"]
    with pytest.raises(ValueError, match="one flat text input"):
        check_exportable(model)
