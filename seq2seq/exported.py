"""Greedy decoding with an exported model (``export.py``): numpy, onnxruntime and sentencepiece only.

This file imports nothing from seq2seq or PyTorch: the export copies it next to the graphs as
``translate.py``, so the folder alone translates:

    python translate.py "Ein Hund läuft im Schnee."          # or lines on standard input

or, from Python, ``ExportedModel(DIR)(["Ein Hund läuft im Schnee."])``. Its outputs are the
PyTorch pipeline's greedy ones (``num_beams=1``, ``split_sentences=False``): the same tokens,
the same length limits.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

EXPORT_FILE = "export.json"
EXPORT_FORMAT = "seq2seq-onnx-greedy"


class ExportedModel:
    def __init__(self, directory: str | Path):
        import onnxruntime
        import sentencepiece

        directory = Path(directory)
        path = directory / EXPORT_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{directory} is not an exported model: {EXPORT_FILE} is missing")
        self.description = json.loads(path.read_text(encoding="utf-8"))
        if self.description.get("format") != EXPORT_FORMAT:
            raise ValueError(f"{path}: format {self.description.get('format')!r} is not {EXPORT_FORMAT!r}")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        self.encoder = onnxruntime.InferenceSession(str(directory / "encoder.onnx"), options,
                                                    providers=["CPUExecutionProvider"])
        self.step = onnxruntime.InferenceSession(str(directory / "decoder_step.onnx"), options,
                                                 providers=["CPUExecutionProvider"])
        read = lambda name: sentencepiece.SentencePieceProcessor(  # noqa: E731
            model_proto=(directory / self.description[name]).read_bytes())
        self.source, self.target = read("source_tokenizer"), read("target_tokenizer")

    def limit(self, source_length: int) -> int:
        """The output's length limit: min(max_length, floor(a * source_length + b)), at least 1."""
        limit = self.description["max_length"]
        a, b = self.description["max_length_a"], self.description["max_length_b"]
        if a or b:
            limit = min(limit, max(1, math.floor(a * source_length + b)))
        return limit

    def generate_ids(self, source_ids: list[int]) -> list[int]:
        """Greedy output ids for source ids (ending with eos), cut before eos."""
        ids = self.description
        states, keys, state = self.encoder.run(None, {"source": np.array([source_ids], dtype=np.int64)})
        prev, output = ids["bos_id"], []
        for _ in range(self.limit(len(source_ids))):
            logits, state = self.step.run(None, {"prev": np.array([prev], dtype=np.int64), "states": states,
                                                 "keys": keys, "state": state})
            logits = logits[0].astype(np.float64)
            logits[[ids["pad_id"], ids["bos_id"]]] = -np.inf  # never generated, as in search.py
            prev = int(logits.argmax())
            if prev == ids["eos_id"]:
                break
            output.append(prev)
        return output

    def __call__(self, texts: list[str]) -> list[str]:
        results = []
        for text in texts:
            source_ids = self.source.encode(text) + [self.description["eos_id"]]
            results.append(self.target.decode(self.generate_ids(source_ids)))
        return results


def main(argv: list[str]) -> None:
    model = ExportedModel(Path(__file__).resolve().parent)
    lines = argv or [line.rstrip("\n") for line in sys.stdin]
    for translation in model([line for line in lines if line.strip()]):
        print(translation)


if __name__ == "__main__":
    main(sys.argv[1:])
