"""Tests for bbcu_cli.metrics against scikit-image and independent float64 references."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.signal import convolve2d
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bbcu_cli.metrics import image_metrics, metrics_for_task, psnr, rgb_to_y, ssim

RNG = np.random.default_rng(1)
TOL = 1e-6


def _quantized(x: np.ndarray, depth: int) -> np.ndarray:
    """Float in [0, 1] -> as the pipeline passes it: rint(x * maxval) / maxval, float32."""
    maxval = (1 << depth) - 1
    return (np.rint(np.clip(x, 0, 1) * maxval) / maxval).astype(np.float32)


def _pair(kind: str, c: int, depth: int, h: int = 40, w: int = 52) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    if kind == "random":
        ref = RNG.random((h, w, c))
    elif kind == "gradient":
        ref = np.stack([(xx + k * yy) % 1.0 for k in range(c)], axis=2)
    else:  # checkerboard + ramp
        ref = np.repeat((((np.mgrid[0:h, 0:w] // 4).sum(0) % 2) * 0.6 + 0.3 * xx)[..., None], c, axis=2)
    out = ref + RNG.normal(0, 0.05, ref.shape)
    return _quantized(out, depth), _quantized(ref, depth)


def _window() -> np.ndarray:
    g = cv2.getGaussianKernel(11, 1.5)
    return g @ g.T


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Straightforward 2-D valid-convolution SSIM (scipy.signal), mean over channels."""
    a3, b3 = (a[..., None], b[..., None]) if a.ndim == 2 else (a, b)
    win, c1, c2 = _window(), (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for ch in range(a3.shape[2]):
        x, y = a3[..., ch], b3[..., ch]
        f = lambda z: convolve2d(z, win, mode="valid")  # noqa: E731
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        vals.append(np.mean(((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))))
    return float(np.mean(vals))


def _ssim_basicsr_style(a: np.ndarray, b: np.ndarray) -> float:
    """cv2.filter2D (reflect border) then crop 5 px: BasicSR's ``_ssim`` on one channel."""
    win, c1, c2 = _window(), (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda z: cv2.filter2D(z, -1, win)[5:-5, 5:-5]  # noqa: E731
    mx, my = f(a), f(b)
    sxx, syy, sxy = f(a * a) - mx**2, f(b * b) - my**2, f(a * b) - mx * my
    return float(np.mean(((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))))


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    axis = None if a.ndim == 2 else 2
    return float(
        structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=axis
        )
    )


def _y_reference(img: np.ndarray) -> np.ndarray:
    x = np.asarray(img, np.float64)
    if x.shape[2] == 1:
        x = np.concatenate([x, x, x], axis=2)
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2])


CASES = [(k, c, d) for k in ("random", "gradient", "checker") for c in (1, 3) for d in (8, 16)]


@pytest.mark.parametrize("kind,c,depth", CASES)
def test_psnr_ssim_match_references_on_255_scale(kind: str, c: int, depth: int) -> None:
    out, ref = _pair(kind, c, depth)
    a, b = out.astype(np.float64) * 255, ref.astype(np.float64) * 255
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255), abs=TOL)
    got = ssim(a, b)
    assert got == pytest.approx(_skimage_ssim(a, b), abs=TOL)
    assert got == pytest.approx(_ssim_reference(a, b), abs=TOL)
    assert ssim(a[..., 0], b[..., 0]) == pytest.approx(_ssim_basicsr_style(a[..., 0], b[..., 0]), abs=TOL)


@pytest.mark.parametrize("kind,c,depth", CASES)
@pytest.mark.parametrize("crop", [0, 4])
def test_image_metrics_y_space(kind: str, c: int, depth: int, crop: int) -> None:
    out, ref = _pair(kind, c, depth)
    ya, yb = _y_reference(out), _y_reference(ref)
    if crop:
        ya, yb = ya[crop:-crop, crop:-crop], yb[crop:-crop, crop:-crop]
    p, s = image_metrics(out, ref, crop=crop, space="y")
    assert p == pytest.approx(peak_signal_noise_ratio(yb, ya, data_range=255), abs=TOL)
    assert s == pytest.approx(_ssim_reference(ya, yb), abs=TOL)
    assert s == pytest.approx(_skimage_ssim(ya, yb), abs=TOL)


