import pytest

from seq2seq.metrics import bleu, chrf, exact_match


def test_metric_values():
    references = ["a dog runs in the park .", "two cats sleep on a red sofa ."]
    assert bleu(references, references) == pytest.approx(100.0)
    assert chrf(references, references) == pytest.approx(100.0)
    assert bleu(["completely different words here"] * 2, references) < 5
    assert exact_match(["x", "y ", "z"], ["x", "y", "q"]) == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        exact_match(["a", "b"], ["a"])
