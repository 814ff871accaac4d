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
