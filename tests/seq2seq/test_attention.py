import pytest
import torch

from seq2seq.attention import make_attention

KINDS = ["bahdanau", "luong_dot", "luong_general"]


@pytest.mark.parametrize("kind", KINDS)
def test_padded_positions_get_zero_weight_and_rows_sum_to_one(kind):
    torch.manual_seed(0)
    attention = make_attention(kind, query_size=6, memory_size=6, attention_size=5)
    memory = torch.randn(3, 7, 6)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] + [False] * 6])
    query = torch.randn(3, 4, 6)
    context, weights = attention(query, attention.project_keys(memory), memory, mask)
    assert context.shape == (3, 4, 6) and weights.shape == (3, 4, 7)
    assert weights.masked_select(~mask.unsqueeze(1).expand_as(weights)).abs().max() == 0
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    torch.testing.assert_close(weights[2, :, 0], torch.ones(4))
    torch.testing.assert_close(context, weights @ memory)


@pytest.mark.parametrize("kind", KINDS)
def test_all_steps_at_once_equal_one_step_at_a_time(kind):
    torch.manual_seed(0)
    attention = make_attention(kind, query_size=6, memory_size=6, attention_size=5)
    memory, mask = torch.randn(2, 5, 6), torch.ones(2, 5, dtype=torch.bool)
    keys = attention.project_keys(memory)
    query = torch.randn(2, 3, 6)
    context, weights = attention(query, keys, memory, mask)
    for t in range(3):
        step_context, step_weights = attention(query[:, t : t + 1], keys, memory, mask)
        torch.testing.assert_close(step_context[:, 0], context[:, t])
        torch.testing.assert_close(step_weights[:, 0], weights[:, t])


def test_padding_the_memory_does_not_change_attention():
    torch.manual_seed(0)
    attention = make_attention("bahdanau", query_size=4, memory_size=6, attention_size=5)
    memory = torch.randn(1, 3, 6)
    query = torch.randn(1, 2, 4)
    context, weights = attention(query, attention.project_keys(memory), memory, torch.ones(1, 3, dtype=torch.bool))
    padded = torch.cat([memory, torch.randn(1, 2, 6)], dim=1)
    mask = torch.tensor([[True, True, True, False, False]])
    padded_context, padded_weights = attention(query, attention.project_keys(padded), padded, mask)
    torch.testing.assert_close(padded_context, context)
    torch.testing.assert_close(padded_weights[..., :3], weights)


def test_luong_dot_needs_equal_sizes_and_unknown_kind_fails():
    with pytest.raises(ValueError, match="query size == memory size"):
        make_attention("luong_dot", query_size=4, memory_size=6, attention_size=5)
    with pytest.raises(ValueError, match="'cosine'"):
        make_attention("cosine", query_size=4, memory_size=6, attention_size=5)
