"""Streaming pipelines: input fed as it arrives, results as it goes, the final one as offline.

    asr = pipeline("automatic-speech-recognition", model=DIR)   # a streamable model
    stream = asr.stream()
    for chunk in microphone_chunks():                            # float samples at the model's rate
        print(stream.feed(chunk)["text"])                        # the transcript so far
    result = stream.finish()                                     # == asr(the whole recording)

A stream carries its encoder's RNN state (``seq2seq/realtime.py``), so each chunk costs its own
encoding plus, for a partial result, one decode over the memory so far. ``finish`` decodes with the
pipeline's settings and returns exactly what the pipeline returns for the whole input.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from seq2seq.processors.audio_stream import SpectrumStream
from seq2seq.realtime import EncodingStream


class TranscriptionStream:
    """``feed(samples) -> {"text": partial transcript}``; ``finish() -> {"text": ...}``.

    Samples are mono floats (a 1-D array or tensor) at the model's sampling rate. ``partial=False``
    skips the partial decodes (``feed`` then returns ``{"text": None}``): only the final result costs
    a decode.
    """

    def __init__(self, pipeline, settings: dict[str, Any], *, partial: bool = True):
        self.pipeline, self.settings, self.partial = pipeline, settings, partial
        self.processor = next(iter(pipeline.processors.values()))
        self.spectrum = SpectrumStream(self.processor)
        self.encoding = EncodingStream(pipeline.model)

    def feed(self, samples: Any) -> dict[str, Any]:
        with self.pipeline.autocast():
            self.encoding.feed(self.processor.finish(self.spectrum.feed(torch.as_tensor(samples))))
            if not self.partial or self.encoding.length == 0:
                return {"text": None if not self.partial else ""}
            partial = self.pipeline.generate(None, {**self.settings, "num_beams": 1, "sampling": None},
                                             encoded=self.encoding.encoded())
        return {"text": self.pipeline.text(self.pipeline.outputs(partial)[0])}

    def finish(self) -> dict[str, Any]:
        with self.pipeline.autocast():
            self.encoding.feed(self.processor.finish(self.spectrum.finish()))
            self.encoding.finish()
        output = self.pipeline.generate(None, self.settings, encoded=self.encoding.encoded())
        generated = self.pipeline.outputs(output)[0]
        result: dict[str, Any] = {"text": self.pipeline.text(generated)}
        if not generated.finished:
            result["truncated"] = True
        return result


class ActionStream:
    """``feed(frames) -> running label scores``; ``finish() -> the final ones``, as the pipeline's.

    Frames are uint8 RGB, (T, H, W, C) or one frame (H, W, C), at ``source_fps`` frames a second.
    With the processor's ``fps`` set, the stream keeps frames at that rate, as the pipeline samples
    a clip; without it, every frame. The result after ``finish`` equals the pipeline's for a clip of
    the kept frames (whose ``num_frames`` sampling then takes them all). Scores after each ``feed``
    are the model's label probabilities given the frames so far.
    """

    def __init__(self, pipeline, *, source_fps: float | None = None, top_k: int):
        self.pipeline, self.top_k = pipeline, top_k
        self.processor = next(iter(pipeline.processors.values()))
        rate = self.processor.fps
        # Never above the source's rate: a stream cannot take a frame twice.
        self.step = max(1.0, (source_fps or self.processor.source_fps) / rate) if rate > 0 else 1.0
        self.transform = self.processor._transform(train=False)
        self.seen = 0  # frames received
        self.kept = 0  # frames taken into the model
        self.encoding = EncodingStream(pipeline.model)
        self.last: list[dict[str, Any]] = []

    def feed(self, frames: Any) -> list[dict[str, Any]]:
        frames = torch.as_tensor(frames)
        if frames.dim() == 3:
            frames = frames.unsqueeze(0)
        if frames.dim() != 4 or frames.size(-1) not in (3, 4) or frames.dtype != torch.uint8:
            raise ValueError(f"video frames must be uint8 (T, H, W, C) or (H, W, C) with C = 3 or 4, got "
                             f"{frames.dtype} {tuple(frames.shape)}")
        wanted = [index - self.seen for index in self._kept_indices(self.seen + frames.size(0))]
        self.seen += frames.size(0)
        if wanted:
            taken = frames[wanted][..., :3].permute(0, 3, 1, 2).contiguous()
            with self.pipeline.autocast():
                self.encoding.feed(self.transform(taken).as_subclass(torch.Tensor))
            self.kept += len(wanted)
        if self.encoding.length:
            self.last = self._scores()
        return self.last

    def finish(self) -> list[dict[str, Any]]:
        with self.pipeline.autocast():
            self.encoding.finish()
        if self.kept < self.processor.min_frames:
            raise ValueError(f"the stream took {self.kept} frame(s), fewer than min_frames={self.processor.min_frames}")
        self.last = self._scores()
        return self.last

    def _kept_indices(self, received: int) -> list[int]:
        """Indices of the frames to keep among the new ones, up to ``received`` frames in all."""
        indices = []
        while (index := math.floor((self.kept + len(indices) + 0.5) * self.step)) < received:
            indices.append(index)
        return indices

    def _scores(self) -> list[dict[str, Any]]:
        with self.pipeline.autocast():
            scores, _ = self.pipeline.model.score_candidates(None, self.pipeline.label_ids,
                                                             encoded=self.encoding.encoded())
        probabilities = torch.softmax(scores.float(), dim=-1)[0].cpu()
        order = probabilities.argsort(descending=True)[: self.top_k].tolist()
        return [{"label": self.pipeline.labels[i], "score": float(probabilities[i])} for i in order]
