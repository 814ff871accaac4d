"""Shared fixtures: tiny configs and one model trained end to end on the generated reverse task."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import torch

from seq2seq.builders import build_model
from seq2seq.config import Config, config_from_dict
from seq2seq.data import Batch, Collator
from seq2seq.prepare import prepare_dataset
from seq2seq.processors import TextProcessor

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def tiny_config(output_dir: str, **sections) -> Config:
    """A config small enough to train in seconds on two CPU cores."""
    values = {
        "data": {"kind": "generated", "path": "reverse",
                 "generated_sizes": {"train": 6000, "validation": 200, "test": 100}},
        "tokenizer": {"vocab_size": 40, "model_type": "unigram"},
        "inputs": {"source": {"modality": "text", "encoder": {"hidden_size": 64, "dropout": 0.0}}},
        "model": {"embedding_size": 32, "embedding_dropout": 0.0,
                  "decoder": {"hidden_size": 128, "attention": "luong_general", "dropout": 0.0}},
        "training": {"output_dir": output_dir, "max_epochs": 20, "batch_size": 32, "learning_rate": 3e-3,
                     "lr_schedule": "cosine", "eval_every_steps": 250, "eval_metric": "exact_match",
                     "early_stopping_patience": 2, "log_every_steps": 50},
        "generation": {"num_beams": 3, "max_length": 30},
    }
    for section, overrides in sections.items():
        values.setdefault(section, {}).update(overrides)
    return config_from_dict(values)


def tiny_action_config(output_dir: str, data_dir: str, **training):
    """A small video model that learns the generated actions (at 32x32) to 60 % validation accuracy
    in 800-1,000 updates (two minutes); the cap is 2,000."""
    return config_from_dict({
        "task": "action_recognition",
        "data": {"kind": "huggingface", "path": data_dir},
        "tokenizer": {"vocab_size": 32, "model_type": "word"},
        "inputs": {"video": {"modality": "video",
                             "processor": {"num_frames": 6, "frame_size": 32, "crop_scale": [0.85, 1.0]},
                             "encoder": {"feature_size": 48, "spatial_grid": 2, "hidden_size": 48, "dropout": 0.0}}},
        "model": {"embedding_size": 16, "embedding_dropout": 0.0,
                  "decoder": {"hidden_size": 64, "attention": "luong_general", "dropout": 0.0}},
        "training": {"output_dir": output_dir, "max_steps": 2000, "max_epochs": 50, "batch_size": 16,
                     "learning_rate": 5e-4, "eval_every_steps": 200, "target_metric": 60.0,
                     "eval_metric": "accuracy", "log_every_steps": 40, **training},
        "generation": {"num_beams": 1, "max_length": 8, "max_length_a": 0.0, "max_length_b": 0},
    })


@pytest.fixture(scope="session", autouse=True)
def deterministic_kernels():
    """Seeded runs in one process repeat exactly: torch uses deterministic kernels wherever it has
    a choice. (The thread count is left to the environment: tests that train assert what holds
    with any, and ``OMP_NUM_THREADS=1 python -m pytest`` passes too.)"""
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)


def pytest_configure(config):
    """Parallel workers (pytest-xdist, ``-n``) take one thread each: two torch processes with a
    thread per core each slow each other many times over on a small machine. Processes the tests
    start inherit the setting."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: a worker per core, at most four (each trains toy models and holds a torch)."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


# Files whose tests are independent and slow: parallel workers take them one test at a time.
SPREAD_FILES = {"test_multiprocess.py"}


# The slowest files on 2 cores (--durations), slowest first.
LONGEST_FIRST = ("test_readme_commands.py", "test_action_recognition.py", "test_audio_visual.py",
                 "test_multiprocess.py", "test_question_answering.py", "test_speech_recognition.py",
                 "test_cross_validate.py", "test_translation.py", "test_text_generation.py")
