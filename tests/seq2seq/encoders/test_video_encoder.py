import pytest
import torch
from safetensors.torch import save_file

from seq2seq.encoders.video import VideoEncoder, resnet18


def clips(lengths, size=32, seed=0):
    """Frames (B, T, 3, H, W) padded with random junk (it must not matter) and the mask (B, T)."""
    generator = torch.Generator().manual_seed(seed)
    frames = torch.rand(len(lengths), max(lengths), 3, size, size, generator=generator)
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return frames, mask


@pytest.mark.parametrize("rnn_type,frame_differences", [("gru", False), ("lstm", False), ("gru", True)])
@pytest.mark.parametrize("training", [False, True])
def test_padded_frames_change_nothing(rnn_type, frame_differences, training):
    """In eval and train mode (GroupNorm: no batch statistics), with junk in the padded frames; the
    last real frame's difference image must not see the padding either."""
    torch.manual_seed(0)
    encoder = VideoEncoder(hidden_size=8, feature_size=16, rnn_type=rnn_type, num_layers=2,
                           frame_differences=frame_differences).train(training)
    frames, mask = clips([6, 3, 4])
    together = encoder(frames, mask)
    assert together.states.shape == (3, 6, 16) and together.final.shape == (3, 16)
    for row, length in enumerate([6, 3, 4]):
        alone = encoder(frames[row : row + 1, :length], mask[row : row + 1, :length])
        torch.testing.assert_close(together.states[row, :length], alone.states[0])
        torch.testing.assert_close(together.final[row], alone.final[0])
        assert together.states[row, length:].abs().sum() == 0


def test_cached_features_give_the_same_output_as_frames():
    torch.manual_seed(0)
    encoder = VideoEncoder(hidden_size=8, feature_size=16, freeze_cnn=True).eval()
    frames, mask = clips([5, 2])
    features = encoder.frame_features(frames, mask)
    assert features.shape == (2, 5, 16) and features[1, 2:].abs().sum() == 0
    from_frames, from_features = encoder(frames, mask), encoder(features, mask)
    torch.testing.assert_close(from_features.states, from_frames.states)
    torch.testing.assert_close(from_features.final, from_frames.final)


def test_frame_differences_make_the_features_depend_on_the_next_frame():
    torch.manual_seed(0)
    encoder = VideoEncoder(hidden_size=8, feature_size=16, frame_differences=True).eval()
    frames, mask = clips([4])
    changed = frames.clone()
    changed[0, 2] += 1.0
    before, after = encoder.frame_features(frames, mask), encoder.frame_features(changed, mask)
    torch.testing.assert_close(before[0, 0], after[0, 0])  # frames 0 and 3 do not touch frame 2
    torch.testing.assert_close(before[0, 3], after[0, 3])
    assert not torch.allclose(before[0, 1], after[0, 1])  # frame 1's difference image does


def test_a_frozen_cnn_does_not_train():
    encoder = VideoEncoder(hidden_size=8, cnn="resnet18", freeze_cnn=True).train()
    assert not any(p.requires_grad for p in encoder.cnn.parameters())
    assert not encoder.cnn.training and encoder.rnn.training  # BatchNorm statistics stay as loaded
    frames, mask = clips([2, 1], size=32)
    encoder(frames, mask).states.sum().backward()
    assert all(p.grad is None for p in encoder.cnn.parameters())
    assert encoder.rnn.weight_ih_l0.grad is not None


def test_resnet18_weights_come_from_a_local_file_only(tmp_path):
    torch.manual_seed(1)
    source = resnet18()
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "r18.safetensors"))
    torch.save(source.state_dict(), tmp_path / "r18.pt")
    for name in ("r18.safetensors", "r18.pt"):
        loaded = VideoEncoder(hidden_size=8, cnn="resnet18", cnn_weights=tmp_path / name).cnn
        for key, value in source.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(FileNotFoundError, match="CNN weights file not found: .*nothing.pt"):
        VideoEncoder(hidden_size=8, cnn="resnet18", cnn_weights=tmp_path / "nothing.pt")
    save_file({"conv.weight": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="is not a ResNet-18 state dict"):
        VideoEncoder(hidden_size=8, cnn="resnet18", cnn_weights=tmp_path / "other.safetensors")


def test_bad_video_inputs_are_errors_naming_the_problem():
    encoder = VideoEncoder(hidden_size=8, feature_size=16)
    frames, mask = clips([3, 2])
    with pytest.raises(ValueError, match=r"frames \(B, T, C, H, W\) or features \(B, T, 16\), got shape \(2, 3, 32\)"):
        encoder(frames[:, :, 0, 0], mask)
    mask[1] = False
    with pytest.raises(ValueError, match=r"no frames in batch rows \[1\]"):
        encoder(frames, mask)
    with pytest.raises(ValueError, match="cnn must be one of small, resnet18"):
        VideoEncoder(hidden_size=8, cnn="vgg")


@pytest.mark.parametrize("frame_differences", [False, True])
def test_a_mirror_invariant_encoder_encodes_a_clip_and_its_mirror_alike(frame_differences):
    torch.manual_seed(0)
    frames, mask = clips([5, 3])
    mirrored = frames.flip(-1)
    invariant = VideoEncoder(hidden_size=8, feature_size=16, spatial_grid=2, frame_differences=frame_differences,
                             mirror_invariant=True).eval()
    original, mirror = invariant(frames, mask), invariant(mirrored, mask)
    torch.testing.assert_close(mirror.states, original.states, rtol=0, atol=1e-6)
    torch.testing.assert_close(mirror.final, original.final, rtol=0, atol=1e-6)
    # Without the symmetry an encoder tells the two apart: the test can fail.
    plain = VideoEncoder(hidden_size=8, feature_size=16, spatial_grid=2, frame_differences=frame_differences).eval()
    assert not torch.allclose(plain(frames, mask).final, plain(mirrored, mask).final, atol=1e-3)


def test_cached_features_of_a_mirror_invariant_encoder_hold_both_halves():
    encoder = VideoEncoder(hidden_size=8, feature_size=16, mirror_invariant=True).eval()
    frames, mask = clips([3])
    features = encoder.frame_features(frames, mask)
    assert features.shape == (1, 3, 32) and encoder.feature_size == 32
    assert bool((features[..., :16] >= features[..., 16:]).all())  # maxima, then minima
    torch.testing.assert_close(encoder(features, mask).final, encoder(frames, mask).final)
