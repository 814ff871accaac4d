"""What every pipeline shares (pipelines/base.py): one call convention, settings, outputs cut at their end."""

import pytest
import torch

from pipelines import PIPELINES, pipeline
from pipelines.base import Generated, Pipeline, positive, resolve_settings
from seq2seq.search import SearchOutput

GENERATION = {"num_beams": 5, "max_length": 100, "max_length_a": 2.0, "max_length_b": 10, "length_penalty": 1.0,
              "batch_size": 64}


def test_every_task_pipeline_is_a_pipeline():
    """Every pipeline over a sequence-to-sequence model; the forecaster's (no tokenizer, no search)
    keeps the call convention: device and batch_size at construction, batch_size per call."""
    import inspect

    for name, cls in PIPELINES.items():
        assert "__call__" in vars(cls), name  # its own input and output code
        if cls.task == "forecasting":
            assert {"device", "batch_size"} <= set(inspect.signature(cls.__init__).parameters), name
            assert "batch_size" in inspect.signature(cls.__call__).parameters, name
        else:
            assert issubclass(cls, Pipeline), name


def test_settings_take_overrides_keep_on_none_and_name_what_is_wrong():
    assert resolve_settings(GENERATION, {"num_beams": 1, "batch_size": None}) == {**GENERATION, "num_beams": 1}
    with pytest.raises(TypeError, match="unknown generation setting.*beam_size"):
        resolve_settings(GENERATION, {"beam_size": 2})
    with pytest.raises(TypeError, match=r"unknown setting\(s\): num_beams"):
        resolve_settings({"batch_size": 16}, {"num_beams": 2})  # a classifier has no search settings
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        resolve_settings(GENERATION, {"batch_size": 0})
    with pytest.raises(ValueError, match="max_length must be a whole number >= 1"):
        resolve_settings(GENERATION, {"max_length": 0})
    assert positive("top_k", 3) == 3
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="top_k must be a whole number >= 1"):
            positive("top_k", bad)


class _Tokens:
    eos_id = 3


def test_outputs_are_cut_at_eos_or_at_their_own_limit():
    """Rows padded to the batch's longest output: a finished row ends at eos, a row cut at a
    shorter per-row limit ends before its padding; steps count the tokens and eos."""
    holder = Pipeline.__new__(Pipeline)
    holder.tokenizer = _Tokens()
    tokens = torch.tensor([[[5, 6, 3, 0, 0]], [[7, 8, 9, 10, 11]], [[4, 0, 0, 0, 0]]])
    output = SearchOutput(tokens, torch.zeros(3, 1), None)
    assert holder.outputs(output) == [Generated([5, 6], True, 3), Generated([7, 8, 9, 10, 11], False, 5),
                                      Generated([4], False, 1)]


@pytest.mark.slow
def test_one_call_convention_for_batch_size_and_bf16(trained_reverse_model):
    translate = pipeline("translation", model=trained_reverse_model / "model", bf16=False, batch_size=2)
    assert translate.bf16 is False and translate.settings["batch_size"] == 2
    inputs = ["a b c", "d e f g", "h i"]
    assert translate(inputs, batch_size=1) == translate(inputs) == translate(inputs, batch_size=3)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        translate(inputs, batch_size=0)
    assert pipeline("translation", model=trained_reverse_model / "model", bf16=True).bf16 is True


@pytest.mark.slow
def test_generative_pipelines_sample_reproducibly_for_a_seed(trained_reverse_model):
    translate = pipeline("translation", model=trained_reverse_model / "model", bf16=False)
    inputs = ["a b c d", "e f g", "h i j k l"]
    greedy = translate(inputs, num_beams=1)
    assert translate(inputs, num_beams=1, do_sample=True, top_k=1, seed=1) == greedy
    hot = {"num_beams": 1, "do_sample": True, "temperature": 5.0}
    first = translate(inputs, seed=3, **hot)
    assert translate(inputs, seed=3, **hot) == first
    # One stream across a call's batches: batches of one sentence do not all restart from the seed.
    alone = [translate([text], seed=3, **hot)[0] for text in inputs]
    assert translate(inputs, seed=3, batch_size=1, **hot) != alone
    assert any(translate(inputs, seed=seed, **hot) != first for seed in range(4, 9))
    with pytest.raises(ValueError, match="do_sample draws one output per input: set num_beams=1"):
        translate(inputs, num_beams=5, do_sample=True)
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        pipeline("translation", model=trained_reverse_model / "model", num_beams=1, do_sample=True, temperature=0)