# Files that use the toy models the files above train: last, so they find them built rather than
# wait, idle, for another worker to build them.
LAST = ("test_demo_tabs.py", "test_demo_browser.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under ``--dist loadgroup`` a file's tests run on one worker, so its module fixtures (a
    trained toy model, a generated corpus) are built once; ``SPREAD_FILES`` are shared out. The
    files that take longest go first (``LONGEST_FIRST``), so no worker starts one near the end
    while the others sit idle; the files that only reuse their models go last (``LAST``)."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    rank.update({name: len(LONGEST_FIRST) + 1 + position for position, name in enumerate(LAST)})
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: a file's own order is kept
    for item in items:
        if item.path.name not in SPREAD_FILES and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory) -> Path:
    """A folder all parallel workers of this test session see (each worker's own base folder sits
    inside it); without workers, a folder of this session."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return base.parent
    (base / "shared").mkdir(exist_ok=True)
    return base / "shared"


def build_once(root: Path, name: str, build) -> Path:
    """``root/name``, built by ``build(directory)`` in the first worker that asks; the others wait
    for it and reuse it, so a trained toy model is trained once per test session."""
    from filelock import FileLock

    directory = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (directory / ".built").exists():
            shutil.rmtree(directory, ignore_errors=True)  # a worker that failed halfway
            directory.mkdir()
            build(directory)
            (directory / ".built").touch()
    return directory


@pytest.fixture(scope="session")
def trained_reverse_model(shared_root):
    """Run directory of a model trained to reverse letter sequences (the real training loop) until
    it reverses every validation example."""
    from pipelines import get_task
    from seq2seq.training import train

    def build(run_dir: Path) -> None:
        torch.manual_seed(0)
        # Trained to a perfect validation score (about 750 updates), with room for four times that.
        train(tiny_config(str(run_dir), training={"target_metric": 100.0, "early_stopping_patience": 0}),
              get_task("translation"))

    return build_once(shared_root, "reverse_run", build)


LANGUAGE_MODELING_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "language_modeling.yaml"
# The default language-modelling config, smaller: about 20 seconds.
QUICK_LANGUAGE_MODELING = ["model.decoder.hidden_size=128", "training.max_steps=240", "training.eval_every_steps=80",
                           "training.early_stopping_patience=0",
                           "data.generated_sizes={train: 2000, validation: 100, test: 100}"]


@pytest.fixture(scope="session")
def trained_counting_model(shared_root):
    """Run directory of a character language model trained on the generated counting texts."""
    from pipelines import get_task
    from seq2seq.config import load_config
    from seq2seq.training import train

    def build(run_dir: Path) -> None:
        torch.manual_seed(0)
        train(load_config(LANGUAGE_MODELING_CONFIG, [f"training.output_dir={run_dir}", *QUICK_LANGUAGE_MODELING]),
              get_task("language_modeling"))

    return build_once(shared_root, "counting_run", build)


FORECASTING_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "forecasting.yaml"
# The default forecasting config, smaller: about ten seconds.
QUICK_FORECASTING = ["inputs.series.encoder.hidden_size=32", "training.max_epochs=12",
                     "training.early_stopping_patience=0"]


@pytest.fixture(scope="session")
def trained_forecaster(shared_root):
    """(config, run directory) of a forecaster trained on the generated sines by the real loop."""
    from seq2seq.config import load_config
    from seq2seq.forecast_training import train_forecaster

    def build(run_dir: Path) -> None:
        train_forecaster(load_config(FORECASTING_CONFIG, [f"training.output_dir={run_dir}", *QUICK_FORECASTING]),
                         overwrite=True)

    directory = build_once(shared_root, "sines_forecaster", build)
    return load_config(FORECASTING_CONFIG, [f"training.output_dir={directory}", *QUICK_FORECASTING]), directory


def last_trainer_state(run_dir: Path) -> dict:
    """The trainer state sealed in a run's newest checkpoint (step, best step, stop reason, ...)."""
    import json

    from seq2seq.checkpoints import list_checkpoints

    return json.loads((list_checkpoints(run_dir)[-1] / "trainer_state.json").read_text())["trainer"]


