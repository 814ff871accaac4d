"""SentencePiece trained on a run's training examples once (main process first), reused on resume."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from accelerate import Accelerator

from seq2seq.config import Config
from seq2seq.continued import continued_tokenizer
from seq2seq.tokenization import Tokenizer


def prepare_tokenizer(config: Config, read_examples: Callable[[], Iterable[dict[str, Any]]], run_dir: Path,
                      accelerator: Accelerator, task=None) -> Tokenizer:
    """Train SentencePiece on the training examples once (main process) and reuse it on resume.

    The source model is trained on every text input, the target model on the targets; a model
    without text inputs gets one model for the targets, used for both sides. A continued run
    (``training.init_from``) takes the saved model's instead (``continued.py``)."""
    directory = run_dir / "tokenizer"
    text_inputs = [name for name, spec in config.inputs.items() if spec.modality == "text"]
    with accelerator.main_process_first():
        if not (directory / "tokenizer_config.json").is_file() and accelerator.is_main_process:
            examples = list(read_examples())
            tok = config.tokenizer
            targets = [e["target_text"] for e in examples if e.get("target_text") is not None]
            # A text input may be a list of sentences (a story for a sentence-level encoder).
            sources = [text for e in examples for name in text_inputs
                       for text in (e[name] if isinstance(e[name], list) else [e[name]])] if text_inputs else None
            if config.training.init_from:
                tokenizer = continued_tokenizer(config, task, targets)
            else:
                tokenizer = Tokenizer.train(
                    sources, targets, vocab_size=tok.vocab_size, model_type=tok.model_type,
                    joint=tok.joint or not text_inputs, character_coverage=tok.character_coverage,
                    max_sentences=tok.max_sentences, lowercase_source=tok.lowercase_source,
                    keep_whitespace=tok.keep_whitespace)
            tokenizer.save_pretrained(directory)
    return Tokenizer.from_pretrained(directory)

