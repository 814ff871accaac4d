import pytest
import torch

from seq2seq.encoders import AudioEncoder
from seq2seq.encoders.audio import subsampled_lengths


def utterances(lengths, features=12, seed=0):
    """Features (B, T, F) with random junk in the padding (it must not matter), and the mask."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(len(lengths), max(lengths), features, generator=generator)
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return values, mask


@pytest.mark.parametrize("subsampling", [1, 2, 4, 8])
@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_padding_never_changes_the_output_and_the_mask_follows_the_subsampled_lengths(subsampling, rnn_type):
    torch.manual_seed(0)
    encoder = AudioEncoder(feature_size=12, hidden_size=8, subsampling=subsampling, conv_channels=16,
                           rnn_type=rnn_type, num_layers=2).eval()
    lengths = [37, 5, 20, 1]
    values, mask = utterances(lengths)
    together = encoder(values, mask)
    expected = subsampled_lengths(torch.tensor(lengths), encoder.num_convs)
    assert together.mask.sum(dim=1).tolist() == expected.tolist()
    assert together.states.shape == (4, -(-37 // subsampling), 16)
    for row, length in enumerate(lengths):
        alone = encoder(values[row : row + 1, :length], mask[row : row + 1, :length])
        kept = int(expected[row])
        torch.testing.assert_close(together.states[row, :kept], alone.states[0])
        torch.testing.assert_close(together.final[row], alone.final[0])
        assert together.states[row, kept:].abs().sum() == 0


def test_bad_audio_inputs_are_errors_naming_the_problem():
    encoder = AudioEncoder(feature_size=12, hidden_size=8)
    values, mask = utterances([4, 3])
    with pytest.raises(ValueError, match=r"features \(B, T, 12\)"):
        encoder(values[..., :5], mask)
    mask[1] = False
    with pytest.raises(ValueError, match=r"no frames in batch rows \[1\]"):
        encoder(values, mask)
    with pytest.raises(ValueError, match="power of two"):
        AudioEncoder(feature_size=12, hidden_size=8, subsampling=3)
