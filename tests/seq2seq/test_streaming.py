"""Training from a stream: every example once per epoch, length-bucketed windows, a share per
process, skipping what a resumed run has done, and the quality of map-style training."""


import json

import pytest
import torch
from conftest import last_trainer_state, tiny_config

from pipelines import get_task
from seq2seq.config import ConfigError, DataConfig
from seq2seq.config_checks import check_config
from seq2seq.processors import TextProcessor
from seq2seq.sources import load_raw_dataset
from seq2seq.streaming import StreamingExamples, StreamingLoader
from seq2seq.tokenization import PAD_ID, Tokenizer
from seq2seq.training import train


@pytest.fixture(scope="module")
def stream_parts():
    rows = load_raw_dataset(DataConfig(kind="generated", path="reverse", generated_sizes={"train": 300},
                                       streaming=True))["train"]
    sources = [row["source"] for row in rows]
    tokenizer = Tokenizer.train(sources, [row["target"] for row in rows], vocab_size=40)
    to_example = get_task("translation").make_to_example(DataConfig())
    return rows, tokenizer, to_example, sources


def make_stream(stream_parts, **options):
    rows, tokenizer, to_example, _ = stream_parts
    return StreamingExamples(rows, {"source": TextProcessor(tokenizer)}, tokenizer, to_example=to_example, seed=3,
                             shuffle_buffer=50, **options)


def decoded(stream_parts, batches):
    """The source texts of the batches, in order."""
    source = stream_parts[1].source
    return [source.decode([i for i in ids if i != PAD_ID]) for batch in batches
            for ids in batch.inputs["source"][0].tolist()]


def test_each_epoch_reads_every_example_once_in_a_new_order(stream_parts):
    loader = StreamingLoader(make_stream(stream_parts), batch_size=16, micro_batches=2)
    loader.set_epoch(0)
    first = decoded(stream_parts, loader)
    loader.set_epoch(1)
    second = decoded(stream_parts, loader)
    assert sorted(first) == sorted(second) == sorted(stream_parts[3])
    assert first != second
    loader.set_epoch(0)
    assert decoded(stream_parts, loader) == first  # the same epoch, the same order


def test_batches_are_length_sorted_within_a_window(stream_parts):
    data = make_stream(stream_parts)
    loader = StreamingLoader(data, batch_size=10)
    loader.set_epoch(0)
    updates = list(loader.updates())
    assert all(len(update) == 10 for update in updates)
    spreads = [max(map(data.length, update)) - min(map(data.length, update)) for update in updates]
    assert sum(spreads) / len(spreads) <= 1.0  # the reverse task's lengths span 3-14 tokens


def test_processes_read_disjoint_shares_of_the_stream(stream_parts):
    shares = []
    for rank in range(2):
        loader = StreamingLoader(make_stream(stream_parts, num_processes=2, process_index=rank), batch_size=16,
                                 num_processes=2)
        loader.set_epoch(0)
        shares.append(decoded(stream_parts, loader))
    assert sorted(shares[0] + shares[1]) == sorted(stream_parts[3])
    assert abs(len(shares[0]) - len(shares[1])) <= 30  # whole shards each: near halves


def test_resuming_skips_the_updates_already_made(stream_parts):
    loader = StreamingLoader(make_stream(stream_parts), batch_size=16)
    loader.set_epoch(1)
    everything = [decoded(stream_parts, [batch]) for batch in loader]
    loader.set_epoch(1, start_update=5)
    assert [decoded(stream_parts, [batch]) for batch in loader] == everything[5:]


def test_length_limits_apply_to_streamed_examples(stream_parts):
    data = make_stream(stream_parts, max_source_length=6)
    data.set_epoch(0)
    kept = list(data)
    assert 0 < len(kept) < 300 and all(len(example["source"]) <= 6 for example in kept)
    assert data.dropped == {"length": 300 - len(kept)}  # counted, not dropped unseen


