"""The local cues of how a small image was made (bbcu_cli.cues) and the packaged detectors' use of them."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
from modelhelp import mirrored_photo

from bbcu_cli import cues
from bbcu_cli.aliasing import FEATURE_NAMES, AliasingDetector, _luma, detector_features, detector_for
from bbcu_cli.degradations import add_noise_uint8, downscale
from bbcu_cli.degrade import jpeg_compress

EDGE_Q90, OVER85, JPEG, NOISE, STAIRS70, STAIRS90 = (
    cues.CUE_NAMES.index(n) for n in ("edge_q90", "edge_over85", "jpeg_grid", "noise_level", "stairs_q70", "stairs_q90")
)


def _cues(pixels: np.ndarray) -> np.ndarray:
    return cues.cue_features(_luma(pixels))


def _bars(height: int = 256, width: int = 256) -> np.ndarray:
    """Hard-edged vertical and horizontal bars (a graphic): steps from 40 to 210 every 24 pixels."""
    ramp = (np.arange(width) // 24 % 2) * 170 + 40
    img = np.tile(ramp, (height, 1)).astype(np.uint8)
    img[(np.arange(height) // 40 % 3) == 0] = 120
    return np.repeat(img[:, :, None], 3, axis=2)


def test_hard_edges_stay_hard_without_antialiasing_and_soften_with_it() -> None:
    hr = _bars()
    clean, aliased = _cues(downscale(hr, 4, "matlab")), _cues(downscale(hr, 4, "cv2-cubic"))
    assert clean[EDGE_Q90] < 0.86 < aliased[EDGE_Q90]  # the antialiasing kernel's bound, ~0.84
    assert clean[OVER85] < aliased[OVER85]


def _discs(size: int = 512) -> np.ndarray:
    """Hard-edged discs and rings (edges at every slant), 60 and 200 on the luma."""
    r = np.hypot(*np.meshgrid(np.arange(size) % 128 - 63.5, np.arange(size) - size / 2, indexing="ij"))
    img = np.where((r % 40) < 20, 200, 60).astype(np.uint8)
    return np.repeat(img[:, :, None], 3, axis=2)


def test_slanted_edges_turn_into_stairs_only_without_antialiasing() -> None:
    hr = _discs()
    found = {way: _cues(downscale(hr, 4, way)) for way in ("matlab", "cv2-area", "pil", "cv2-cubic", "cv2-linear")}
    for aliased in ("cv2-cubic", "cv2-linear"):
        for filtered in ("matlab", "cv2-area", "pil"):
            for i in (STAIRS70, STAIRS90):
                assert found[aliased][i] > found[filtered][i] + 0.2, (aliased, filtered, i, found[aliased][i])


def test_stairs_of_a_part_are_pooled_from_its_own_blocks() -> None:
    y = _luma(downscale(_discs(), 4, "cv2-cubic")).astype(np.float64)
    y[:, 64:] = 128.0  # the right half flat: no blocks there
    cells = cues.cue_cells(y)
    assert np.all(cells.stairs_at[:, 1] <= 64)
    left, right = cells.features((0, 128, 0, 64)), cells.features((0, 128, 64, 128))
    assert left[STAIRS90] > -2.0 and list(right[[STAIRS70, STAIRS90]]) == list(cues._NO_STAIRS)


def test_a_jpeg_grid_is_found_at_any_offset_and_not_where_there_is_none() -> None:
    lr = downscale(mirrored_photo(), 2, "matlab")
    jpeg = jpeg_compress(lr, 75)
    assert _cues(lr)[JPEG] < 0.3
    assert _cues(jpeg)[JPEG] > 0.5
    assert _cues(np.ascontiguousarray(jpeg[3:, 5:]))[JPEG] > 0.5  # cropped off the 8-pixel grid


def test_noise_raises_the_noise_level() -> None:
    lr = downscale(mirrored_photo(), 2, "matlab")
    noisy = add_noise_uint8(lr, 10.0, np.random.default_rng(0))
    assert _cues(noisy)[NOISE] > _cues(lr)[NOISE] + 1.0  # log(sigma + 0.1)


def test_flat_and_tiny_inputs_give_finite_cues() -> None:
    for img in (np.full((40, 40, 3), 128, np.uint8), np.zeros((32, 33), np.uint8)):
        assert np.all(np.isfinite(_cues(img)))
    assert detector_features(np.zeros((31, 64), np.uint8)) is None


def test_large_inputs_are_judged_on_at_most_nine_grid_aligned_windows() -> None:
    y = np.zeros((1000, 1500))
    windows = cues._windows(y)
    assert 1 < len(windows) <= 9 and all(w.shape == (256, 256) for w in windows)
    assert all(np.shares_memory(w, y) for w in windows)
    big = np.random.default_rng(0).integers(0, 256, (1000, 1500, 3), dtype=np.uint8)
    assert np.all(np.isfinite(detector_features(big)))
    assert cues._windows(np.zeros((300, 384))) and len(cues._windows(np.zeros((300, 384)))) == 1


def test_the_packaged_detectors_use_exactly_these_features() -> None:
    doc = json.loads(resources.files("bbcu_cli").joinpath("aliasing.json").read_text(encoding="utf-8"))
    assert doc["features"] == list(FEATURE_NAMES)
    for table in ("detectors", "alias_detectors"):
        for scale, found in doc[table].items():
            n = len(found["mean"])
            assert len(found["std"]) == n and 16 <= n <= len(FEATURE_NAMES), (table, scale)
            hidden = found.get("hidden_weights", [])
            assert all(len(row) == len(found["weights"]) == len(found["hidden_bias"]) for row in hidden)
            assert len(hidden) in (0, n) and (hidden or len(found["weights"]) == n), (table, scale)
            assert 0.0 < found["threshold"] < 1.0


def test_a_detector_fitted_on_fewer_features_takes_the_first_ones() -> None:
    rng = np.random.default_rng(0)
    short = AliasingDetector(
        4, tuple(rng.normal(size=16)), tuple(1 + rng.random(16)), tuple(rng.normal(size=16)), 0.3, 0.5
    )
    f = detector_features(downscale(mirrored_photo(), 4, "cv2-cubic"))
    assert f is not None and len(f) == len(FEATURE_NAMES) > 16
    z = (f[:16] - np.asarray(short.mean)) / np.asarray(short.std)
    assert short._p(f) == pytest.approx(1 / (1 + np.exp(-(z @ np.asarray(short.weights) + short.bias))))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_packaged_detectors_keep_jpeg_and_aliased_photos_on_the_robust_model(scale: int) -> None:
    hr = mirrored_photo()
    hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    detector = detector_for(scale)
    assert detector is not None
    for made in (jpeg_compress(downscale(hr, scale, "matlab"), 75), downscale(hr, scale, "cv2-cubic")):
        p = detector.probability(made)
        assert p is not None and p >= detector.threshold, (scale, p)
