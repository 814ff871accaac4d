import itertools

import pytest
import torch
from conftest import collate, make_model, source_ids

from seq2seq.search import beam_search, hit_limit, length_penalty, output_limits
from seq2seq.tokenization import BOS_ID, EOS_ID, PAD_ID


def sources(count=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(count):
        length = int(torch.randint(2, 9, (1,), generator=generator))
        ids = torch.randint(4, 30, (length,), generator=generator).tolist()
        examples.append({"src_ids": [*ids, EOS_ID]})
    return collate(examples)


@pytest.mark.parametrize("input_feeding", [False, True])
@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_equals_greedy(input_feeding, rnn_type, seed):
    model = make_model(input_feeding=input_feeding, rnn_type=rnn_type, seed=seed, target_vocab_size=8)
    data = sources(seed=seed)
    greedy = model.generate(data, num_beams=1, max_length=12, length_penalty=0.7)
    # generate() routes num_beams=1 to greedy search, so call beam search itself.
    beam = beam_search(model.decoder, *model.start(data), num_beams=1, max_length=12, alpha=0.7,
                       bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID)
    assert torch.equal(beam.tokens, greedy.tokens)
    torch.testing.assert_close(beam.scores, greedy.scores)  # one definition of a score
    torch.testing.assert_close(beam.attention, greedy.attention)


def rescore(model, data, tokens):
    """Teacher-forced log-probabilities of generated sequences (B, L) for the batch's sources."""
    rows = []
    for row in tokens.tolist():
        row = row[: row.index(EOS_ID)] if EOS_ID in row else row
        rows.append(row)
    examples = [{"src_ids": [t for t in src if t != PAD_ID], "tgt_ids": tgt}
                for src, tgt in zip(source_ids(data).tolist(), rows, strict=True)]
    finished = [EOS_ID in row for row in tokens.tolist()]
    scored = collate(examples)
    if not all(finished):  # unfinished hypotheses have no eos to score
        pytest.skip("a hypothesis reached max_length")
    return model.score(scored), torch.tensor([len(r) + 1 for r in rows])


@pytest.mark.parametrize("num_beams", [1, 4])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_scores_are_the_model_log_probabilities_over_the_length_penalty(num_beams, alpha):
    model = make_model(seed=3, target_vocab_size=8)
    data = sources(seed=3)
    n_best = min(num_beams, 3)
    output = model.generate(data, num_beams=num_beams, max_length=40, length_penalty=alpha, n_best=n_best)
    assert output.tokens.shape[:2] == (6, n_best)
    assert torch.all(output.scores[:, :-1] >= output.scores[:, 1:])  # best first
    for rank in range(n_best):
        log_probs, lengths = rescore(model, data, output.tokens[:, rank])
        torch.testing.assert_close(output.scores[:, rank], log_probs / length_penalty(lengths.float(), alpha))


def all_scored_outputs(model, data, max_length):
    """Every output of up to ``max_length`` tokens, scored as search scores them: the ones that end
    with eos, and those cut at max_length without one (V^L candidates: tiny vocabularies only)."""
    vocab = [t for t in range(model.decoder.output_layer.out_features) if t not in (PAD_ID, BOS_ID)]
    outputs = []
    for length in range(1, max_length + 1):
        for tokens in itertools.product(vocab, repeat=length):
            if EOS_ID in tokens[:-1] or (length < max_length and tokens[-1] != EOS_ID):
                continue
            outputs.append(list(tokens))
    scores = []
    for tokens in outputs:
        batch = collate([{"src_ids": [t for t in src if t != PAD_ID], "tgt_ids": tokens[:-1]}
                         for src in source_ids(data).tolist()])
        batch.tgt_out[:, len(tokens) - 1] = tokens[-1]  # the last token may be a cut, not eos
        scores.append(model.score(batch))
    return outputs, torch.stack(scores, dim=1)  # (B, candidates)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_beam_as_wide_as_the_search_space_finds_the_best_output(alpha):
    """Beam search is exact when no hypothesis is ever pruned: compare with brute force."""
    model = make_model(seed=5, target_vocab_size=7)  # 5 emittable tokens (no pad, no bos)
    data = sources(seed=5, count=4)
    max_length = 3
    outputs, log_probs = all_scored_outputs(model, data, max_length)
    lengths = torch.tensor([len(tokens) for tokens in outputs], dtype=torch.float)
    best_scores, best_index = (log_probs / length_penalty(lengths, alpha)).max(dim=1)
    beam = model.generate(data, num_beams=5**max_length, max_length=max_length, length_penalty=alpha)
    torch.testing.assert_close(beam.scores[:, 0], best_scores)
    for row, index in enumerate(best_index.tolist()):
        assert beam.tokens[row, 0, : len(outputs[index])].tolist() == outputs[index]


def test_attention_rows_cover_source_only_and_batching_does_not_change_results():
    model = make_model(seed=6, target_vocab_size=8)
    data = sources(seed=6)
    together = model.generate(data, num_beams=3, max_length=20)
    for row in range(len(data)):
        length = int(data.inputs["source"][1][row].sum())
        alone = model.generate(collate([{"src_ids": source_ids(data)[row, :length].tolist()}]),
                               num_beams=3, max_length=20)
        width = alone.tokens.size(-1)
        assert torch.equal(together.tokens[row, :, :width], alone.tokens[0])
        torch.testing.assert_close(together.scores[row], alone.scores[0])
        assert together.attention[row, 0, :, length:].abs().sum() == 0  # empty for the longest source


@pytest.mark.parametrize(("settings", "message"), [
    ({"num_beams": 2, "n_best": 3}, "n_best must be between 1 and num_beams=2, got 3"),
    ({"num_beams": 1, "n_best": 2}, "n_best must be between 1 and num_beams=1"),
    ({"num_beams": 0}, "num_beams must be a whole number >= 1"),
    ({"num_beams": -3}, "num_beams must be a whole number >= 1"),
    ({"num_beams": 2.5}, "num_beams must be a whole number >= 1"),
    ({"max_length": 0}, "max_length must be a whole number >= 1"),
])
def test_impossible_generation_settings_are_errors_naming_them(settings, message):
    with pytest.raises(ValueError, match=message):
        make_model().generate(sources(), **settings)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_beam_search_without_attention_history_gives_the_same_hypotheses(input_feeding):
    model = make_model(seed=8, target_vocab_size=8, input_feeding=input_feeding)
    data = sources(seed=8, count=10)
    full = model.generate(data, num_beams=4, max_length=30, n_best=2)
    lean = model.generate(data, num_beams=4, max_length=30, n_best=2, return_attention=False)
    assert lean.attention is None
    assert torch.equal(lean.tokens, full.tokens)
    torch.testing.assert_close(lean.scores, full.scores)


def test_output_limits_are_relative_to_the_input_and_capped():
    source_lengths = torch.tensor([1, 4, 10, 100])
    assert output_limits(source_lengths, max_length=50).tolist() == [50, 50, 50, 50]
    assert output_limits(source_lengths, max_length=50, max_length_a=1.5, max_length_b=2).tolist() == [3, 8, 17, 50]
    assert output_limits(source_lengths, max_length=50, max_length_b=5).tolist() == [5, 5, 5, 5]


@pytest.mark.parametrize("num_beams", [1, 3])
def test_a_relative_limit_scales_with_each_input_and_is_reported(num_beams):
    """A model that never emits eos: every output runs to its own input's limit, whatever the batch."""
    model = make_model(seed=9, target_vocab_size=8)
    with torch.no_grad():
        model.decoder.output_layer.bias[EOS_ID] = -1e4
    data = sources(seed=9, count=8)
    output = model.generate(data, num_beams=num_beams, max_length=12, max_length_a=1.0, max_length_b=2)
    source_lengths = data.inputs["source"][1].sum(dim=1)
    expected = torch.clamp(source_lengths + 2, max=12)
    assert ((output.tokens[:, 0] != PAD_ID).sum(dim=1) == expected).all()
    assert hit_limit(output.tokens[:, 0], EOS_ID).all()
    assert len(set(expected.tolist())) > 2  # the inputs really have different limits
    for row in range(len(data)):  # alone, each input gets the same output: limits are per input
        alone = model.generate(collate([{"src_ids": source_ids(data)[row, : int(source_lengths[row])].tolist()}]),
                               num_beams=num_beams, max_length=12, max_length_a=1.0, max_length_b=2)
        width = alone.tokens.size(-1)
        assert torch.equal(output.tokens[row, 0, :width], alone.tokens[0, 0])


def test_greedy_outputs_that_end_within_their_limit_are_unchanged_by_it():
    model = make_model(seed=10, target_vocab_size=8)
    data = sources(seed=10, count=12)
    absolute = model.generate(data, num_beams=1, max_length=40)
    relative = model.generate(data, num_beams=1, max_length=40, max_length_a=1.0, max_length_b=4)
    limits = output_limits(data.inputs["source"][1].sum(dim=1), max_length=40, max_length_a=1.0, max_length_b=4)
    lengths = (absolute.tokens[:, 0] != PAD_ID).sum(dim=1)
    within = (lengths <= limits) & ~hit_limit(absolute.tokens[:, 0], EOS_ID)
    assert within.sum() >= 3 and (~within).sum() >= 1  # both kinds are in the sample
    for row in within.nonzero().squeeze(1).tolist():
        length = int(lengths[row])
        assert torch.equal(relative.tokens[row, 0, :length], absolute.tokens[row, 0, :length])
        torch.testing.assert_close(relative.scores[row, 0], absolute.scores[row, 0])
    assert hit_limit(relative.tokens[~within, 0], EOS_ID).all()


def test_beam_search_within_generous_limits_is_unchanged_by_them():
    """Beam search stops each sentence once no alive hypothesis can win; limits it never reaches
    change nothing. (A limit that is reached finishes the alive hypotheses there, as in fairseq.)"""
    model = make_model(seed=10, target_vocab_size=8)
    data = sources(seed=10, count=12)
    absolute = model.generate(data, num_beams=3, max_length=60, n_best=2)
    relative = model.generate(data, num_beams=3, max_length=60, max_length_a=3.0, max_length_b=12, n_best=2)
    assert not hit_limit(absolute.tokens, EOS_ID).any()
    assert torch.equal(relative.tokens, absolute.tokens)
    torch.testing.assert_close(relative.scores, absolute.scores)


def test_generated_tokens_drop_eos_and_the_padding_of_a_shorter_limit():
    from seq2seq.search import generated_tokens

    assert generated_tokens([5, 6, 3, 0], eos_id=3, pad_id=0) == ([5, 6], True)
    assert generated_tokens([5, 0, 0, 0], eos_id=3, pad_id=0) == ([5], False)  # cut at its own limit of 1
    assert generated_tokens([5, 6, 7], eos_id=3, pad_id=0) == ([5, 6, 7], False)
    assert generated_tokens([3, 0], eos_id=3, pad_id=0) == ([], True)