def test_streaming_settings_that_cannot_work_are_refused(tmp_path):
    task = get_task("translation")
    with pytest.raises(ConfigError, match="set training.max_steps"):
        check_config(tiny_config(str(tmp_path), data={"streaming": True}), task)  # cosine, no max_steps
    with pytest.raises(ConfigError, match="num_workers"):
        check_config(tiny_config(str(tmp_path), data={"streaming": True},
                                 training={"max_steps": 10, "num_workers": 2}), task)


def stream_config(output_dir, streaming):
    """Trains until validation exact match reaches 90 % (both kinds of data get there in 100-300
    updates on the reverse task), or gives up at a cap ten times that."""
    return tiny_config(output_dir, data={"generated_sizes": {"train": 3000, "validation": 100},
                                         "streaming": streaming, "shuffle_buffer": 500},
                       training={"max_steps": 3000, "eval_every_steps": 100, "lr_schedule": "constant",
                                 "target_metric": 90.0, "early_stopping_patience": 0})


@pytest.mark.slow
def test_streaming_reaches_map_style_quality(tmp_path):
    """Both runs train to the same target, and the stream gets there in about as many updates
    (compared by updates to the target rather than at one noisy step: exact match after a fixed
    number of updates swings by ten points between evaluations). The margin (twice, plus two
    evaluations) is wide: their batches differ (a window is bucketed, not the epoch), their
    curves do not. (Exact resumption after a kill: test_multiprocess.py.)"""
    task = get_task("translation")
    steps = {}
    for kind, streaming in (("map", False), ("stream", True)):
        torch.manual_seed(0)
        train(stream_config(str(tmp_path / kind), streaming), task)
        state = last_trainer_state(tmp_path / kind)
        assert state["stop_reason"].startswith("reached the target: exact_match"), (kind, state["stop_reason"])
        steps[kind] = state["step"]
    assert steps["stream"] <= 2 * steps["map"] + 200, steps


class Numbers:
    """A media input whose "file" is a number: loading gives it as a one-frame clip, and the
    numbers in ``unreadable`` fail as a broken file does (ValueError) or a missing one (OSError)."""

    cached = False

    def __init__(self, unreadable=(), error=ValueError):
        self.unreadable, self.error = set(unreadable), error

    def __call__(self, value, *, train=False, generator=None, name=""):
        if value in self.unreadable:
            raise self.error(f"{name}: cannot be read")
        return torch.tensor([[float(value)]])

    def collate(self, clips):
        return torch.stack(clips), torch.ones(len(clips), 1, dtype=torch.bool)


def numbered_stream(count, **processor_options):
    import datasets

    rows = datasets.Dataset.from_dict({"clip": list(range(count)), "target": ["x"] * count}).to_iterable_dataset()
    tokenizer = Tokenizer.train(["x y"] * 20, ["x y"] * 20, vocab_size=8, model_type="word")
    to_example = lambda row: {"clip": row["clip"], "target_text": row["target"]}  # noqa: E731
    return StreamingExamples(rows, {"clip": Numbers(**processor_options)}, tokenizer, to_example=to_example, seed=1,
                             shuffle_buffer=8, skip_bad_examples=True)


def clip_numbers(update):
    return [int(value) for batch in update for value in batch.inputs["clip"][0].flatten().tolist()]


@pytest.mark.parametrize("error", [ValueError, FileNotFoundError])
def test_a_wholly_dropped_update_keeps_the_update_boundaries_and_resumption(error):
    """40 rows, batch 4, accumulation 2; every row of update 3 unreadable (a broken or a missing
    file): that update is empty, the others are those of the clean stream, and resuming after
    update 5 gives exactly the rest."""
    clean = StreamingLoader(numbered_stream(40), batch_size=4, micro_batches=2)
    clean.set_epoch(0)
    updates = [clip_numbers(update) for update in clean.iter_updates()]
    assert len(updates) == 10 and sorted(sum(updates, [])) == list(range(40))

    loader = StreamingLoader(numbered_stream(40, unreadable=updates[3], error=error), batch_size=4, micro_batches=2)
    loader.set_epoch(0)
    read = [clip_numbers(update) for update in loader.iter_updates()]
    assert read == updates[:3] + [[]] + updates[4:]
    assert loader.data.dropped == {"unreadable": 4}
    loader.set_epoch(0, start_update=5)
    assert [clip_numbers(update) for update in loader.iter_updates()] == updates[5:]


