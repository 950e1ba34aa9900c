"""The local cues of how a small image was made (bbcu_cli.cues) and the packaged detectors' use of them."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
from modelhelp import mirrored_photo

from bbcu_cli import cues
from bbcu_cli.aliasing import FEATURE_NAMES, _luma, detector_features, detector_for
from bbcu_cli.degradations import add_noise_uint8, downscale
from bbcu_cli.degrade import jpeg_compress

EDGE_Q90, OVER85, JPEG, NOISE = (
    cues.CUE_NAMES.index(n) for n in ("edge_q90", "edge_over85", "jpeg_grid", "noise_level")
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
    for scale, found in doc["detectors"].items():
        assert {len(found[k]) for k in ("mean", "std", "weights")} == {len(FEATURE_NAMES)}, scale
        assert 0.0 < found["threshold"] < 1.0


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_packaged_detectors_keep_jpeg_and_aliased_photos_on_the_robust_model(scale: int) -> None:
    hr = mirrored_photo()
    hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    detector = detector_for(scale)
    assert detector is not None
    for made in (jpeg_compress(downscale(hr, scale, "matlab"), 75), downscale(hr, scale, "cv2-cubic")):
        p = detector.probability(made)
        assert p is not None and p >= detector.threshold, (scale, p)
