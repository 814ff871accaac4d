"""Speech recognition: metrics, a short run that learns generated DTMF key strings, lowest-error
model selection, the pipeline contract."""

import json

import numpy as np
import pytest
import torch

from pipelines import SpeechRecognitionPipeline, get_task, pipeline
from seq2seq.media import MediaError
from seq2seq.metrics import cer, wer


def test_error_rates_count_edits_per_reference_unit():
    assert cer(["314", "12"], ["314", "123"]) == pytest.approx(100 / 6)
    assert wer(["a b c"], ["a x c d"]) == 50.0
    assert get_task("speech_recognition").compute_metrics(["12"], ["12"]) == {"cer": 0.0, "wer": 0.0,
                                                                               "exact_match": 100.0}


def test_a_short_run_learns_the_generated_key_strings(speech_run):
    evals = [json.loads(line) for line in (speech_run / "run" / "metrics.jsonl").read_text().splitlines()
             if "valid/cer" in line]
    assert min(e["valid/cer"] for e in evals) <= 12.0, evals  # the target: an untrained model is near 100 %
    assert evals[-1]["valid/cer"] <= 12.0  # training stopped when it got there


def test_the_best_model_is_the_one_with_the_lowest_error_rate(speech_run):
    evals = [json.loads(line) for line in (speech_run / "run" / "metrics.jsonl").read_text().splitlines()
             if "valid/cer" in line]
    last = max(e["step"] for e in evals)
    state = json.loads((speech_run / "run" / "checkpoints" / f"step_{last}" / "trainer_state.json").read_text())
    best = min(evals, key=lambda e: e["valid/cer"])
    assert state["trainer"]["best_metric"] == best["valid/cer"]


def test_the_pipeline_takes_a_path_an_array_or_a_list(speech_run):
    recognize = pipeline("automatic-speech-recognition", model=speech_run / "run" / "model")
    assert isinstance(recognize, SpeechRecognitionPipeline)
    path = str(speech_run / "clips" / "validation" / "00000.wav")
    from_path = recognize(path)
    assert isinstance(from_path["text"], str)
    from seq2seq.media import load_audio

    waveform, rate = load_audio(path)
    assert recognize({"array": waveform.numpy(), "sampling_rate": rate}) == from_path
    both = recognize([path, {"array": waveform.numpy(), "sampling_rate": rate}], return_scores=True)
    assert len(both) == 2 and both[0]["text"] == both[1]["text"] == from_path["text"] and "score" in both[0]
    with pytest.raises(FileNotFoundError, match="nothing.wav"):
        recognize(str(speech_run / "nothing.wav"))
    with pytest.raises(MediaError, match="audio 0.*sampling_rate"):
        recognize({"array": np.zeros(800, np.float32)})
    with pytest.raises(ValueError, match="empty"):
        recognize([])


def test_attention_comes_with_the_tokens_of_its_rows(speech_run):
    recognize = pipeline("automatic-speech-recognition", model=speech_run / "run" / "model")
    path = str(speech_run / "clips" / "validation" / "00001.wav")
    result = recognize(path, return_attention=True)
    assert result["text"] == recognize(path)["text"]
    tokens, attention = result["target_tokens"], result["attention"]
    assert tokens[-1] == "</s>" and attention.shape[0] == len(tokens)
    assert "".join(tokens[:-1]).replace("\u2581", " ").strip() == result["text"]
    torch.testing.assert_close(attention.sum(dim=1), torch.ones(len(tokens)))  # each row: a distribution


def test_a_speech_pipeline_refuses_another_task_and_unknown_settings(speech_run, trained_reverse_model):
    with pytest.raises(ValueError, match="not a speech recognition model"):
        SpeechRecognitionPipeline(trained_reverse_model / "model")
    with pytest.raises(TypeError, match="unknown generation setting"):
        SpeechRecognitionPipeline(speech_run / "run" / "model", beams=3)


def test_the_predict_script_transcribes_each_file(speech_run, run_script):
    paths = [str(speech_run / "clips" / "validation" / f"{i:05d}.wav") for i in range(2)]
    status, out, _ = run_script("predict", "--model", str(speech_run / "run" / "model"), *paths)
    assert status == 0
    recognize = pipeline("automatic-speech-recognition", model=speech_run / "run" / "model")
    assert out.splitlines() == [f"{path}\t{recognize(path)['text']}" for path in paths]


def test_the_pipeline_reads_an_audio_column_batch_by_batch(speech_run):
    """A dataset's Audio column (torchcodec decoders), a KeyDataset, a streamed column: one result per row."""
    import datasets

    from pipelines import KeyDataset

    recognize = pipeline("automatic-speech-recognition", model=speech_run / "run" / "model", batch_size=3)
    paths = [str(speech_run / "clips" / "validation" / f"{i:05d}.wav") for i in range(7)]
    expected = recognize(paths)
    rows = datasets.Dataset.from_dict({"audio": paths}).cast_column("audio", datasets.Audio())
    results = recognize(rows["audio"])
    assert not isinstance(results, list)  # a generator: nothing is computed before it is read
    assert list(results) == expected
    assert list(recognize(KeyDataset(rows, "audio"))) == expected
    assert list(recognize(rows.to_iterable_dataset()["audio"])) == expected
    with pytest.raises(TypeError, match="one column of a dataset: pass KeyDataset"):
        next(recognize(rows))
    with pytest.raises(KeyError, match="column 'speech' not found"):
        KeyDataset(rows, "speech")


def test_every_call_takes_the_batch_size_and_search_settings(speech_run):
    """One call convention for every pipeline (as in Hugging Face pipelines): batch_size and the
    search settings per call, an unknown one named."""
    recognize = pipeline("automatic-speech-recognition", model=speech_run / "run" / "model")
    paths = [str(speech_run / "clips" / "validation" / f"{i:05d}.wav") for i in range(5)]
    expected = recognize(paths)
    assert recognize(paths, batch_size=2) == expected
    assert [r["text"] for r in recognize(paths, num_beams=3, batch_size=64)] == [r["text"] for r in
                                                                                 recognize(paths, num_beams=3)]
    assert all(r.get("truncated") for r in recognize(paths, max_length=1))
    assert recognize.settings["batch_size"] == 64 and recognize.settings["max_length"] != 1  # per call only
    with pytest.raises(TypeError, match="unknown generation setting"):
        recognize(paths, beams=3)
