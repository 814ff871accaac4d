import pytest
import torch

from seq2seq.encoders import TextEncoder


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "elman"])
def test_extra_padding_leaves_encoder_outputs_unchanged(rnn_type):
    torch.manual_seed(0)
    encoder = TextEncoder(vocab_size=20, embedding_size=8, hidden_size=6, rnn_type=rnn_type,
                          num_layers=2, bidirectional=True).eval()
    ids = torch.tensor([[5, 6, 7, 3], [8, 3, 0, 0]])
    output = encoder(ids, ids != 0)
    wider = torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    wider_output = encoder(wider, wider != 0)
    assert output.states.shape == (2, 4, 12)
    assert output.final.shape == (2, 12)
    torch.testing.assert_close(wider_output.states[:, :4], output.states)
    assert wider_output.states[:, 4:].abs().max() == 0
    torch.testing.assert_close(wider_output.final, output.final)
    # Row 1 alone equals row 1 in the batch.
    alone = encoder(ids[1:, :2], ids[1:, :2] != 0)
    torch.testing.assert_close(alone.states[0], output.states[1, :2])
    torch.testing.assert_close(alone.final[0], output.final[1])
