"""scripts/cross_validate.py: one fold per group, each validated on its held-out group only."""

import json

from conftest import tiny_audio_classifier_config, write_tone_folder


def write_speaker_tones(root):
    """Tones by two "speakers" (s0: even takes, s1: odd ones), named in each split's metadata.csv."""
    write_tone_folder(root, {"train": 6, "validation": 2})
    for split in ("train", "validation"):
        lines = ["file_name,label,speaker"]
        for path in sorted((root / split).glob("*/*.wav")):
            lines.append(f"{path.parent.name}/{path.name},{path.parent.name},s{int(path.stem) % 2}")
        (root / split / "metadata.csv").write_text("\n".join(lines) + "\n")


def test_each_fold_holds_out_one_speaker_and_a_finished_fold_is_not_trained_again(tmp_path, run_script):
    import yaml

    write_speaker_tones(tmp_path / "tones")
    config = tiny_audio_classifier_config(str(tmp_path / "unused"), {"kind": "huggingface",
                                                                     "path": str(tmp_path / "tones"),
                                                                     "group_column": "speaker"}, max_steps=30)
    (tmp_path / "cv.yaml").write_text(yaml.safe_dump(config))
    output = tmp_path / "folds"
    status, out, err = run_script("cross_validate", "--config", str(tmp_path / "cv.yaml"), "--output-dir",
                                  str(output))
    assert status == 0, err
    result = json.loads((output / "cross_validation.json").read_text())
    assert sorted(result["folds"]) == ["s0", "s1"] and result["metric"] == "accuracy"
    for group, scores in result["folds"].items():
        assert 0.0 <= scores["final"] <= scores["best"] <= 100.0
        # 4 tones x (3 + 1) takes of this speaker's 8 per tone: validation is the held-out speaker alone.
        predictions = (output / group / "valid_predictions.txt").read_text().splitlines()
        assert len(predictions) == 16
    assert result["mean"]["final"] == sum(s["final"] for s in result["folds"].values()) / 2
    trained = (output / "s0" / "last" / "model.safetensors").stat().st_mtime_ns
    status, out, err = run_script("cross_validate", "--config", str(tmp_path / "cv.yaml"), "--output-dir",
                                  str(output), "--groups", "s0")
    assert status == 0, err
    assert (output / "s0" / "last" / "model.safetensors").stat().st_mtime_ns == trained  # read, not retrained
    assert json.loads(out.splitlines()[-1]) == {"mean": result["folds"]["s0"], "folds": 1}
    status, out, err = run_script("cross_validate", "--config", str(tmp_path / "cv.yaml"), "--output-dir",
                                  str(output), "--groups", "s7")
    assert status == 2 and "--groups: no speaker s7 (groups: s0, s1)" in err
