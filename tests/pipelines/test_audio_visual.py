"""Audio-visual fusion: one decoder over a video and an audio encoder, on generated clips whose
label needs both streams (the motion and the number of beeps); the pipeline reads both from one file."""

import json

import datasets
import pytest
import torch

from pipelines import get_task, pipeline
from seq2seq.config import ConfigError, config_from_dict, load_config
from seq2seq.media import MediaError, load_audio, load_video, write_video
from seq2seq.synthetic_av import make_audio_visual_corpus

VIDEO = {"modality": "video", "processor": {"num_frames": 6, "frame_size": 32, "crop_scale": [1.0, 1.0]},
         "encoder": {"feature_size": 24, "spatial_grid": 2, "hidden_size": 24, "dropout": 0.0}}
AUDIO = {"modality": "audio", "processor": {"sampling_rate": 8000, "num_mel_bins": 24, "freq_masks": 0,
                                            "time_masks": 0},
         "encoder": {"subsampling": 4, "conv_channels": 24, "hidden_size": 24, "dropout": 0.0}}


def tiny_av_config(output_dir: str, data_dir: str, inputs: dict, fusion: str = "gate"):
    return config_from_dict({
        "task": "action_recognition",
        "data": {"kind": "huggingface", "path": data_dir},
        "tokenizer": {"vocab_size": 16, "model_type": "word"},
        "inputs": inputs,
        "model": {"embedding_size": 16, "embedding_dropout": 0.0, "fusion": fusion,
                  "decoder": {"hidden_size": 48, "attention": "luong_general", "dropout": 0.0}},
        "training": {"output_dir": output_dir, "max_steps": 360, "max_epochs": 50, "batch_size": 16,
                     "learning_rate": 2e-3, "eval_every_steps": 120, "eval_metric": "accuracy",
                     "log_every_steps": 40},
        "generation": {"num_beams": 1, "max_length": 4, "max_length_a": 0.0, "max_length_b": 0},
    })


@pytest.fixture(scope="module")
def av_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio_visual")
    corpus = make_audio_visual_corpus(root / "clips", {"train": 480, "validation": 96}, frames=8, frame_size=32)
    corpus.save_to_disk(root / "dataset")
    return root


@pytest.fixture(scope="module")
def av_runs(av_data, tmp_path_factory):
    """A fused (gated) video + audio model, trained until validation accuracy reaches 60 % (about
    360 updates; the cap is 1,200)."""
    from seq2seq.training import train

    run_dir = tmp_path_factory.mktemp("av_both")
    config = tiny_av_config(str(run_dir), str(av_data / "dataset"), {"video": VIDEO, "audio": AUDIO})
    config.training.max_steps, config.training.eval_every_steps, config.training.target_metric = 1200, 60, 60.0
    torch.manual_seed(0)
    train(config, get_task("action_recognition"))
    return {"both": run_dir}


def best_accuracy(run_dir) -> float:
    return max(json.loads(line)["valid/accuracy"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
               if "valid/accuracy" in line)


def test_the_fused_model_scores_what_no_single_stream_can(av_runs):
    """One stream alone names half the label: with balanced classes a video-only or an audio-only
    model gets a third of the 96 validation clips right in expectation (32, give or take 5).
    60 % (58 clips) is out of a single stream's reach: the model fuses both."""
    assert best_accuracy(av_runs["both"]) >= 60.0
    saved = json.loads((av_runs["both"] / "model" / "config.json").read_text())
    assert list(saved["inputs"]) == ["video", "audio"] and saved["model"]["fusion"] == "gate"


def test_the_pipeline_reads_both_streams_from_one_file_or_takes_them_by_name(av_runs, av_data):
    classify = pipeline("action-recognition", model=av_runs["both"] / "model")
    path = str(av_data / "clips" / "validation" / "00000.mp4")
    from_file = classify(path, top_k=None)
    assert abs(sum(r["score"] for r in from_file) - 1.0) < 1e-5 and len(from_file) == 12
    frames = load_video(path).permute(0, 2, 3, 1)  # (T, H, W, C), as arrays are given
    waveform, rate = load_audio(path, sampling_rate=8000)  # the model's rate: no second resampler
    by_name = classify({"video": frames, "audio": {"array": waveform.numpy(), "sampling_rate": rate}}, top_k=None)
    assert [r["label"] for r in by_name] == [r["label"] for r in from_file]
    torch.testing.assert_close(torch.tensor([r["score"] for r in by_name]),
                               torch.tensor([r["score"] for r in from_file]), rtol=1e-4, atol=1e-5)
    attention = classify(path, return_attention=True)[0]["attention"]
    assert attention.shape[0] == 3 and torch.allclose(attention.sum(dim=-1), torch.ones(3))  # 2 words + eos


def test_fusion_pipeline_errors_name_the_input(av_runs, av_data, tmp_path):
    classify = pipeline("action-recognition", model=av_runs["both"] / "model")
    with pytest.raises(ValueError, match="input 0: this model takes video and audio; the input has no 'audio'"):
        classify({"video": load_video(str(av_data / "clips" / "validation" / "00000.mp4")).permute(0, 2, 3, 1)})
    with pytest.raises(ValueError, match="num_clips > 1 splits the video only"):
        classify(str(av_data / "clips" / "validation" / "00000.mp4"), num_clips=2)
    silent = tmp_path / "silent.mp4"
    write_video(silent, torch.zeros(8, 3, 32, 32, dtype=torch.uint8), fps=8)
    with pytest.raises(MediaError, match=f"{silent}.*no audio stream"):
        classify(str(silent))


def test_the_config_may_list_either_input_or_both_and_null_drops_one(tmp_path):
    from seq2seq.config_checks import check_config

    task = get_task("action_recognition")
    for inputs in ({"video": VIDEO}, {"audio": AUDIO}, {"video": VIDEO, "audio": AUDIO}):
        check_config(tiny_av_config(str(tmp_path), str(tmp_path), inputs), task)
    config = tiny_av_config(str(tmp_path), str(tmp_path), {"source": {"modality": "text"}})
    with pytest.raises(ConfigError, match=r"feeds video \(video\), audio \(audio\) \(one or more of them\); "
                                          r"the config lists source \(text\)"):
        check_config(config, task)
    assert list(load_config("configs/audio_visual.yaml", ["inputs.audio=null"]).inputs) == ["video"]
    with pytest.raises(ConfigError, match="there is no input 'speech' to drop"):
        load_config("configs/audio_visual.yaml", ["inputs.speech=null"])


def test_a_dataset_of_clips_is_read_as_in_training(av_runs, av_data):
    """The fused model was trained on each video file's soundtrack (data.columns.audio empty): rows
    of a dataset with only a video column are read the same way, so they score as the files do."""
    classify = pipeline("action-recognition", model=av_runs["both"] / "model")
    rows = datasets.load_from_disk(str(av_data / "dataset"))["validation"].select(range(6))
    from_rows = list(classify(rows, top_k=1))
    from_files = classify(list(rows["video"]), top_k=1)
    assert [r[0]["label"] for r in from_rows] == [r[0]["label"] for r in from_files]
    assert [r[0]["score"] for r in from_rows] == pytest.approx([r[0]["score"] for r in from_files], abs=1e-5)
