"""Routing: a model with a clean variant restores each image with one of the two, whole."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from modelhelp import mirrored_photo, random_loaded

from bbcu_cli.aliasing import AliasingDetector, detector_features, detector_for
from bbcu_cli.degradations import downscale
from bbcu_cli.engine.restore import Restorer
from bbcu_cli.loading import ModelSpec
from bbcu_cli.routing import Route, Variant

SPEC = ModelSpec("bbcu-p", "sr", 4, 3, 8, 1, 130.0 * 8 / 64)  # type: ignore[arg-type]


def _detector(threshold: float) -> AliasingDetector:
    n = len(detector_features(np.zeros((32, 32), np.uint8)))  # type: ignore[arg-type]
    return AliasingDetector(4, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, threshold)  # p = 0.5 for every image


def _pair(threshold: float) -> tuple[Restorer, Restorer]:
    robust, clean = random_loaded(SPEC, seed=1), random_loaded(SPEC, seed=2)
    robust.route = Route((Variant("clean", clean, "clean-x4", _detector(threshold)),))
    return Restorer(robust, backend="float", device="cpu"), Restorer(clean, backend="float", device="cpu")


def test_below_the_threshold_the_clean_variant_restores_the_whole_image() -> None:
    routed, clean = _pair(threshold=0.6)
    img = np.random.default_rng(0).random((40, 48, 3), dtype=np.float32)
    out = routed.restore(img, out_dtype=np.uint8)
    assert np.array_equal(out, clean.restore(img, out_dtype=np.uint8))
    assert routed.last_choice is not None and routed.last_choice.variant == "clean"
    assert routed.last_choice.probability == pytest.approx(0.5)


def test_above_the_threshold_and_for_tiny_images_the_model_itself_runs() -> None:
    routed, clean = _pair(threshold=0.4)
    img = np.random.default_rng(0).random((40, 48, 3), dtype=np.float32)
    out = routed.restore(img)
    assert routed.last_choice is not None and routed.last_choice.variant == "robust"
    assert not np.allclose(out, clean.restore(img))
    routed, _ = _pair(threshold=0.6)
    routed.restore(img[:20])  # under 32 pixels on a side: nothing to judge, the model itself
    assert routed.last_choice is not None and routed.last_choice.variant == "robust"
    assert routed.last_choice.probability is None


def test_tiles_do_not_change_the_choice_or_the_output() -> None:
    robust, clean = random_loaded(SPEC, seed=1), random_loaded(SPEC, seed=2)
    robust.route = Route((Variant("clean", clean, "clean-x4", _detector(0.6)),))
    img = np.random.default_rng(1).random((70, 66, 3), dtype=np.float32)
    whole = Restorer(robust, backend="float", device="cpu").restore(img)
    tiled = Restorer(robust, backend="float", device="cpu", tile=32).restore(img)
    assert np.allclose(whole, tiled, atol=1e-5)


def test_the_packaged_detectors_rank_a_photo_shrunk_without_antialiasing_as_more_aliased() -> None:
    hr = mirrored_photo()  # 192 x 256: 48 x 64 at x4
    for scale in (2, 3, 4):
        detector = detector_for(scale)
        assert detector is not None
        crop = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
        clean = detector.probability(downscale(crop, scale, "matlab"))
        aliased = detector.probability(downscale(crop, scale, "cv2-cubic"))
        nearest = detector.probability(
            cv2.resize(crop, (crop.shape[1] // scale, crop.shape[0] // scale), interpolation=cv2.INTER_NEAREST)
        )
        assert clean is not None and aliased is not None and nearest is not None
        # the same photo: shrunk without antialiasing it always looks more aliased; point sampling
        # is recognised outright (the threshold itself is not met by every cv2-cubic image: README)
        assert clean < aliased and nearest > detector.threshold, (scale, clean, aliased, nearest)