def make_model(*, rnn_type="gru", attention="bahdanau", input_feeding=False, bidirectional=True,
               num_layers=1, source_vocab_size=30, target_vocab_size=40, seed=0):
    """An untrained model in eval mode, for invariant tests."""
    full = Config()
    config, encoder = full.model, full.inputs["source"].encoder
    config.embedding_size = 16
    config.embedding_dropout = 0.0
    encoder.rnn_type = rnn_type
    encoder.hidden_size = 12
    encoder.bidirectional = bidirectional
    encoder.num_layers = num_layers
    encoder.dropout = 0.0
    config.decoder.rnn_type = rnn_type
    config.decoder.hidden_size = 24
    config.decoder.num_layers = num_layers
    config.decoder.attention = attention
    config.decoder.attention_size = 20
    config.decoder.input_feeding = input_feeding
    config.decoder.dropout = 0.0
    torch.manual_seed(seed)
    model = build_model(config, full.inputs, source_vocab_size=source_vocab_size, target_vocab_size=target_vocab_size)
    return model.eval()


def collate(examples: list[dict]) -> Batch:
    """A translation batch from {"src_ids": [...], "tgt_ids": [...]} examples (input ``source``)."""
    renamed = [{"source": e["src_ids"], **({"tgt_ids": e["tgt_ids"]} if "tgt_ids" in e else {})} for e in examples]
    return Collator({"source": TextProcessor(None)})(renamed)


def prepare(rows, tokenizer, *, to_example, **options):
    """``prepare_dataset`` for translation rows: the ``source`` text input's ids and ``tgt_ids``."""
    return prepare_dataset(rows, tokenizer, {"source": TextProcessor(tokenizer)}, to_example=to_example, **options)


def source_ids(batch: Batch):
    """The padded source ids (B, S) of a translation batch."""
    return batch.inputs["source"][0]


