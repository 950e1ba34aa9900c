"""The models behind a routing detector (``bbcu_cli.aliasing.AliasingDetector``), how they are
fitted (weighted logistic regression on the features, or on one tanh hidden layer of them) and
how the threshold is chosen (:func:`choose_threshold`).

Both learn the label "the robust model does better" (``gain < 0``, gain = variant minus robust in
dB) with each sample weighted by ``|gain|``: a wrong choice costs what it loses. Pure numpy.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from bbcu_cli.aliasing import AliasingDetector

Fields = dict[str, object]
"""The model part of an ``aliasing.json`` entry: mean, std, weights, bias (and hidden_*)."""


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    return (x - mean) / std, mean, std


def _targets(gain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label ``gain < 0`` (robust better) and weight ``|gain|`` normalised to mean 1."""
    return (gain < 0).astype(float), np.abs(gain) / np.abs(gain).mean()


def fit_linear(x: np.ndarray, gain: np.ndarray, l2: float = 1.0) -> Fields:
    """Weighted logistic regression by Newton's method (100 steps)."""
    z, mean, std = _standardise(x)
    z = np.c_[z, np.ones(len(z))]
    y, w = _targets(gain)
    beta = np.zeros(z.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-z @ beta))
        grad = z.T @ (w * (p - y)) + l2 * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(beta))
        beta -= np.linalg.solve(hess, grad)
    return {"mean": mean, "std": std, "weights": beta[:-1], "bias": float(beta[-1])}


def fit_hidden(
    x: np.ndarray, gain: np.ndarray, units: int, steps: int = 3000, l2: float = 1e-3, seed: int = 0
) -> Fields:
    """Weighted logistic loss through one tanh layer of ``units``, full-batch Adam (lr 0.01)."""
    z, mean, std = _standardise(x)
    y, w = _targets(gain)
    rng = np.random.default_rng(seed)
    params = [
        rng.normal(0, 1 / np.sqrt(z.shape[1]), (z.shape[1], units)),
        np.zeros(units),
        rng.normal(0, 1 / np.sqrt(units), units),
        np.zeros(1),
    ]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    for t in range(1, steps + 1):
        grads = _hidden_grads(params, z, y, w, l2)
        for p, g, (m, v) in zip(params, grads, moments):
            m += 0.1 * (g - m)
            v += 0.001 * (g * g - v)
            p -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    w1, b1, w2, b2 = params
    return {"mean": mean, "std": std, "hidden_weights": w1, "hidden_bias": b1, "weights": w2, "bias": float(b2[0])}


def _hidden_grads(params: list[np.ndarray], z: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float) -> list[np.ndarray]:
    w1, b1, w2, b2 = params
    h = np.tanh(z @ w1 + b1)
    p = 1.0 / (1.0 + np.exp(-(h @ w2 + b2[0])))
    ds = w * (p - y) / len(y)
    dh = np.outer(ds, w2) * (1 - h * h)
    return [z.T @ dh + l2 * w1, dh.sum(axis=0), h.T @ ds + l2 * w2, np.array([ds.sum()])]


def fit_model(x: np.ndarray, gain: np.ndarray, units: int) -> Fields:
    """:func:`fit_hidden` with ``units`` > 0, else :func:`fit_linear`."""
    return fit_hidden(x, gain, units) if units else fit_linear(x, gain)


def as_detector(scale: int, fields: Fields, threshold: float = 0.5, veto: float = 1.0) -> AliasingDetector:
    """The fitted model as a detector (numbers as in ``aliasing.json``)."""
    entry = {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v for k, v in fields.items()}
    return AliasingDetector.of(scale, {**entry, "threshold": threshold, "veto": veto})


def out_of_fold(
    x: np.ndarray,
    gain: np.ndarray,
    fold: np.ndarray,
    fitted: np.ndarray,
    fit: Callable[[np.ndarray, np.ndarray], AliasingDetector],
) -> list[AliasingDetector | None]:
    """One model per fold, fitted on the ``fitted`` samples of the other folds (None for a
    lone fold): their probabilities choose the threshold honestly."""
    folds = sorted(set(fold.tolist()))
    if len(folds) < 2:
        return [None]
    return [fit(x[fitted & (fold != k)], gain[fitted & (fold != k)]) for k in folds]


def probabilities(detectors: list[AliasingDetector], fold: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each sample's probability from the detector of its fold (``x``: (n, F) or (n, 4, F))."""
    folds = sorted(set(fold.tolist()))
    out = np.zeros(x.shape[:-1])
    for k, detector in zip(folds, detectors):
        out[fold == k] = detector.probabilities(x[fold == k].reshape(-1, x.shape[-1])).reshape(out[fold == k].shape)
    return out


def with_cnn(p: np.ndarray, score: np.ndarray, alpha: float) -> np.ndarray:
    """``p`` with ``alpha`` times a tile CNN's ``score`` added to its logit (``p`` as is when alpha is 0)."""
    if alpha == 0.0:
        return p
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return 1.0 / (1.0 + np.exp(-(np.log(q / (1 - q)) + alpha * np.nan_to_num(score))))


def part_probability(
    parts: np.ndarray,
    detectors: list[AliasingDetector],
    fold: np.ndarray,
    cnn: np.ndarray | None = None,
    alpha: float = 0.0,
) -> np.ndarray:
    """The largest quadrant probability of each sample (0 where it has no quadrants); with
    ``cnn`` ((n, 4) quadrant scores) and ``alpha``, see :func:`with_cnn`."""
    p = probabilities(detectors, fold, np.nan_to_num(parts))
    if cnn is not None:
        p = with_cnn(p, cnn, alpha)
    return np.where(np.isnan(parts[..., 0]), 0.0, p).max(axis=1)


def choose_threshold(
    prob: np.ndarray, gain: np.ndarray, degradation: np.ndarray, tolerance: float, max_bad: float = 1.0
) -> tuple[float, float]:
    """The threshold (clean below it) with the largest mean gain over always-robust among those
    that lose at most ``tolerance`` dB on average on every degradation and route at most
    ``max_bad`` of any degradation's samples to a loss of more than 1 dB; and that gain (0 and 0
    when none does: nothing is routed). ``gain``: clean minus robust, dB."""
    best = (0.0, 0.0)  # when no threshold keeps the rules: 0, nothing is routed
    ways = [degradation == d for d in set(degradation)]
    for t in np.linspace(0.02, 0.98, 49):
        routed = np.where(prob < t, gain, 0.0)
        worst = min(routed[way].mean() for way in ways)
        bad = max(np.mean(routed[way] < -1.0) for way in ways)
        if worst >= -tolerance and bad <= max_bad:
            best = max(best, (float(routed.mean()), float(t)))
    return best[1], best[0]
