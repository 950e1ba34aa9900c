"""The blind noise estimator: accurate on noise, low on clean texture, honest when unsure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bbcu_cli.noise_estimate import estimate_noise, estimate_sigma

CLEAN = Image.open(Path(__file__).parent / "data" / "clean_crop.png")


def _clean() -> np.ndarray:
    return np.asarray(CLEAN.convert("RGB"), dtype=np.float64) / 255.0


def _texture(h: int = 256, w: int = 256) -> np.ndarray:
    """A clean, finely textured image: smooth stripes of many frequencies (no noise)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 0.5 + 0.12 * np.sin(x * 1.3 + y * 0.4) + 0.1 * np.sin(y * 2.1) + 0.08 * np.sin((x - y) * 0.9)
    return np.round(np.repeat(img[:, :, None], 3, axis=2) * 255) / 255


@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_accurate_on_white_noise(sigma: float) -> None:
    img = _clean()
    noisy = img + np.random.default_rng(1).normal(0, sigma / 255, img.shape)
    est = estimate_noise(noisy)
    assert est.reliable, est.reason
    assert abs(est.sigma - sigma) <= 0.1 * sigma, est


@pytest.mark.parametrize("make", [_clean, _texture])
def test_clean_images_read_as_clean(make) -> None:  # type: ignore[no-untyped-def]
    assert estimate_sigma(make()) < 2.0


def test_gray_and_tiny_images() -> None:
    gray = _clean()[:, :, 0]
    noisy = gray + np.random.default_rng(2).normal(0, 20 / 255, gray.shape)
    assert abs(estimate_sigma(noisy) - 20) < 2.0
    tiny = estimate_noise(np.zeros((5, 5, 3)))
    assert tiny.sigma == 0.0 and not tiny.reliable and "smaller" in tiny.reason
    few = estimate_noise(np.random.default_rng(3).random((12, 40)))
    assert not few.reliable and "patches" in few.reason


def test_disagreeing_regions_are_flagged() -> None:
    """Noise in one half only: the regions disagree, so the estimate says it is unsure."""
    img = _texture(192, 384)
    img[:, 192:] += np.random.default_rng(4).normal(0, 30 / 255, (192, 192, 3))
    est = estimate_noise(img)
    assert not est.reliable and "disagree" in est.reason