def load_script(name: str):
    """A script's module, to call its ``main`` in-process (faster than a subprocess per case)."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_script(capsys):
    """Run a script as the shell would (through ``cli.run``): (exit status, stdout, stderr)."""
    from seq2seq import cli

    def run(name: str, *argv: str) -> tuple[int, str, str]:
        module = load_script(name)
        try:
            cli.run(module.main, list(argv))
            status = 0
        except SystemExit as exit:
            status = exit.code
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


# ---------------------------------------------------------------------------------------------
# users' own data, in each form they bring it


DATA_FORMS = ("save_to_disk", "folder", "json", "csv", "parquet")


def write_dataset(root: Path, splits: dict, form: str) -> dict:
    """``splits`` (split -> ``datasets.Dataset``) stored as ``form``; the data section that reads it.

    save_to_disk: a saved DatasetDict; folder: a local dataset folder of <split>.jsonl files, loaded
    by path the way a hub id is; json / csv / parquet: a file per split through the builder."""
    import datasets

    if form == "save_to_disk":
        datasets.DatasetDict(splits).save_to_disk(root / "saved")
        return {"kind": "huggingface", "path": str(root / "saved")}
    if form == "folder":
        for split, dataset in splits.items():
            dataset.to_json(root / "folder" / f"{split}.jsonl")
        return {"kind": "huggingface", "path": str(root / "folder")}
    suffix = {"json": "jsonl", "csv": "csv", "parquet": "parquet"}[form]
    files = {}
    for split, dataset in splits.items():
        files[split] = str(root / f"{split}.{suffix}")
        getattr(dataset, f"to_{form}")(files[split])
    return {"kind": "huggingface", "path": form, "data_files": files}


TONES = {"low": 300.0, "middle": 700.0, "high": 1500.0, "very high": 3000.0}  # Hz


def write_tone_folder(root: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """An audiofolder (``root/<split>/<label>/<n>.wav``) of tones at 8 kHz, labelled by pitch, with
    random length, level, phase, detuning and noise, between stretches of silence."""
    import random

    from seq2seq.media import write_audio

    rng = random.Random(seed)
    for split, count in sizes.items():
        for label, pitch in TONES.items():
            for index in range(count):
                length = int(8000 * rng.uniform(0.2, 0.5))
                time = torch.arange(length) / 8000
                tone = rng.uniform(0.1, 0.5) * torch.sin(2 * torch.pi * pitch * rng.uniform(0.97, 1.03) * time
                                                         + rng.uniform(0, 6))
                noise = rng.uniform(0, 0.05) * torch.randn(length, generator=torch.Generator().manual_seed(index))
                silences = [torch.zeros(int(8000 * rng.uniform(0.1, 0.2))) for _ in range(2)]
                write_audio(root / split / label / f"{index}.wav", torch.cat([silences[0], tone + noise, silences[1]]),
                            sampling_rate=8000)
    return root


def tiny_audio_classifier_config(output_dir: str, data: dict, **training) -> dict:
    """Action recognition from an audio input alone (the tones' pitch), small enough for seconds."""
    return {
        "task": "action_recognition",
        "data": {"columns": {"audio": "audio"}, **data},
        "tokenizer": {"model_type": "word", "vocab_size": 10},
        "inputs": {"audio": {"modality": "audio",
                             "processor": {"sampling_rate": 8000, "num_mel_bins": 20, "normalize": False,
                                           "freq_masks": 0, "time_masks": 0},
                             "encoder": {"conv_channels": 16, "hidden_size": 16, "dropout": 0.0}}},
        "model": {"embedding_size": 8, "embedding_dropout": 0.0,
                  "decoder": {"hidden_size": 32, "attention": "luong_general", "dropout": 0.0}},
        "training": {"output_dir": output_dir, "max_steps": 100, "max_epochs": 100, "batch_size": 16,
                     "learning_rate": 3e-3, "eval_every_steps": 50, "eval_metric": "accuracy", "log_every_steps": 25,
                     **training},
        "generation": {"num_beams": 1, "max_length": 4, "max_length_a": 0.0, "max_length_b": 0},
    }


# ---------------------------------------------------------------------------------------------
# trained toy models of the media and question answering tasks, shared by their tests and the demo's


@pytest.fixture(scope="session")
def action_data(shared_root):
    """Generated clips (32x32, 8 frames) saved as a DatasetDict on disk."""
    from seq2seq.synthetic_video import make_video_corpus

    def build(root: Path) -> None:
        corpus = make_video_corpus(root / "clips", {"train": 640, "validation": 96}, frames=8, frame_size=32)
        corpus.save_to_disk(root / "dataset")

    return build_once(shared_root, "action_data", build)


@pytest.fixture(scope="session")
def trained_action_model(action_data, shared_root):
    """Run directory of a small video model trained to 60 % on the generated actions."""
    from pipelines import get_task
    from seq2seq.training import train

    def build(run_dir: Path) -> None:
        torch.manual_seed(0)
        train(tiny_action_config(str(run_dir), str(action_data / "dataset")), get_task("action_recognition"))

    return build_once(shared_root, "action_run", build)


@pytest.fixture(scope="session")
def speech_run(shared_root):
    """``clips``, ``dataset`` and ``run`` of a speech model trained on generated DTMF key strings
    until its character error rate is 12 % or less (about 1,100 updates; the cap is 3,000)."""
    from pipelines import get_task
    from seq2seq.synthetic_audio import make_dtmf_corpus
    from seq2seq.training import train

    def build(root: Path) -> None:
        corpus = make_dtmf_corpus(root / "clips", {"train": 800, "validation": 40}, max_keys=4)
        corpus.save_to_disk(root / "dataset")
        config = config_from_dict({
            "task": "speech_recognition",
            "data": {"kind": "huggingface", "path": str(root / "dataset")},
            "tokenizer": {"model_type": "char", "vocab_size": 24},
            "inputs": {"audio": {"modality": "audio",
                                 "processor": {"sampling_rate": 8000, "num_mel_bins": 20, "freq_masks": 0,
                                               "time_masks": 0},
                                 "encoder": {"conv_channels": 32, "hidden_size": 32, "dropout": 0.0}}},
            "model": {"embedding_size": 16, "embedding_dropout": 0.0, "ctc_weight": 0.5,
                      "decoder": {"hidden_size": 64, "attention": "luong_general", "dropout": 0.0}},
            "training": {"output_dir": str(root / "run"), "max_steps": 3000, "max_epochs": 100, "batch_size": 16,
                         "learning_rate": 3e-3, "eval_every_steps": 100, "eval_metric": "cer", "target_metric": 12.0,
                         "log_every_steps": 50},
            "generation": {"num_beams": 1, "max_length": 16, "max_length_a": 0.0, "max_length_b": 0},
        })
        torch.manual_seed(0)
        train(config, get_task("speech_recognition"))

    return build_once(shared_root, "dtmf_speech", build)


def qa_config(output_dir: str, data_dir: str, **training) -> Config:
    return config_from_dict({
        "task": "question_answering",
        "data": {"kind": "huggingface", "path": data_dir, "columns": {"context": "context_sentences"},
                 "max_source_length": 1000},
        "tokenizer": {"model_type": "bpe", "vocab_size": 400},
        "inputs": {"context": {"modality": "text", "processor": {"sentences": True, "max_sentences": 20},
                               "encoder": {"hidden_size": 48, "dropout": 0.0}},
                   "question": {"modality": "text", "encoder": {"hidden_size": 48, "dropout": 0.0}}},
        "model": {"embedding_size": 48, "embedding_dropout": 0.0,
                  "decoder": {"hidden_size": 96, "attention_size": 48, "dropout": 0.0}},
        "training": {"output_dir": output_dir, "max_steps": 2500, "max_epochs": 50, "batch_size": 32,
                     "learning_rate": 2e-3, "eval_every_steps": 250, "metrics": ["accuracy"],
                     "eval_metric": "accuracy", "target_metric": 60.0, "log_every_steps": 50, **training},
        "generation": {"num_beams": 1, "max_length": 8, "max_length_a": 0.0, "max_length_b": 0},
    })


@pytest.fixture(scope="session")
def qa_run(shared_root):
    """``dataset`` and ``run`` of a question answering model trained to 60 % on generated stories."""
    from pipelines import get_task
    from seq2seq.synthetic_qa import make_qa_corpus
    from seq2seq.training import train

    def build(root: Path) -> None:
        make_qa_corpus({"train": 8000, "validation": 300}, seed=7).save_to_disk(root / "dataset")
        torch.manual_seed(0)
        train(qa_config(str(root / "run"), str(root / "dataset")), get_task("question_answering"))

    return build_once(shared_root, "qa", build)


def write_hop_model(trained: Path, directory: Path) -> Path:
    """An (untrained) sentence-memory question answering model with three attention hops, saved to
    ``directory`` with the ``trained`` model's tokenizer and processors."""
    import json

    from seq2seq.config import InputConfig, ModelConfig
    from seq2seq.processors import load_processors
    from seq2seq.tokenization import Tokenizer

    description = json.loads((trained / "config.json").read_text())
    inputs = {"context": InputConfig(modality="text", processor={"sentences": True, "max_sentences": 20}),
              "question": InputConfig(modality="text")}
    for spec in inputs.values():
        spec.encoder.hidden_size, spec.encoder.dropout, spec.encoder.bag_of_words = 8, 0.0, True
    inputs["context"].encoder.memory_unit, inputs["context"].encoder.sentence_rnn = "sentences", False
    config = ModelConfig(embedding_size=16, query_input="question", hops=3, reader="attention",
                         decoder_memory="reader", share_text_rnn=True, embedding_init_std=0.1)
    config.decoder.hidden_size, config.decoder.attention_size = 16, 8
    torch.manual_seed(0)
    model = build_model(config, inputs, source_vocab_size=description["source_vocab_size"],
                        target_vocab_size=description["target_vocab_size"])
    tokenizer = Tokenizer.from_pretrained(trained)
    processors = load_processors(trained, tokenizer, model.config["inputs"])
    model.save_pretrained(directory, tokenizer=tokenizer, processors=processors,
                          extra={"task": "question_answering", "generation": description["generation"]})
    return directory
