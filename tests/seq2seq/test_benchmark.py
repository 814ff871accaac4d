import pytest
from conftest import tiny_config

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
