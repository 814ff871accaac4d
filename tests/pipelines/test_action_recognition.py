import json

import datasets
import numpy as np
import pytest
import torch
from conftest import tiny_action_config

from pipelines import ActionRecognitionPipeline, get_task, pipeline
from pipelines.action_recognition import ActionRecognitionTask
from seq2seq.config import ConfigError, DataConfig, config_from_dict
from seq2seq.data import Batch
from seq2seq.media import MediaError, read_video
from seq2seq.prepare import prepare_dataset
from seq2seq.processors import VideoProcessor, load_processors
from seq2seq.synthetic_video import ACTIONS
from seq2seq.tokenization import Tokenizer


def clip_path(action_data, index=0, split="validation") -> str:
    return str(action_data / "clips" / split / f"{index:05d}.mp4")


def test_training_learns_the_generated_actions_far_above_chance(trained_action_model):
    evals = [json.loads(line) for line in (trained_action_model / "metrics.jsonl").read_text().splitlines()
             if "valid/accuracy" in line]
    best = max(e["valid/accuracy"] for e in evals)
    assert best >= 60.0 and evals[-1]["valid/accuracy"] == best, evals  # trained to its target; chance is 12.5 %
    report = json.loads((trained_action_model / "valid_report.json").read_text())
    assert report["accuracy"] == best
    assert set(report["per_class_accuracy"]) == set(ACTIONS)
    assert sum(map(sum, report["confusion_matrix"]["counts"])) == 96
    assert (trained_action_model / "confusion_matrix.png").stat().st_size > 0
    saved = json.loads((trained_action_model / "model" / "config.json").read_text())
    assert saved["task"] == "action_recognition" and saved["labels"] == sorted(ACTIONS)


def test_label_scores_are_probabilities_and_the_top_label_is_greedy_decoding(trained_action_model, action_data):
    classify = pipeline(model=trained_action_model / "model")
    assert isinstance(classify, ActionRecognitionPipeline)
    paths = [clip_path(action_data, i) for i in range(48)]
    results = classify(paths, top_k=None)
    model, processor, tokenizer = classify.model, classify.processors["video"], classify.tokenizer
    values, mask = processor.collate([processor(p) for p in paths])
    greedy = tokenizer.decode_target(model.generate(Batch({"video": (values, mask)}), max_length=8).tokens[:, 0])
    clear_winners = 0
    for result, decoded in zip(results, greedy, strict=True):
        assert len(result) == len(ACTIONS)
        assert sum(r["score"] for r in result) == pytest.approx(1.0, abs=1e-5)
        assert [r["score"] for r in result] == sorted((r["score"] for r in result), reverse=True)
        if result[0]["score"] > 0.5:  # a clear winner: greedy decoding writes the same label
            assert result[0]["label"] == decoded
            clear_winners += 1
    assert clear_winners >= 4  # the comparison above really ran (a model at 60 % is sure of far more)


def test_pipeline_takes_a_path_a_tensor_or_a_list(trained_action_model, action_data):
    classify = pipeline("action-recognition", model=trained_action_model / "model")
    path = clip_path(action_data, 3)
    from_path = classify(path, top_k=3)
    assert len(from_path) == 3 and {"label", "score"} <= set(from_path[0])
    frames = read_video(path)[0].permute(0, 2, 3, 1)  # (T, H, W, C) uint8
    for value in (frames, frames.numpy()):
        assert classify(value, top_k=3) == from_path
    batch = classify([path, frames], top_k=2)  # batched with another clip: equal up to float rounding
    assert len(batch) == 2 and batch[0] == batch[1]
    assert [r["label"] for r in batch[0]] == [r["label"] for r in from_path[:2]]
    assert [r["score"] for r in batch[0]] == pytest.approx([r["score"] for r in from_path[:2]], abs=1e-6)
    with_attention = classify(path, return_attention=True)[0]
    label_tokens = len(classify.tokenizer.encode_target([with_attention["label"]])[0])
    assert with_attention["attention"].shape == (label_tokens + 1, 6)
    assert torch.allclose(with_attention["attention"].sum(dim=-1), torch.ones(label_tokens + 1), atol=1e-5)
    two_clips = classify(path, num_clips=2, top_k=None)
    assert sum(r["score"] for r in two_clips) == pytest.approx(1.0, abs=1e-5)


def test_pipeline_reads_a_video_column_batch_by_batch(trained_action_model, action_data):
    """A datasets Video column (torchcodec decoders, no temporary files): one result per row."""
    import datasets

    classify = pipeline("action-recognition", model=trained_action_model / "model", batch_size=2)
    paths = [clip_path(action_data, index) for index in range(3)]
    rows = datasets.Dataset.from_dict({"video": paths}).cast_column("video", datasets.Video())
    results = list(classify(rows["video"], top_k=2))
    expected = classify(paths, top_k=2)
    assert [[r["label"] for r in result] for result in results] == [[r["label"] for r in e] for e in expected]
    for result, reference in zip(results, expected, strict=True):
        assert [r["score"] for r in result] == pytest.approx([r["score"] for r in reference], abs=1e-6)