def test_an_epoch_whose_last_update_is_smaller_than_the_accumulation_ends_cleanly():
    loader = StreamingLoader(numbered_stream(401), batch_size=4, micro_batches=2)
    loader.set_epoch(0)
    updates = list(loader.iter_updates())
    assert sorted(sum(map(clip_numbers, updates), [])) == list(range(401))
    sizes = [[len(batch) for batch in update] for update in updates]
    assert sizes.count([1]) == 1  # the odd example: one micro-batch, not an error
    assert all(size == [2, 2] for size in sizes if size != [1])


def test_iterate_updates_passes_a_dropped_update_on_as_empty():
    from seq2seq.update import iterate_updates

    loader = StreamingLoader(numbered_stream(16, unreadable=range(16)), batch_size=4, micro_batches=2)
    loader.set_epoch(0)
    assert list(iterate_updates(loader, 2)) == [[], [], [], []]


def test_streamed_rows_without_a_label_are_dropped_and_counted():
    import datasets

    rows = datasets.Dataset.from_dict({"clip": list(range(12)), "target": ["x", None] * 6}).to_iterable_dataset()
    tokenizer = Tokenizer.train(["x y"] * 20, ["x y"] * 20, vocab_size=8, model_type="word")
    to_example = lambda row: {"clip": row["clip"], "target_text": row["target"]}  # noqa: E731
    stream = StreamingExamples(rows, {"clip": Numbers()}, tokenizer, to_example=to_example, shuffle_buffer=4)
    loader = StreamingLoader(stream, batch_size=2)
    loader.set_epoch(0)
    kept = sorted(sum(map(clip_numbers, loader.iter_updates()), []))
    assert kept == list(range(0, 12, 2)) and stream.dropped == {"unlabelled": 6}


class Draws(Numbers):
    """A media input whose "clip" is the first draw of the example's augmentation generator."""

    def __call__(self, value, *, train=False, generator=None, name=""):
        return torch.rand(1, 1, generator=generator)


def test_each_process_draws_its_own_augmentation():
    import datasets

    rows = datasets.Dataset.from_dict({"clip": list(range(8)), "target": ["x"] * 8}).to_iterable_dataset(num_shards=2)
    tokenizer = Tokenizer.train(["x y"] * 20, ["x y"] * 20, vocab_size=8, model_type="word")
    to_example = lambda row: {"clip": row["clip"], "target_text": row["target"]}  # noqa: E731
    draws = []
    for rank in range(2):
        stream = StreamingExamples(rows, {"clip": Draws()}, tokenizer, to_example=to_example, shuffle_buffer=1,
                                   num_processes=2, process_index=rank)
        stream.set_epoch(0)
        draws.append([float(example["clip"]) for example in stream.load(list(stream))])
    assert len(draws[0]) == len(draws[1]) == 4 and not set(draws[0]) & set(draws[1])


@pytest.mark.parametrize("path", ["media.clip", "media.clips[1]"])
def test_the_tokenizer_sample_skips_nested_media_columns(path):
    import datasets

    from seq2seq.streaming import read_sample

    rows = datasets.Dataset.from_list([{"media": {"clip": f"{i}.wav", "clips": ["a.wav", f"{i}.wav"], "fps": 25},
                                        "label": "wave"} for i in range(3)]).to_iterable_dataset()
    to_example = get_task("action_recognition").make_to_example(DataConfig(columns={"audio": path}), rows.features)
    sample = read_sample(rows, to_example, 2, [path], ["audio"])
    assert sample == [{"target_text": "wave"}] * 2


