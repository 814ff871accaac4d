"""Task layer: how dataset rows become model inputs, task metrics, and user-facing pipelines.

    from pipelines import pipeline
    translate = pipeline("translation", model="runs/translation/model")
    translate("three hundred forty-two")  # [{"translation_text": "dreihundertzweiundvierzig"}]
    classify = pipeline("action-recognition", model="runs/action_recognition/model")
    classify("clip.mp4", top_k=3)  # [{"label": "moving left", "score": 0.97}, ...]
    answer = pipeline("question-answering", model="runs/question_answering/model")
    answer(question="Where is Mary?", context="Mary went to the kitchen.")  # {"answer": "kitchen", "score": 0.99}
    generate = pipeline("text-generation", model="runs/shakespeare_char/model")
    generate("ROMEO:", max_new_tokens=100, do_sample=True, seed=0)  # [{"generated_text": "ROMEO: ..."}]
    predict = pipeline("time-series-forecasting", model="runs/forecasting/model")
    predict(series, horizon=24)  # {"forecast": array (24,), "quantiles": {"0.1": ..., "0.9": ...}}
    for result in translate(KeyDataset(dataset, "de")):  # a dataset column: results batch by batch
        ...

Every pipeline takes ``batch_size`` and ``bf16`` at construction and per call, and the generative
ones (translation, speech recognition, question answering, text generation) the search settings (``num_beams``,
``max_length``, ...) too; they default to what was saved with the model (``base.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.action_recognition import ActionRecognitionPipeline, ActionRecognitionTask
from pipelines.base import Pipeline
from pipelines.dataset_inputs import KeyDataset
from pipelines.forecasting import ForecastingPipeline, ForecastingTask
from pipelines.question_answering import QuestionAnsweringPipeline, QuestionAnsweringTask
from pipelines.speech_recognition import SpeechRecognitionPipeline, SpeechRecognitionTask
from pipelines.text_generation import LanguageModelingTask, TextGenerationPipeline
from pipelines.translation import TranslationPipeline, TranslationTask
from seq2seq.model_files import read_model_config

TASKS = {"translation": TranslationTask, "action_recognition": ActionRecognitionTask,
         "speech_recognition": SpeechRecognitionTask, "question_answering": QuestionAnsweringTask,
         "language_modeling": LanguageModelingTask, "forecasting": ForecastingTask}
PIPELINES = {"translation": TranslationPipeline, "action_recognition": ActionRecognitionPipeline,
             "speech_recognition": SpeechRecognitionPipeline,
             "automatic_speech_recognition": SpeechRecognitionPipeline,  # Hugging Face's name
             "question_answering": QuestionAnsweringPipeline, "language_modeling": TextGenerationPipeline,
             "text_generation": TextGenerationPipeline,  # Hugging Face's name
             "forecasting": ForecastingPipeline, "time_series_forecasting": ForecastingPipeline}


def get_task(name: str):
    """The task object the training loop plugs in (``make_to_example``, ``compute_metrics``)."""
    name = name.replace("-", "_")  # "action-recognition" as in pipeline()
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}")
    return TASKS[name]()


def pipeline(task: str | None = None, *, model: str | Path, **kwargs: Any):
    """A ready-to-call pipeline for a trained model directory; ``task`` defaults to the saved one."""
    if task is None:
        task = read_model_config(model).get("task", "translation")
    task = task.replace("-", "_")
    if task not in PIPELINES:
        raise ValueError(f"unknown task {task!r}; available: {', '.join(sorted(PIPELINES))}")
    return PIPELINES[task](model, **kwargs)


__all__ = ["ActionRecognitionPipeline", "ForecastingPipeline", "KeyDataset", "Pipeline", "QuestionAnsweringPipeline",
           "SpeechRecognitionPipeline", "TextGenerationPipeline", "TranslationPipeline", "get_task", "pipeline"]