def test_pipeline_errors_name_the_input(trained_action_model, tmp_path):
    classify = pipeline(model=trained_action_model / "model")
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        classify(str(tmp_path / "missing.mp4"))
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    with pytest.raises(MediaError, match="broken.mp4"):
        classify(str(tmp_path / "broken.mp4"))
    with pytest.raises(MediaError, match="video 1"):
        classify([np.zeros((4, 32, 32, 3), np.uint8), np.zeros((4, 32, 32), np.float32)])
    with pytest.raises(MediaError, match="fewer than min_frames"):
        classify(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        classify([])
    with pytest.raises(ValueError, match="top_k"):
        classify(np.zeros((4, 32, 32, 3), np.uint8), top_k=0)


def test_a_translation_model_is_not_an_action_model(trained_reverse_model):
    with pytest.raises(ValueError, match="not an action recognition model"):
        ActionRecognitionPipeline(trained_reverse_model / "model")


def test_the_processor_round_trips_with_the_model(trained_action_model, action_data):
    directory = trained_action_model / "model"
    processor = load_processors(directory, Tokenizer.from_pretrained(directory),
                                json.loads((directory / "config.json").read_text())["inputs"])["video"]
    assert processor == VideoProcessor(num_frames=6, frame_size=32, crop_scale=(0.85, 1.0))
    path = clip_path(action_data, 5)
    assert torch.equal(processor(path), ActionRecognitionPipeline(directory).processors["video"](path))


def test_bad_videos_stop_preparation_or_are_skipped_and_counted(action_data, tmp_path, caplog):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    rows = datasets.Dataset.from_dict({"video": [clip_path(action_data, 0), str(tmp_path / "broken.mp4"),
                                                 clip_path(action_data, 1)],
                                       "label": ["a", "b", "c"]})
    to_example = ActionRecognitionTask().make_to_example(DataConfig())
    tokenizer = Tokenizer.train(None, ["a", "b", "c"] * 5, vocab_size=8)
    processors = {"video": VideoProcessor(num_frames=4, frame_size=32)}
    with pytest.raises(MediaError, match="broken.mp4"):
        prepare_dataset(rows, tokenizer, processors, to_example=to_example)
    with caplog.at_level("WARNING"):
        prepared = prepare_dataset(rows, tokenizer, processors, to_example=to_example, skip_bad_examples=True)
    assert prepared["row"] == [0, 2] and prepared["target_text"] == ["a", "c"]
    assert "skipped 1 of 3 examples" in caplog.text and "broken.mp4" in caplog.text


def test_metrics_and_report(tmp_path):
    task = ActionRecognitionTask()
    predictions, references = ["a", "b", "b", "x"], ["a", "b", "a", "a"]
    metrics = task.compute_metrics(predictions, references)
    assert metrics == {"accuracy": 50.0, "mean_class_accuracy": pytest.approx((100 / 3 + 100) / 2)}
    task.save_report(predictions, references, tmp_path)
    report = json.loads((tmp_path / "valid_report.json").read_text())
    assert report["per_class_accuracy"] == {"a": pytest.approx(100 / 3), "b": 100.0}
    assert report["confusion_matrix"]["counts"] == [[1, 1, 1], [0, 1, 0]]  # columns a, b, (other)
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0


def test_the_config_must_list_the_inputs_the_task_feeds(tmp_path):
    from seq2seq.config_checks import check_config

    config = tiny_action_config(str(tmp_path), str(tmp_path))
    config.inputs = {"source": config_from_dict({"modality": "text"}, type(config.inputs["video"]))}
    with pytest.raises(ConfigError, match=r"feeds video \(video\), audio \(audio\) \(one or more of them\); "
                                          r"the config lists source \(text\)"):
        check_config(config, get_task("action-recognition"))
    config = tiny_action_config(str(tmp_path), str(tmp_path))
    config.inputs["video"].processor = {"num_frame": 4}
    with pytest.raises(ValueError, match="inputs.video.processor: unknown video processor setting"):
        check_config(config, get_task("action_recognition"))


def test_the_predict_script_names_the_action_of_each_video(trained_action_model, action_data, run_script, tmp_path):
    paths = [clip_path(action_data, 0), clip_path(action_data, 1)]
    status, out, _ = run_script("predict", "--model", str(trained_action_model / "model"), *paths, "--top-k", "2")
    assert status == 0
    expected = pipeline(model=trained_action_model / "model")(paths, top_k=2)
    for line, path, result in zip(out.strip().splitlines(), paths, expected, strict=True):
        assert line.split("\t") == [path, *(f"{r['label']}:{r['score']:.3f}" for r in result)]
    status, _, err = run_script("predict", "--model", str(trained_action_model / "model"), str(tmp_path / "no.mp4"))
    assert status == 2 and "no.mp4" in err and "Traceback" not in err


def test_every_call_takes_the_batch_size(trained_action_model, action_data):
    classify = pipeline("action-recognition", model=trained_action_model / "model")
    paths = [clip_path(action_data, index) for index in range(3)]
    expected = classify(paths, top_k=2)
    for result, reference in zip(classify(paths, top_k=2, batch_size=1), expected, strict=True):
        assert [r["label"] for r in result] == [r["label"] for r in reference]
        assert [r["score"] for r in result] == pytest.approx([r["score"] for r in reference], abs=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        classify(paths, batch_size=0)