def test_the_rest_of_a_share_an_epoch_ended_without_is_counted():
    """With several processes an epoch ends when the first share runs out; what this process still
    held is counted, not skipped unseen."""
    loader = StreamingLoader(numbered_stream(40), batch_size=4, micro_batches=2)
    loader.set_epoch(0)
    updates = loader.iter_updates()
    read = [next(updates) for _ in range(3)]  # another process ran out here
    assert sum(len(batch) for update in read for batch in update) == 12
    assert loader.unread_examples() == 28
    assert loader.unread_examples() == 0  # counted once
    loader.set_epoch(1)
    assert sum(len(batch) for update in loader.iter_updates() for batch in update) == 40
    assert loader.unread_examples() == 0  # a share read to its end leaves nothing


def test_map_style_and_streamed_examples_share_limits_and_bucketing_costs(stream_parts):
    """One preparation rule for both: the same examples pass the length limits, with the same
    bucketing costs."""
    from seq2seq.data import Examples
    from seq2seq.prepare import prepare_dataset

    rows, tokenizer, to_example, _ = stream_parts
    processors = {"source": TextProcessor(tokenizer)}
    limits = dict(max_source_length=6, max_target_length=7)
    mapped = Examples(prepare_dataset(datasets_of(rows), tokenizer, processors, to_example=to_example, **limits),
                      processors)
    stream = make_stream(stream_parts, **limits)
    stream.set_epoch(0)
    streamed = list(stream)
    decode = tokenizer.source.decode
    assert sorted(decode(e["source"]) for e in streamed) == sorted(decode(ids) for ids in mapped.prepared["source"])
    by_text = dict(zip((decode(ids) for ids in mapped.prepared["source"]), mapped.lengths(), strict=True))
    assert all(stream.length(e) == by_text[decode(e["source"])] for e in streamed)


def datasets_of(stream):
    import datasets

    return datasets.Dataset.from_list(list(stream))


@pytest.mark.slow
def test_a_stream_with_drops_and_accumulation_resumes_exactly(tmp_path):
    """Streamed audio whose short clips are dropped when loaded (duration limit), two accumulated
    micro-batches per update: stopping after 9 updates and resuming gives the weights and losses
    of a run that went through (updates are counted as read, so none is mixed or replayed; with
    dropped micro-batches skipped and updates counted as trained, the weights differed)."""
    from conftest import tiny_audio_classifier_config, write_tone_folder
    from safetensors.torch import load_file

    from seq2seq.config import config_from_dict

    folder = write_tone_folder(tmp_path / "tones", {"train": 12, "validation": 1})
    data = {"kind": "huggingface", "path": str(folder), "streaming": True, "shuffle_buffer": 16,
            "min_duration_seconds": 0.7}

    def config(name, max_steps):
        return config_from_dict(tiny_audio_classifier_config(
            str(tmp_path / name), data, max_steps=max_steps, batch_size=4, gradient_accumulation_steps=2,
            lr_schedule="constant", eval_every_steps=9, log_every_steps=1, max_epochs=50))

    task = get_task("action_recognition")
    train(config("through", 16), task)
    train(config("stopped", 9), task)  # mid-epoch, after micro-batches whose every clip was dropped
    train(config("stopped", 16), task, resume=True)
    through, stopped = (load_file(str(tmp_path / name / "last" / "model.safetensors"))
                        for name in ("through", "stopped"))
    for name, tensor in through.items():
        assert torch.equal(stopped[name], tensor), name
    losses = [[(record["step"], record["train/loss"]) for record in map(json.loads, (
        tmp_path / name / "metrics.jsonl").read_text().splitlines()) if "train/loss" in record]
              for name in ("through", "stopped")]
    assert len(losses[0]) == 16 and losses[0] == losses[1]
    dropped = [json.loads(line) for line in (tmp_path / "through" / "metrics.jsonl").read_text().splitlines()
               if "data/dropped_duration" in line]
    assert dropped and all(record["data/dropped_duration"] > 0 for record in dropped)  # some clips were short
