"""Assembling runs: prepared in-memory data is shared by every run with the same data and settings."""

from conftest import tiny_config

from pipelines import get_task
from seq2seq.experiment import prepared_cache_dir
from seq2seq.training import train


def test_a_second_run_reads_the_prepared_data_back(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_CACHE", str(tmp_path / "cache"))
    assert prepared_cache_dir() == tmp_path / "cache" / "prepared"

    def run(name, **data):
        config = tiny_config(str(tmp_path / name), data={"generated_sizes": {"train": 300, "validation": 20}, **data},
                             training={"max_steps": 2, "eval_every_steps": 2})
        train(config, get_task("translation"))
        return {path.name: path.stat().st_mtime_ns for path in prepared_cache_dir().iterdir()}

    first = run("one")
    assert first and not (tmp_path / "one" / "cache").exists()
    assert run("two") == first  # same data, tokenizer and settings: read back, not written again
    assert len(run("three", max_source_length=8)) > len(first)  # another length filter: prepared anew
