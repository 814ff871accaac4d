"""Streaming pipelines: fed chunk by chunk, the final result equals the offline pipeline's for the
same input; partial results come on the way; models that cannot stream say why."""

import numpy as np
import pytest
import torch

from pipelines import get_task, pipeline
from seq2seq.config import config_from_dict
from seq2seq.media import load_audio, load_video
from seq2seq.synthetic_audio import make_dtmf_corpus
from seq2seq.synthetic_video import make_video_corpus


def _train(config: dict, task: str) -> None:
    from seq2seq.training import train

    torch.manual_seed(0)
    train(config_from_dict(config), get_task(task))


@pytest.fixture(scope="module")
def streaming_speech_model(tmp_path_factory):
    """A unidirectional speech model on unnormalised log-mel features, trained briefly: streaming
    must equal offline whatever the model has learned."""
    root = tmp_path_factory.mktemp("streaming_dtmf")
    corpus = make_dtmf_corpus(root / "clips", {"train": 96, "validation": 8}, max_keys=4)
    corpus.save_to_disk(root / "dataset")
    _train({
        "task": "speech_recognition",
        "data": {"kind": "huggingface", "path": str(root / "dataset")},
        "tokenizer": {"model_type": "char", "vocab_size": 24},
        "inputs": {"audio": {"modality": "audio",
                             "processor": {"sampling_rate": 8000, "num_mel_bins": 20, "normalize": False,
                                           "freq_masks": 0, "time_masks": 0},
                             "encoder": {"conv_channels": 16, "hidden_size": 24, "bidirectional": False,
                                         "num_layers": 2, "dropout": 0.0}}},
        "model": {"embedding_size": 16, "embedding_dropout": 0.0,
                  "decoder": {"hidden_size": 32, "attention": "bahdanau", "dropout": 0.0}},
        "training": {"output_dir": str(root / "run"), "max_steps": 40, "batch_size": 16, "learning_rate": 3e-3,
                     "eval_every_steps": 40, "eval_metric": "cer", "log_every_steps": 20},
        "generation": {"num_beams": 3, "max_length": 12, "max_length_a": 0.0, "max_length_b": 0},
    }, "speech_recognition")
    return root


def _samples(path: str, rate: int) -> np.ndarray:
    waveform, _ = load_audio(path, "test", sampling_rate=rate)
    return waveform.numpy()


