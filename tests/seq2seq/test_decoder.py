import pytest
import torch
from conftest import collate, make_model


def batch():
    return collate([{"src_ids": [5, 6, 7, 8, 3], "tgt_ids": [9, 10, 11]},
                    {"src_ids": [12, 3], "tgt_ids": [13, 14, 15, 16, 17]}])


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "elman"])
@pytest.mark.parametrize("attention", ["bahdanau", "luong_general"])
@pytest.mark.parametrize("input_feeding", [False, True])
def test_teacher_forced_forward_equals_step_by_step(rnn_type, attention, input_feeding):
    model = make_model(rnn_type=rnn_type, attention=attention, input_feeding=input_feeding, num_layers=2)
    data = batch()
    state, memory = model.start(data)
    att_vectors, weights = model.decoder(data.tgt_in, state, memory)
    logits = model.decoder.output_layer(att_vectors)
    for t in range(data.tgt_in.size(1)):
        step_logits, state, step_weights = model.decoder.step(data.tgt_in[:, t], state, memory)
        torch.testing.assert_close(step_logits, logits[:, t])
        torch.testing.assert_close(step_weights, weights[:, t])


def test_state_reordering_selects_rows():
    model = make_model(rnn_type="lstm", input_feeding=True)
    state, memory = model.start(batch())
    index = torch.tensor([1, 1, 0])
    reordered = state.index_select(index)
    torch.testing.assert_close(reordered.hidden[0][:, 2], state.hidden[0][:, 0])
    torch.testing.assert_close(reordered.att_vector[0], state.att_vector[1])
    assert memory.index_select(index).keys.shape[0] == 3
