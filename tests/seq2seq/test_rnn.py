import pytest
import torch

from seq2seq.rnn import last_layer_final, make_rnn, run_rnn


def test_elman_is_the_origin_formula():
    torch.manual_seed(0)
    rnn = make_rnn(rnn_type="elman", input_size=3, hidden_size=4)
    inputs = torch.randn(2, 5, 3)
    outputs, final = run_rnn(rnn, inputs)
    hidden = torch.zeros(2, 4)
    bias = rnn.bias_ih_l0 + rnn.bias_hh_l0
    for t in range(5):  # h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)
        hidden = torch.tanh(inputs[:, t] @ rnn.weight_ih_l0.T + hidden @ rnn.weight_hh_l0.T + bias)
        torch.testing.assert_close(outputs[:, t], hidden)
    torch.testing.assert_close(final[0], hidden)


def test_unknown_rnn_type_is_an_error():
    with pytest.raises(ValueError, match="'transformer'"):
        make_rnn(rnn_type="transformer", input_size=3, hidden_size=4)


@pytest.mark.parametrize("rnn_type", ["elman", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_neither_outputs_nor_final_state(rnn_type, bidirectional):
    torch.manual_seed(0)
    rnn = make_rnn(rnn_type=rnn_type, input_size=3, hidden_size=4, num_layers=2,
                   bidirectional=bidirectional).eval()
    sequence = torch.randn(1, 4, 3)
    alone, alone_final = run_rnn(rnn, sequence, torch.tensor([4]))
    padded = torch.cat([sequence, torch.randn(1, 3, 3)], dim=1)  # garbage after the end
    batch = torch.cat([padded, torch.randn(1, 7, 3)])
    outputs, final = run_rnn(rnn, batch, torch.tensor([4, 7]))
    torch.testing.assert_close(outputs[0, :4], alone[0])
    assert outputs[0, 4:].abs().max() == 0
    summary = last_layer_final(final, num_layers=2, bidirectional=bidirectional)
    alone_summary = last_layer_final(alone_final, num_layers=2, bidirectional=bidirectional)
    assert summary.shape == (2, 8 if bidirectional else 4)
    torch.testing.assert_close(summary[0], alone_summary[0])