def test_gray_counts_as_r_equals_g_equals_b_for_y() -> None:
    out, ref = _pair("random", 1, 8)
    rgb = image_metrics(np.repeat(out, 3, axis=2), np.repeat(ref, 3, axis=2), crop=2, space="y")
    assert image_metrics(out, ref, crop=2, space="y") == pytest.approx(rgb, abs=1e-9)
    np.testing.assert_allclose(rgb_to_y(ref), 16 + 219 * ref[..., 0].astype(np.float64), atol=1e-9)


@pytest.mark.parametrize("depth", [8, 16])
def test_image_metrics_rgb_space(depth: int) -> None:
    out, ref = _pair("gradient", 3, depth)
    a, b = out.astype(np.float64) * 255, ref.astype(np.float64) * 255
    p, s = image_metrics(out, ref, space="rgb")
    assert p == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255), abs=TOL)
    assert s == pytest.approx(_skimage_ssim(a, b), abs=TOL)


@pytest.mark.parametrize("c", [1, 3])
def test_image_metrics_gray_space(c: int) -> None:
    out, ref = _pair("checker", c, 8)
    w = np.array([0.299, 0.587, 0.114])
    to_gray = (lambda z: z[..., 0].astype(np.float64) * 255) if c == 1 else (lambda z: (z.astype(np.float64) @ w) * 255)
    ga, gb = to_gray(out), to_gray(ref)
    p, s = image_metrics(out, ref, space="gray")
    assert p == pytest.approx(peak_signal_noise_ratio(gb, ga, data_range=255), abs=TOL)
    assert s == pytest.approx(_skimage_ssim(ga, gb), abs=TOL)


def test_known_values() -> None:
    a = np.full((16, 16), 100.0)
    assert psnr(a, a + 1.0) == pytest.approx(48.1308036087, abs=1e-9)
    assert psnr(a, a + 1.0, data_range=1.0) == pytest.approx(0.0, abs=1e-12)
    assert psnr(a, a) == math.inf
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    c1 = (0.01 * 255) ** 2  # constant images: SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    assert ssim(a, a * 0.5) == pytest.approx((2 * 100 * 50 + c1) / (100**2 + 50**2 + c1), abs=1e-12)
    assert rgb_to_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235.0) and rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == 16.0


def test_errors_name_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(12, 12\).*\(12, 13\)"):
        psnr(np.zeros((12, 12)), np.zeros((12, 13)))
    with pytest.raises(ValueError, match=r"\(20, 20, 3\).*\(20, 20, 1\)"):
        image_metrics(np.zeros((20, 20, 3)), np.zeros((20, 20, 1)), space="rgb")
    with pytest.raises(ValueError, match="11x11"):
        ssim(np.zeros((10, 30)), np.zeros((10, 30)))
    with pytest.raises(ValueError, match="crop"):
        image_metrics(np.zeros((20, 20, 3)), np.zeros((20, 20, 3)), crop=10, space="y")
    with pytest.raises(ValueError, match="space"):
        image_metrics(np.zeros((20, 20, 3)), np.zeros((20, 20, 3)), space="lab")  # type: ignore[arg-type]


def test_metrics_for_task() -> None:
    assert metrics_for_task("sr", 4) == ("y", 4)
    assert metrics_for_task("sr", 2) == ("y", 2)
    assert metrics_for_task("denoise", 1) == ("rgb", 0)
    assert metrics_for_task("deblock", 1) == ("gray", 0)
    with pytest.raises(ValueError, match="unknown task"):
        metrics_for_task("inpaint", 1)
