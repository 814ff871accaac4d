"""One processor per modality: raw input -> model-ready tensors, saved with the model as JSON.

The same processor object prepares training data and pipeline input, so preprocessing cannot
drift between them; train-time augmentation is a flag of the call, not a second code path.
A model directory holds ``processor_config.json``: each input's processor settings by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seq2seq.processors.audio import AudioProcessor
from seq2seq.processors.text import TextProcessor
from seq2seq.processors.video import VideoProcessor
from seq2seq.tokenization import Tokenizer

PROCESSOR_FILE = "processor_config.json"
Processor = TextProcessor | VideoProcessor | AudioProcessor


def build_processor(modality: str, settings: dict[str, Any], tokenizer: Tokenizer, name: str) -> Processor:
    """The processor of one input; ``name`` labels errors in its settings."""
    if modality == "text":
        # The tokenizer section configures the tokens; the processor only how a text is cut up.
        try:
            return TextProcessor.from_dict(tokenizer, settings)
        except (TypeError, ValueError) as error:
            raise ValueError(f"inputs.{name}.processor: {error}") from None
    if modality == "video":
        try:
            return VideoProcessor.from_dict(settings)
        except (TypeError, ValueError) as error:
            raise ValueError(f"inputs.{name}.processor: {error}") from None
    if modality == "audio":
        try:
            return AudioProcessor.from_dict(settings)
        except (TypeError, ValueError) as error:
            raise ValueError(f"inputs.{name}.processor: {error}") from None
    raise ValueError(f"inputs.{name}: unknown modality {modality!r} (known: text, video, audio)")


def save_processors(directory: str | Path, processors: dict[str, Processor]) -> None:
    settings = {name: processor.to_dict() for name, processor in processors.items()}
    (Path(directory) / PROCESSOR_FILE).write_text(json.dumps(settings, indent=2))


def load_processors(directory: str | Path, tokenizer: Tokenizer, inputs: dict[str, Any]) -> dict[str, Processor]:
    """The processors saved in a model directory, by input name.

    ``inputs`` is the model config's inputs section: a directory written before processors were
    saved (format 1, text only) gets a text processor for each text input."""
    path = Path(directory) / PROCESSOR_FILE
    if not path.is_file():
        if all(spec["modality"] == "text" for spec in inputs.values()):
            return {name: TextProcessor(tokenizer) for name in inputs}
        raise FileNotFoundError(f"{directory} is not a complete model directory: {PROCESSOR_FILE} is missing")
    processors = {}
    for name, settings in json.loads(path.read_text()).items():
        settings = dict(settings)
        processors[name] = build_processor(settings.pop("kind", "text"), settings, tokenizer, name)
    if set(processors) != set(inputs):
        raise ValueError(f"{path} has processors for {sorted(processors)} but the model's inputs are {sorted(inputs)}")
    return processors


__all__ = ["PROCESSOR_FILE", "AudioProcessor", "Processor", "TextProcessor", "VideoProcessor", "build_processor",
           "load_processors", "save_processors"]
