"""The quadrant veto: a corner the detector is sure is aliased keeps the whole image robust."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bbcu_cli.aliasing import (
    FEATURE_NAMES,
    AliasingDetector,
    detector_features,
    detector_for,
    quadrants,
    region_features,
)
from bbcu_cli.routing import Route, Variant

NOISE = FEATURE_NAMES.index("noise_level")  # log(sigma + 0.1) of the flattest tenth of 8x8 blocks


def _detector(threshold: float, veto: float) -> AliasingDetector:
    """P = sigmoid(2 * noise_level - 1): a flat image ~0.004, sigma 20 ~0.99, sigma 2 ~0.6."""
    n = len(FEATURE_NAMES)
    weights = tuple(2.0 if i == NOISE else 0.0 for i in range(n))
    return AliasingDetector(2, (0.0,) * n, (1.0,) * n, weights, -1.0, threshold, veto)


def _flat_with_noisy_right_half(sigma: float) -> np.ndarray:
    """The whole's flattest tenth is flat (looks clean); the right quarters are all noise."""
    img = np.full((96, 128, 3), 128.0)
    img[:, 64:] += np.random.default_rng(0).normal(0.0, sigma, (96, 64, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(64, 64), (65, 97), (201, 130)])
def test_quadrants_tile_the_image_exactly(shape: tuple[int, int]) -> None:
    img = np.arange(shape[0] * shape[1]).reshape(shape)
    parts = quadrants(img)
    assert len(parts) == 4
    assert sorted(np.concatenate([p.ravel() for p in parts]).tolist()) == img.ravel().tolist()
    assert all(min(p.shape) >= 32 for p in parts)


def test_an_image_under_64_pixels_a_side_has_no_quadrants() -> None:
    assert quadrants(np.zeros((63, 200, 3), np.uint8)) == []


def test_a_sure_quadrant_vetoes_an_image_that_looks_clean_as_a_whole() -> None:
    img = _flat_with_noisy_right_half(20.0)
    clean, p, part = _detector(0.3, 1.0).decide(img)
    assert clean and p is not None and p < 0.01 and part is None
    clean, p, part = _detector(0.3, 0.9).decide(img)
    assert not clean and p is not None and p < 0.01 and part is not None and part > 0.9


def test_quadrants_under_the_veto_leave_the_choice_to_the_whole_image() -> None:
    clean, p, part = _detector(0.3, 0.9).decide(_flat_with_noisy_right_half(2.0))
    assert clean and p is not None and p < 0.3 and part is not None and 0.3 < part < 0.9


def test_an_image_that_looks_aliased_as_a_whole_never_asks_its_quadrants() -> None:
    noisy = np.random.default_rng(1).normal(128, 20, (96, 128, 3)).clip(0, 255).astype(np.uint8)
    clean, p, part = _detector(0.3, 0.9).decide(noisy)
    assert not clean and p is not None and p > 0.9 and part is None
    assert _detector(0.3, 0.9).decide(np.zeros((20, 20, 3), np.uint8)) == (False, None, None)


def test_the_route_reports_the_vetoing_quadrant() -> None:
    choice = Route((Variant("clean", object(), "clean", _detector(0.3, 0.9)),)).choose(
        _flat_with_noisy_right_half(20.0)
    )
    assert choice.variant == "robust" and choice.probability is not None and choice.probability < 0.01
    assert choice.part is not None and choice.part > 0.9


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_packaged_detectors_carry_a_veto_above_their_threshold(scale: int) -> None:
    detector = detector_for(scale)
    assert detector is not None and detector.threshold < detector.veto < 1.0
    # a veto of 1.0 (none) and the packaged one agree on a tiny image: nothing to split
    tiny = np.full((40, 40, 3), 128, np.uint8)
    assert dataclasses.replace(detector, veto=1.0).decide(tiny)[:2] == detector.decide(tiny)[:2]


def test_quadrant_features_pool_only_what_lies_in_each_quarter() -> None:
    img = np.full((96, 128), 128, np.uint8)
    img[:, 64:] = np.kron(np.indices((12, 8)).sum(axis=0) % 2 * 200 + 20, np.ones((8, 8))).astype(np.uint8)
    found = region_features(img)
    assert found is not None
    whole, parts = found
    assert np.array_equal(whole, detector_features(img)) and len(parts) == 4
    count = FEATURE_NAMES.index("edge_count")
    flat_left, busy_right = [parts[0][count], parts[2][count]], [parts[1][count], parts[3][count]]
    assert flat_left == [0.0, 0.0] and min(busy_right) > np.log(8)
    assert whole[count] > max(busy_right)  # the whole counts the edges of both right quarters
