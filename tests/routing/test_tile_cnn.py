"""The routing detector's tile CNN: the numpy forward, how its score enters the logit, quadrants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bbcu_cli.aliasing import FEATURE_NAMES, AliasingDetector, detector_for, measure
from bbcu_cli.tile_cnn import MAX_TILES, TileCNN, tile_grid


def _random_cnn(seed: int = 0) -> TileCNN:
    rng = np.random.default_rng(seed)
    shapes = [(16, 1, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3), (32, 32, 3, 3)]
    convs = [
        {"shape": list(s), "weight": rng.normal(0, 0.3, s).ravel().tolist(), "bias": rng.normal(0, 0.1, s[0]).tolist()}
        for s in shapes
    ]
    return TileCNN.of({"convs": convs, "linear": {"weight": rng.normal(0, 0.3, 32).tolist(), "bias": 0.1}})


def _contrast_cnn() -> TileCNN:
    """Logit = 0.5 * mean over 4x4 cells of relu(8 x centred luma) summed over the 3 x 3 taps:
    0 on a flat tile, large on a textured one."""
    ident = np.zeros((16, 1, 3, 3))
    ident[0, 0, 1, 1] = 1.0
    pool = np.zeros((32, 16, 3, 3))
    pool[0, 0] = 1.0
    keep = np.zeros((32, 32, 3, 3))
    keep[0, 0] = 1.0
    layers = [ident, pool, keep, keep]
    convs = [{"shape": list(w.shape), "weight": w.ravel().tolist(), "bias": [0.0] * w.shape[0]} for w in layers]
    return TileCNN.of({"convs": convs, "linear": {"weight": [0.5] + [0.0] * 31, "bias": 0.0}})


def test_the_numpy_forward_matches_torch_convolutions() -> None:
    torch = pytest.importorskip("torch")
    cnn = _random_cnn()
    tiles = np.random.default_rng(1).uniform(0, 255, (5, 32, 32)).astype(np.float32)
    x = torch.from_numpy(tiles / 255.0)[:, None]
    x = (x - x.mean(dim=(2, 3), keepdim=True)) * 8.0
    for i, (w, b) in enumerate(cnn.convs):
        x = torch.relu(torch.nn.functional.conv2d(x, torch.from_numpy(w), torch.from_numpy(b), 1 if i == 0 else 2, 1))
    want = x.mean(dim=(2, 3)).numpy() @ cnn.linear[0] + cnn.linear[1]
    np.testing.assert_allclose(cnn.logits(tiles), want, rtol=1e-4, atol=1e-4)


def test_the_tile_grid_is_the_spectrum_grid_capped_and_evenly_spread() -> None:
    luma = np.zeros((64, 96), np.float32)
    tiles, at = tile_grid(luma)
    assert tiles.shape == (3 * 5, 32, 32)
    assert at[0].tolist() == [16, 16] and at[-1].tolist() == [48, 80]
    big_tiles, big_at = tile_grid(np.zeros((700, 900), np.float32))
    assert len(big_tiles) == MAX_TILES and big_at[0].tolist() == [16, 16] and big_at[-1].tolist() == [672, 880]


def _detector(cnn: TileCNN | None, alpha: float, threshold: float = 0.5, veto: float = 1.0) -> AliasingDetector:
    """Features ignored (weights 0, bias -2): P = sigmoid(-2 + alpha * cnn score)."""
    n = len(FEATURE_NAMES)
    return AliasingDetector(4, (0.0,) * n, (1.0,) * n, (0.0,) * n, -2.0, threshold, veto, tile_cnn=cnn, cnn_alpha=alpha)


def test_the_score_enters_the_logit_times_alpha() -> None:
    features = np.zeros((3, len(FEATURE_NAMES)))
    score = np.array([-1.0, 0.0, 3.0])
    got = _detector(_random_cnn(), 0.5).probabilities(features, score)
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-(-2.0 + 0.5 * score))))
    np.testing.assert_allclose(_detector(None, 0.5).probabilities(features, score), 1 / (1 + np.exp(2.0)))


def _flat_with_textured_corner() -> np.ndarray:
    img = np.full((96, 128, 3), 128, np.uint8)
    img[48:, 64:] = np.random.default_rng(0).integers(0, 256, (48, 64, 3))
    return img


def test_a_textured_quadrant_scores_higher_than_the_whole_and_can_veto() -> None:
    img = _flat_with_textured_corner()
    m = measure(img)
    assert m is not None
    cnn = _contrast_cnn()
    whole, *quads = cnn.scores(m.luma, [None, (0, 48, 0, 64), (48, 96, 64, 128)])
    assert quads[0] == pytest.approx(0.0, abs=1e-6) and quads[1] > whole > 0.5
    take, p, part = _detector(cnn, 0.05, threshold=0.9, veto=0.999).judge(m)
    assert take and p is not None and part is not None and part > p
    take, p, part = _detector(cnn, 0.05, threshold=0.9, veto=part - 1e-3).judge(m)
    assert not take


def test_the_packaged_x4_detector_carries_a_tile_cnn_and_the_other_scales_none() -> None:
    x4 = detector_for(4)
    assert x4 is not None and x4.tile_cnn is not None and x4.cnn_alpha > 0
    assert all(np.isfinite(x4.tile_cnn.score_range)) and x4.tile_cnn.score_range[0] < 0 < x4.tile_cnn.score_range[1]
    assert sum(w.size + b.size for w, b in x4.tile_cnn.convs) + x4.tile_cnn.linear[0].size > 10_000
    for scale in (2, 3):
        other = detector_for(scale)
        assert other is not None and other.tile_cnn is None


def test_scores_are_clipped_to_the_range_and_a_sure_input_skips_the_cnn(monkeypatch: pytest.MonkeyPatch) -> None:
    img = _flat_with_textured_corner()
    m = measure(img)
    assert m is not None
    cnn = dataclasses.replace(_contrast_cnn(), score_range=(-1.0, 2.0))
    assert cnn.scores(m.luma, [None, (48, 96, 64, 128), (0, 48, 0, 64)]).tolist() == [2.0, 2.0, 0.0]
    sure = _detector(cnn, 1.0, threshold=0.04)  # sigmoid(-2 - 1) = 0.047: even the lowest score keeps it
    calls: list[int] = []
    monkeypatch.setattr(TileCNN, "logits", lambda self, tiles: calls.append(len(tiles)) or np.zeros(len(tiles)))
    take, p, part = sure.judge(m)
    assert not take and p == pytest.approx(1 / (1 + np.exp(3.0))) and part is None and calls == []
    take, p, _ = _detector(cnn, 1.0, threshold=0.2).judge(m)  # could go either way: the CNN runs
    assert calls and take and p == pytest.approx(1 / (1 + np.exp(2.0)))
