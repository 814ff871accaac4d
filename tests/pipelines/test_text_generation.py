"""Language modelling end to end: the default config's counting corpus, trained briefly by the real
loop, scored by likelihood and continued by the text-generation pipeline."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from pipelines import TextGenerationPipeline, get_task, pipeline
from seq2seq.config import ConfigError, load_config
from seq2seq.config_checks import check_config
from seq2seq.synthetic import make_text_corpus

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "language_modeling.yaml"


@pytest.fixture(scope="module")
def run_dir(trained_counting_model) -> Path:
    return trained_counting_model


@pytest.fixture(scope="module")
def generate(run_dir) -> TextGenerationPipeline:
    return pipeline(model=run_dir / "model")  # the task saved with the model


def unigram_bits_per_character(texts: list[str]) -> float:
    counts = Counter("".join(texts))
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def test_validation_likelihood_is_far_below_the_character_frequencies(run_dir):
    """What a model of character frequencies alone scores (about 3.9 bits); the trained model
    reads context: under a quarter of that."""
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    validation = [entry for entry in logged if "valid/bits_per_character" in entry]
    best = min(entry["valid/bits_per_character"] for entry in validation)
    texts = make_text_corpus("counting", {"train": 2000, "validation": 100, "test": 100})["validation"]["text"]
    assert best < unigram_bits_per_character(texts) / 4
    for entry in validation:
        assert entry["valid/bits_per_character"] == pytest.approx(entry["valid/nats_per_character"] / math.log(2))
        assert entry["valid/perplexity"] == pytest.approx(math.exp(entry["valid/loss"]))


def test_the_model_counts_on_from_a_prompt(generate):
    result = generate("eleven, twelve, thirteen,", max_new_tokens=10)
    assert result == [{"generated_text": result[0]["generated_text"]}]  # Hugging Face's key, one result
    assert result[0]["generated_text"].startswith("eleven, twelve, thirteen, fourteen")
    continuation = generate("eleven, twelve, thirteen,", max_new_tokens=10, return_full_text=False)
    assert continuation[0]["generated_text"] == result[0]["generated_text"][len("eleven, twelve, thirteen,"):]
    assert len(continuation[0]["generated_text"]) == 10  # one token per character, none past the limit


def test_a_batch_of_prompts_continues_each_as_alone(generate):
    prompts = ["thirty-one, thirty-two,", "", "six,", "seventy, seventy-one, seventy-two, seventy-three,"]
    batched = generate(prompts, max_new_tokens=30, batch_size=3)
    assert batched == [generate(prompt, max_new_tokens=30) for prompt in prompts]
    assert all(result[0]["generated_text"].startswith(prompt) for prompt, result in zip(prompts, batched, strict=True))


def test_sampling_repeats_for_a_seed_and_differs_between_seeds(generate):
    sample = lambda seed: generate(["", "four,"], do_sample=True, temperature=1.5, seed=seed,  # noqa: E731
                                   max_new_tokens=40)
    assert sample(1) == sample(1)
    assert any(sample(1) != sample(seed) for seed in range(2, 6))
    greedy = generate(["", "four,"], max_new_tokens=40)
    assert generate(["", "four,"], do_sample=True, top_k=1, seed=3, max_new_tokens=40) == greedy


def test_a_streamed_continuation_arrives_piece_by_piece_and_equals_the_whole(generate):
    for prompt in ("eleven, twelve, thirteen,", "", "ninety-eight, ninety-nine,"):
        pieces = list(generate.stream(prompt, max_new_tokens=40))
        assert len(pieces) > 1  # one character a token: each token's text is sent as it comes
        assert "".join(pieces) == generate(prompt, max_new_tokens=40, return_full_text=False)[0]["generated_text"]
    sampled = dict(do_sample=True, temperature=1.5, seed=7, max_new_tokens=40)
    assert "".join(generate.stream("four,", **sampled)) == \
        generate("four,", return_full_text=False, **sampled)[0]["generated_text"]
    with pytest.raises(ValueError, match="num_beams=1"):
        next(generate.stream("four,", num_beams=2))
    with pytest.raises(TypeError, match="one prompt"):
        next(generate.stream(["four,"]))


def test_bad_prompts_and_settings_are_errors_that_name_them(generate, run_dir):
    with pytest.raises(TypeError, match="prompt 1 is int"):
        generate(["one,", 2])
    with pytest.raises(ValueError, match="prompt is empty: give at least one prompt"):
        generate([])
    with pytest.raises(ValueError, match="max_new_tokens must be a whole number >= 1"):
        generate("one,", max_new_tokens=0)
    with pytest.raises(ValueError, match="holds a 'language_modeling' model, not a translation model"):
        pipeline("translation", model=run_dir / "model")


def test_a_language_model_config_lists_no_inputs_and_blocks_fit_the_length_limit():
    task = get_task("language_modeling")
    with pytest.raises(ConfigError, match="trains the decoder alone; the config lists source"):
        check_config(load_config(CONFIG, ["inputs={source: {modality: text}}"]), task)
    with pytest.raises(ConfigError, match="block_size=400 characters needs data.max_target_length > 400"):
        check_config(load_config(CONFIG, ["data.block_size=400"]), task)
    check_config(load_config(CONFIG), task)
