import pytest
import torch
from conftest import make_model

from seq2seq.data import collate
from seq2seq.search import beam_search, length_penalty
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
    greedy = model.generate(data, num_beams=1, max_length=12)
    # generate() routes num_beams=1 to greedy search, so call beam search itself.
    beam = beam_search(model.decoder, *model.start(data), num_beams=1, max_length=12, alpha=0.7,
                       bos_id=BOS_ID, eos_id=EOS_ID, pad_id=PAD_ID)
    assert torch.equal(beam.tokens, greedy.tokens)
    torch.testing.assert_close(beam.attention, greedy.attention)


def rescore(model, data, tokens):
    """Teacher-forced log-probabilities of generated sequences (B, L) for the batch's sources."""
    rows = []
    for row in tokens.tolist():
        row = row[: row.index(EOS_ID)] if EOS_ID in row else row
        rows.append(row)
    examples = [{"src_ids": [t for t in src if t != PAD_ID], "tgt_ids": tgt}
                for src, tgt in zip(data.src_ids.tolist(), rows, strict=True)]
    finished = [EOS_ID in row for row in tokens.tolist()]
    scored = collate(examples)
    if not all(finished):  # unfinished hypotheses have no eos to score
        pytest.skip("a hypothesis reached max_length")
    return model.score(scored), torch.tensor([len(r) + 1 for r in rows])


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_scores_are_the_model_log_probabilities_over_the_length_penalty(alpha):
    model = make_model(seed=3, target_vocab_size=8)
    data = sources(seed=3)
    output = model.generate(data, num_beams=4, max_length=40, length_penalty=alpha, n_best=3)
    assert output.tokens.shape[:2] == (6, 3)
    assert torch.all(output.scores[:, :-1] >= output.scores[:, 1:])  # best first
    for rank in range(3):
        log_probs, lengths = rescore(model, data, output.tokens[:, rank])
        torch.testing.assert_close(output.scores[:, rank], log_probs / length_penalty(lengths.float(), alpha))


def test_greedy_scores_are_the_model_log_probabilities():
    model = make_model(seed=4, target_vocab_size=8)
    data = sources(seed=4)
    output = model.generate(data, num_beams=1, max_length=40)
    log_probs, _ = rescore(model, data, output.tokens[:, 0])
    torch.testing.assert_close(output.scores[:, 0], log_probs)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_wider_beam_scores_at_least_as_well_as_greedy(alpha, seed):
    model = make_model(seed=seed, target_vocab_size=8)
    data = sources(seed=seed, count=12)
    greedy = model.generate(data, num_beams=1, max_length=40)
    lengths = ((greedy.tokens[:, 0] != PAD_ID).sum(dim=1)).float()
    beam = model.generate(data, num_beams=5, max_length=40, length_penalty=alpha)
    assert torch.all(beam.scores[:, 0] >= greedy.scores[:, 0] / length_penalty(lengths, alpha) - 1e-5)


def test_attention_rows_cover_source_only_and_batching_does_not_change_results():
    model = make_model(seed=6, target_vocab_size=8)
    data = sources(seed=6)
    together = model.generate(data, num_beams=3, max_length=20)
    for row in range(len(data)):
        length = int(data.src_mask[row].sum())
        alone = model.generate(collate([{"src_ids": data.src_ids[row, :length].tolist()}]),
                               num_beams=3, max_length=20)
        width = alone.tokens.size(-1)
        assert torch.equal(together.tokens[row, :, :width], alone.tokens[0])
        torch.testing.assert_close(together.scores[row], alone.scores[0])
        assert together.attention[row, 0, :, length:].abs().sum() == 0  # empty for the longest source


def test_n_best_larger_than_beam_is_an_error():
    model = make_model()
    with pytest.raises(ValueError, match="n_best"):
        model.generate(sources(), num_beams=2, n_best=3)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_beam_search_without_attention_history_gives_the_same_hypotheses(input_feeding):
    model = make_model(seed=8, target_vocab_size=8, input_feeding=input_feeding)
    data = sources(seed=8, count=10)
    full = model.generate(data, num_beams=4, max_length=30, n_best=2)
    lean = model.generate(data, num_beams=4, max_length=30, n_best=2, return_attention=False)
    assert lean.attention is None
    assert torch.equal(lean.tokens, full.tokens)
    torch.testing.assert_close(lean.scores, full.scores)
