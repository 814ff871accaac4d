"""Sampled decoding: what each setting keeps, reproducibility for a seed, and the greedy limits."""

import pytest
import torch
from conftest import collate, make_model

from seq2seq.sampling import Sampling, filtered_logits, sample_search
from seq2seq.search import length_penalty

EXAMPLES = [{"src_ids": [4, 5, 6, 7, 8]}, {"src_ids": [9, 10, 11]}, {"src_ids": [12, 4, 6, 13]}]


def test_top_k_and_top_p_keep_the_most_likely_tokens_only():
    log_probs = torch.tensor([[0.5, 0.25, 0.15, 0.1]]).log()
    kept = lambda **settings: torch.isfinite(filtered_logits(log_probs, Sampling(**settings)))[0].tolist()  # noqa: E731
    assert kept() == [True, True, True, True]
    assert kept(top_k=2) == [True, True, False, False]
    assert kept(top_p=0.5) == [True, False, False, False]  # the first token alone reaches 0.5
    assert kept(top_p=0.6) == [True, True, False, False]  # the token that crosses p stays
    assert kept(top_p=0.9) == [True, True, True, False]
    assert kept(top_k=3, top_p=0.6) == [True, True, False, False]
    tempered = filtered_logits(log_probs, Sampling(temperature=2.0)).softmax(dim=-1)
    torch.testing.assert_close(tempered, log_probs.div(2.0).softmax(dim=-1))  # flatter than the model's


def test_samples_follow_the_filtered_distribution():
    """40,000 one-token draws: frequencies within 0.01 of the top-3 renormalised probabilities
    (the standard error is about 0.0025), and nothing outside the top 3."""
    probabilities = torch.tensor([0.0, 0.0, 0.5, 0.3, 0.15, 0.05])  # pad 0 and bos 1 are never drawn

    class OneStep:
        def step(self, prev, state, memory):
            return probabilities.log().expand(prev.size(0), -1), state, torch.zeros(prev.size(0), 1)

    memory = type("Memory", (), {"states": torch.zeros(40_000, 1, 1)})()
    output = sample_search(OneStep(), None, memory, max_length=1, bos_id=1, eos_id=9, pad_id=0,
                           sampling=Sampling(top_k=3, seed=0))
    counts = torch.bincount(output.tokens[:, 0, 0], minlength=6).float() / 40_000
    assert (counts - torch.tensor([0.0, 0.0, 0.5, 0.3, 0.15, 0.0]) / 0.95).abs().max() < 0.01
    assert counts[5] == 0  # outside the top 3
    model_log_probs = probabilities[output.tokens[:, 0, 0]].log()  # the score: the model's, not the filtered
    torch.testing.assert_close(output.scores[:, 0], model_log_probs / length_penalty(1, 1.0))


def test_a_seed_gives_the_same_outputs_and_top_k_one_is_greedy():
    model = make_model(target_vocab_size=12)
    batch = collate(EXAMPLES)
    sample = lambda **settings: model.generate(batch, max_length=15, sampling=Sampling(**settings))  # noqa: E731
    first, again = sample(temperature=3.0, seed=7), sample(temperature=3.0, seed=7)
    assert torch.equal(first.tokens, again.tokens) and torch.equal(first.scores, again.scores)
    others = [sample(temperature=3.0, seed=seed).tokens for seed in range(1, 6)]
    assert any(not torch.equal(first.tokens, tokens) for tokens in others)
    greedy = model.generate(batch, max_length=15)
    for settings in ({"top_k": 1, "seed": 3}, {"top_p": 1e-6, "seed": 4}):
        sampled = sample(**settings)
        assert torch.equal(sampled.tokens, greedy.tokens)
        torch.testing.assert_close(sampled.scores, greedy.scores)  # the model's own log-probability
    state = torch.get_rng_state()
    sample(temperature=2.0)  # no seed: a fresh one, and the global RNG untouched
    assert torch.equal(torch.get_rng_state(), state)


def test_bad_settings_are_errors_that_name_them():
    for settings, message in [({"temperature": 0}, "temperature must be a number > 0"),
                              ({"top_k": -1}, "top_k must be a whole number >= 0"),
                              ({"top_p": 0.0}, r"top_p must be a number in \(0, 1\]"),
                              ({"top_p": 1.5}, r"top_p must be a number in \(0, 1\]"),
                              ({"seed": 1.5}, "seed must be a whole number")]:
        with pytest.raises(ValueError, match=message):
            Sampling(**settings)
    with pytest.raises(ValueError, match="sampling draws one output per input: it needs num_beams=1"):
        make_model().generate(collate(EXAMPLES), num_beams=3, sampling=Sampling())
