import pytest
from conftest import tiny_action_config, tiny_config

from pipelines import get_task
from seq2seq.benchmark import run_benchmark


@pytest.mark.slow
def test_benchmark_measures_training_inference_and_memory(tmp_path):
    config = tiny_config(str(tmp_path), data={"generated_sizes": {"train": 400, "validation": 40}})
    results = run_benchmark(config, get_task("translation"), warmup_updates=2, windows=2, window_updates=3,
                            inference_sentences=30, beams=(1, 3))
    assert len(results["train_tokens_per_second_windows"]) == 2
    assert results["train_target_tokens_per_second"] > 0 and results["train_examples_per_second"] > 0
    assert results["greedy_sentences_per_second"] > 0 and results["beam3_sentences_per_second"] > 0
    assert results["inference_sentences"] == 30 and results["peak_rss_mib"] > 0


@pytest.mark.slow
def test_benchmark_measures_the_video_data_path_against_the_model_alone(tmp_path):
    from seq2seq.synthetic_video import make_video_corpus

    make_video_corpus(tmp_path / "clips", {"train": 48, "validation": 8}, frames=8, frame_size=32).save_to_disk(
        tmp_path / "dataset")
    config = tiny_action_config(str(tmp_path / "run"), str(tmp_path / "dataset"))
    results = run_benchmark(config, get_task("action_recognition"), warmup_updates=1, windows=2, window_updates=2,
                            inference_sentences=8, beams=(1,))
    assert results["decode_clips_per_second"] > 0 and results["greedy_clips_per_second"] > 0
    assert results["train_examples_per_second"] > 0 and results["model_only_train_examples_per_second"] > 0
    assert results["train_vs_model_only"] == pytest.approx(
        results["train_examples_per_second"] / results["model_only_train_examples_per_second"])
    assert results["inference_clips"] == 8


def test_benchmark_reports_audio_in_utterances_and_seconds_of_audio(tmp_path):
    from seq2seq.config import config_from_dict
    from seq2seq.synthetic_audio import make_dtmf_corpus

    make_dtmf_corpus(tmp_path / "clips", {"train": 24, "validation": 8}, max_keys=3).save_to_disk(tmp_path / "dataset")
    config = config_from_dict({
        "task": "speech_recognition",
        "data": {"kind": "huggingface", "path": str(tmp_path / "dataset")},
        "tokenizer": {"model_type": "char", "vocab_size": 24},
        "inputs": {"audio": {"modality": "audio", "processor": {"sampling_rate": 8000, "num_mel_bins": 16},
                             "encoder": {"conv_channels": 8, "hidden_size": 8}}},
        "model": {"embedding_size": 8, "decoder": {"hidden_size": 16, "attention": "luong_general"}},
        "training": {"output_dir": str(tmp_path / "run"), "batch_size": 8, "eval_metric": "cer"},
        "generation": {"num_beams": 1, "max_length": 6, "max_length_a": 0.0, "max_length_b": 0},
    })
    results = run_benchmark(config, get_task("speech_recognition"), warmup_updates=1, windows=2, window_updates=2,
                            inference_sentences=8, beams=(1,))
    assert results["cached_features"] == "audio" and results["feature_extraction_utterances_per_second"] > 0
    assert 0.1 < results["train_mean_audio_seconds"] < 2.0  # 1-3 keys of 80-270 ms, plus a gap
    assert results["train_audio_seconds_per_second"] == pytest.approx(
        results["train_examples_per_second"] * results["train_mean_audio_seconds"])
    assert results["inference_utterances"] == 8 and results["greedy_utterances_per_second"] > 0
    seconds_per_utterance = results["greedy_audio_seconds_per_second"] / results["greedy_utterances_per_second"]
    assert 0.1 < seconds_per_utterance < 2.0  # the validation utterances' mean length
