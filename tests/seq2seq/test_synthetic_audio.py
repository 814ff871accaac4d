import random

import torch

from seq2seq.media import load_audio
from seq2seq.synthetic_audio import FREQUENCIES, make_dtmf_corpus, render_utterance, sample_utterance


def strongest_two(segment: torch.Tensor, rate: int) -> tuple[float, float]:
    """The two strongest frequencies (Hz) of a segment, low first."""
    spectrum = torch.fft.rfft(segment * torch.hann_window(len(segment)), n=8 * len(segment)).abs()
    frequencies = torch.fft.rfftfreq(8 * len(segment), 1 / rate)
    first = int(spectrum.argmax())
    masked = spectrum.clone()
    masked[(frequencies - frequencies[first]).abs() < 60] = 0  # the first peak's own lobe
    return tuple(sorted((float(frequencies[first]), float(frequencies[int(masked.argmax())]))))


def test_every_key_is_its_q23_frequency_pair():
    for seed in range(4):
        spec = sample_utterance(random.Random(seed))
        spec.noise = 0.0
        waveform, rate, start = render_utterance(spec), spec.sampling_rate, 0
        for key, tone, gap in zip(spec.keys, spec.tones, spec.gaps[:-1], strict=True):
            start += round(gap * rate)
            length = round(tone * rate)
            low, high = strongest_two(waveform[start : start + length], rate)
            expected = FREQUENCIES[key]
            assert abs(low - expected[0]) < 15 and abs(high - expected[1]) < 15, (key, low, high)
            start += length
        assert waveform[start:].abs().max() == 0  # the final gap is silent without noise


def test_the_corpus_is_real_wav_reused_and_loads_at_any_rate(tmp_path):
    corpus = make_dtmf_corpus(tmp_path, {"train": 6, "validation": 2}, seed=3)
    assert len(corpus["train"]) == 6 and all(1 <= len(text) <= 12 for text in corpus["train"]["text"])
    path = corpus["train"][0]["audio"]
    modified = (tmp_path / "train" / "00000.wav").stat().st_mtime_ns
    again = make_dtmf_corpus(tmp_path, {"train": 6, "validation": 2}, seed=3)
    assert again["train"]["text"] == corpus["train"]["text"]
    assert (tmp_path / "train" / "00000.wav").stat().st_mtime_ns == modified  # reused, not rewritten
    waveform, rate = load_audio(path, sampling_rate=16000)
    native, native_rate = load_audio(path)
    assert rate == 16000 and waveform.dim() == 1
    assert abs(len(waveform) / 16000 - len(native) / native_rate) < 0.01  # same duration


def test_a_corpus_another_process_is_writing_is_waited_for(tmp_path):
    """Processes of one launch ask for the same corpus at once: one writes while the others wait
    (then reuse its files); the manifest is replaced whole, never seen half written."""
    import fcntl
    import json
    import threading

    from seq2seq.corpus_files import LOCK, MANIFEST

    first = make_dtmf_corpus(tmp_path, {"train": 2}, max_keys=2)
    (tmp_path / MANIFEST).unlink()  # as if another process were rewriting the corpus
    with open(tmp_path / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # ... and held the directory
        results = []
        waiting = threading.Thread(target=lambda: results.append(make_dtmf_corpus(tmp_path, {"train": 2}, max_keys=2)))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive() and not (tmp_path / MANIFEST).exists()
    waiting.join(timeout=60)
    assert results and results[0]["train"]["text"] == first["train"]["text"]
    assert len(json.loads((tmp_path / MANIFEST).read_text())["utterances"]["train"]) == 2
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(f".{MANIFEST}")]
