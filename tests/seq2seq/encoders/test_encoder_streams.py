"""Stateful encoders: the states of an input fed in chunks equal the states of the whole input."""

import pytest
import torch

from seq2seq.encoders.audio import AudioEncoder
from seq2seq.encoders.streaming import encoder_stream
from seq2seq.encoders.text import TextEncoder
from seq2seq.encoders.video import VideoEncoder


def _streamed(encoder, values: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    stream = encoder_stream(encoder)
    states = torch.cat([stream.feed(part) for part in values.split(chunk)] + [stream.finish()])
    return states, stream.final


@pytest.mark.parametrize("subsampling", [1, 2, 4, 8])
@pytest.mark.parametrize("length", [1, 2, 7, 8, 33])
def test_audio_states_streamed_in_any_chunks_equal_the_whole_inputs(subsampling, length):
    torch.manual_seed(length)
    encoder = AudioEncoder(feature_size=10, hidden_size=6, subsampling=subsampling, conv_channels=5,
                           bidirectional=False, num_layers=2, rnn_type="lstm").eval()
    features = torch.randn(1, length, 10)
    offline = encoder(features, torch.ones(1, length, dtype=torch.bool))
    for chunk in (1, 3, 100):
        states, final = _streamed(encoder, features[0], chunk)
        torch.testing.assert_close(states, offline.states[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(final, offline.final, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("frame_differences", [False, True])
def test_video_states_streamed_frame_by_frame_equal_the_whole_clips(frame_differences):
    torch.manual_seed(0)
    encoder = VideoEncoder(hidden_size=6, feature_size=8, frame_differences=frame_differences,
                           mirror_invariant=frame_differences, bidirectional=False, rnn_type="elman").eval()
    frames = torch.randn(1, 7, 3, 32, 32)
    offline = encoder(frames, torch.ones(1, 7, dtype=torch.bool))
    for chunk in (1, 2, 7):
        states, final = _streamed(encoder, frames[0], chunk)
        torch.testing.assert_close(states, offline.states[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(final, offline.final, atol=1e-5, rtol=1e-5)


def test_a_frame_is_held_back_only_while_its_motion_is_unknown():
    encoder = VideoEncoder(hidden_size=4, feature_size=8, frame_differences=True, bidirectional=False).eval()
    stream = encoder_stream(encoder)
    assert stream.feed(torch.randn(3, 3, 32, 32)).shape == (2, 4)  # the third waits for the fourth
    assert stream.finish().shape == (1, 4)


def test_encoders_that_cannot_stream_say_why():
    with pytest.raises(ValueError, match="bidirectional"):
        encoder_stream(AudioEncoder(feature_size=4, hidden_size=4, bidirectional=True))
    with pytest.raises(ValueError, match="cannot stream"):
        encoder_stream(TextEncoder(vocab_size=10, embedding_size=4, hidden_size=4))
    stream = encoder_stream(AudioEncoder(feature_size=4, hidden_size=4, bidirectional=False))
    with pytest.raises(ValueError, match=r"\(T, 4\)"):
        stream.feed(torch.zeros(1, 3, 4))
    stream.finish()
    with pytest.raises(RuntimeError, match="finished"):
        stream.feed(torch.zeros(3, 4))
