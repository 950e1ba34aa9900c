"""How routing detectors are fitted (training/detector_fit.py): linear or one hidden layer, folds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.detector_fit import as_detector, choose_threshold, fit_hidden, fit_linear, out_of_fold, probabilities


def _quadrants_task(n: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two features; the robust model wins (gain < 0) where they have the same sign: no line
    separates that, one hidden layer can."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    gain = np.where(x[:, 0] * x[:, 1] > 0, -1.0, 1.0) * (0.5 + rng.random(n))
    return x, gain


def _accuracy(fields: dict, x: np.ndarray, gain: np.ndarray) -> float:
    p = as_detector(4, fields).probabilities(x)
    return float(np.mean((p > 0.5) == (gain < 0)))


def test_a_hidden_layer_learns_what_a_line_cannot() -> None:
    x, gain = _quadrants_task()
    assert _accuracy(fit_hidden(x, gain, units=8, steps=1500), x, gain) > 0.9
    assert _accuracy(fit_linear(x, gain), x, gain) < 0.7


def test_a_linear_fit_finds_a_linear_rule() -> None:
    x, gain = _quadrants_task()
    gain = np.where(x[:, 0] > 0.3, -1.0, 1.0)
    assert _accuracy(fit_linear(x, gain), x, gain) > 0.95


def test_the_detector_survives_the_json_round_trip() -> None:
    x, gain = _quadrants_task(200)
    fields = fit_hidden(x, gain, units=4, steps=200)
    entry = json.loads(json.dumps({k: np.asarray(v).tolist() for k, v in fields.items()}))
    a, b = as_detector(4, fields), as_detector(4, entry)
    assert len(a.hidden_weights) == 2 and len(a.hidden_weights[0]) == 4
    np.testing.assert_allclose(a.probabilities(x), b.probabilities(x))
    z = np.tanh(((x - fields["mean"]) / fields["std"]) @ fields["hidden_weights"] + fields["hidden_bias"])
    expected = 1 / (1 + np.exp(-(z @ fields["weights"] + fields["bias"])))
    np.testing.assert_allclose(a.probabilities(x), expected)


def test_each_fold_is_judged_by_a_model_that_never_saw_it() -> None:
    x, gain = _quadrants_task(600)
    gain = np.where(x[:, 0] > 0, -1.0, 1.0)
    fold = np.arange(len(x)) % 2
    gain[fold == 1] *= -1  # the other fold follows the opposite rule
    fit = lambda xs, gs: as_detector(4, fit_linear(xs, gs))  # noqa: E731
    judges = out_of_fold(x, gain, fold, np.ones(len(x), bool), fit)
    p = probabilities(judges, fold, x)
    assert np.mean((p > 0.5) == (gain < 0)) < 0.05  # each fold predicted by the other's rule
    assert out_of_fold(x, gain, np.zeros(len(x), int), np.ones(len(x), bool), fit) == [None]


@pytest.mark.parametrize("units", [0, 4])
def test_quadrant_shaped_inputs_get_one_probability_per_quadrant(units: int) -> None:
    x, gain = _quadrants_task(300)
    fields = fit_hidden(x, gain, units, steps=100) if units else fit_linear(x, gain)
    parts = np.stack([x] * 4, axis=1)  # (n, 4, F)
    p = probabilities([as_detector(4, fields)], np.zeros(len(x), int), parts)
    assert p.shape == (len(x), 4)
    np.testing.assert_allclose(p[:, 2], as_detector(4, fields).probabilities(x))


def test_the_threshold_can_cap_the_share_of_costly_mistakes() -> None:
    prob = np.r_[np.linspace(0.0, 0.9, 100), np.linspace(0.0, 0.9, 100)]
    gain = np.r_[np.full(100, 0.5), np.full(100, 0.0)]
    gain[150] = -1.5  # one input of the second way, judged at p = 0.45, loses 1.5 dB if routed
    degradation = np.repeat(["clean", "aliased"], 100)
    loose, _ = choose_threshold(prob, gain, degradation, tolerance=0.02)
    capped, won = choose_threshold(prob, gain, degradation, tolerance=0.02, max_bad=0.005)
    assert loose > 0.45 >= capped  # the mean loss (0.015 dB) passes; the capped share (1%) does not
    assert won == pytest.approx(np.where(prob < capped, gain, 0.0).mean())


def test_when_no_threshold_keeps_the_rules_nothing_is_routed() -> None:
    prob = np.linspace(0.0, 0.9, 100)
    gain = np.full(100, -0.5)  # the variant loses everywhere: even the lowest threshold costs
    threshold, won = choose_threshold(prob, gain, np.repeat(["x"], 100), tolerance=0.001)
    assert threshold == 0.0 and won == 0.0
    assert not (prob < threshold).any()


def test_the_detector_file_keeps_each_list_of_numbers_on_one_line() -> None:
    from training.fit_aliasing import dump

    doc = {
        "features": ["a", "b"],
        "detectors": {"4": {"mean": [0.5, -1e-05], "hidden_weights": [[1.0, 2.0], [3.0, -4.0]]}},
    }
    text = dump(doc)
    assert json.loads(text) == doc
    assert '"mean": [0.5, -1e-05]' in text and "[3.0, -4.0]" in text
    assert '"features": [\n' in text  # lists of names keep one per line