def test_a_transcript_streamed_in_100_ms_chunks_equals_the_offline_one(streaming_speech_model):
    asr = pipeline("automatic-speech-recognition", model=streaming_speech_model / "run" / "model")
    for index in range(4):
        samples = _samples(str(streaming_speech_model / "clips" / "validation" / f"{index:05d}.wav"), 8000)
        stream = asr.stream(sampling_rate=8000)
        partials = [stream.feed(chunk)["text"] for chunk in np.array_split(samples, -(-len(samples) // 800))]
        final = stream.finish()
        assert all(isinstance(text, str) for text in partials)
        assert final == asr({"array": samples, "sampling_rate": 8000})
        # The memory the decoder reads is the offline encoder's, to float rounding.
        offline = asr.model.encode(_audio_batch(asr, samples))
        streamed = stream.encoding.encoded()
        assert streamed.states.shape == offline.states.shape
        torch.testing.assert_close(streamed.states, offline.states, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(streamed.final, offline.final, atol=1e-5, rtol=1e-5)


def _audio_batch(asr, samples):
    from seq2seq.data import Batch

    processor = asr.processors["audio"]
    return Batch({"audio": processor.collate([processor({"array": samples, "sampling_rate": 8000})])})


def test_chunk_sizes_do_not_change_the_streamed_result(streaming_speech_model):
    asr = pipeline("automatic-speech-recognition", model=streaming_speech_model / "run" / "model")
    samples = _samples(str(streaming_speech_model / "clips" / "validation" / "00001.wav"), 8000)
    results = []
    for size in (37, 800, len(samples)):
        stream = asr.stream(partial=False)
        assert stream.feed(samples[:size])["text"] is None  # no partial decode asked for
        for start in range(size, len(samples), size):
            stream.feed(samples[start : start + size])
        results.append(stream.finish())
    assert results[0] == results[1] == results[2] == asr({"array": samples, "sampling_rate": 8000})


def test_streams_refuse_what_they_cannot_do(streaming_speech_model):
    asr = pipeline("automatic-speech-recognition", model=streaming_speech_model / "run" / "model")
    with pytest.raises(ValueError, match="8000 Hz"):
        asr.stream(sampling_rate=16000)
    stream = asr.stream()
    with pytest.raises(ValueError, match="mono samples"):
        stream.feed(np.zeros((2, 100), dtype=np.float32))


@pytest.fixture(scope="module")
def streaming_action_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("streaming_actions")
    corpus = make_video_corpus(root / "clips", {"train": 48, "validation": 8}, frames=8, frame_size=32)
    corpus.save_to_disk(root / "dataset")
    _train({
        "task": "action_recognition",
        "data": {"kind": "huggingface", "path": str(root / "dataset")},
        "tokenizer": {"vocab_size": 32, "model_type": "word"},
        "inputs": {"video": {"modality": "video", "processor": {"num_frames": 8, "frame_size": 32},
                             "encoder": {"feature_size": 16, "spatial_grid": 2, "hidden_size": 16, "dropout": 0.0,
                                         "bidirectional": False, "frame_differences": True}}},
        "model": {"embedding_size": 16, "embedding_dropout": 0.0,
                  "decoder": {"hidden_size": 32, "attention": "luong_general", "dropout": 0.0}},
        "training": {"output_dir": str(root / "run"), "max_steps": 12, "batch_size": 8, "eval_every_steps": 12,
                     "eval_metric": "accuracy", "log_every_steps": 6},
        "generation": {"num_beams": 1, "max_length": 8, "max_length_a": 0.0, "max_length_b": 0},
    }, "action_recognition")
    return root


def test_label_scores_streamed_frame_by_frame_equal_the_offline_ones(streaming_action_model):
    recognizer = pipeline("action-recognition", model=streaming_action_model / "run" / "model")
    for index in range(3):
        frames = load_video(str(streaming_action_model / "clips" / "validation" / f"{index:05d}.mp4"))
        frames = frames.permute(0, 2, 3, 1).contiguous()  # (T, H, W, C), 8 frames = the model's num_frames
        stream = recognizer.stream(top_k=None)
        running = [stream.feed(chunk) for chunk in frames.split(3)]
        final = stream.finish()
        offline = recognizer(frames.numpy(), top_k=None)
        assert [r["label"] for r in final] == [r["label"] for r in offline]
        np.testing.assert_allclose([r["score"] for r in final], [r["score"] for r in offline], atol=1e-5)
        # Running scores: a distribution over every label after each chunk (one frame held back for its motion).
        assert all(abs(sum(r["score"] for r in scores) - 1.0) < 1e-5 for scores in running)
        assert len(running[0]) == len(recognizer.labels)


def test_a_stream_keeps_frames_at_the_processors_rate(streaming_action_model):
    recognizer = pipeline("action-recognition", model=streaming_action_model / "run" / "model")
    recognizer.processors["video"].fps = 4.0
    stream = recognizer.stream(source_fps=12.0)
    stream.feed(np.zeros((7, 32, 32, 3), dtype=np.uint8))  # frames 0-6
    assert stream.kept == 2  # one in 3, from the middle of each step: floor((k + 0.5) * 3) = 1, 4, 7, ...
    stream.feed(np.zeros((32, 32, 3), dtype=np.uint8))  # frame 7
    assert stream.kept == 3
    stream.feed(np.zeros((1, 32, 32, 3), dtype=np.uint8))
    assert stream.kept == 3 and stream.seen == 9
    with pytest.raises(ValueError, match="uint8"):
        stream.feed(np.zeros((2, 32, 32, 3), dtype=np.float32))


def test_the_streaming_benchmark_reports_latency_and_checks_offline_results(streaming_speech_model,
                                                                          streaming_action_model, run_script):
    import json

    import torch

    threads = torch.get_num_threads()
    clips = [str(streaming_speech_model / "clips" / "validation" / f"{i:05d}.wav") for i in range(2)]
    status, out, _ = run_script("benchmark_streaming", "--model", str(streaming_speech_model / "run" / "model"), *clips)
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and [line["partial_results"] for line in lines] == [True, False]
    assert all(line["identical_to_offline"] == "2/2" and line["real_time_factor"] > 0 for line in lines)
    video = [str(streaming_action_model / "clips" / "validation" / "00000.mp4")]
    status, out, _ = run_script("benchmark_streaming", "--model", str(streaming_action_model / "run" / "model"), *video)
    assert status == 0 and json.loads(out)["frames"] == 8 and json.loads(out)["identical_to_offline"] == "1/1"
    torch.set_num_threads(threads)
    status, _, err = run_script("benchmark_streaming", "--model", str(streaming_speech_model), *clips)
    assert status == 2 and "config.json" in err
