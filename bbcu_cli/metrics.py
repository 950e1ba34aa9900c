"""PSNR and SSIM exactly as the benchmark protocol (BasicSR conventions), in float64.

* Super-resolution: Y channel ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (R, G, B in [0, 1],
  Y on the 16..235 scale, not rounded), ``scale`` pixels cropped from each border.
* Denoising: all RGB channels on the 0..255 scale, no crop.
* JPEG deblocking: the gray image on the 0..255 scale, no crop.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .errors import InputError, option

__all__ = ["Space", "MetricsError", "rgb_to_y", "psnr", "ssim", "image_metrics", "metrics_for_task"]

Space = Literal["y", "rgb", "gray"]

_WIN = 11
_SIGMA = 1.5
_C1 = (0.01 * 255.0) ** 2
_C2 = (0.03 * 255.0) ** 2
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)


class MetricsError(InputError, ValueError):
    """Images too small to measure (after the crop): a ValueError for API callers, a one-line
    error naming the sizes at the command line."""


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma on the studio scale: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B``.

    Args:
        img: ``(H, W, 3)`` RGB in ``[0, 1]``; ``(H, W, 1)`` gray counts as R = G = B.

    Returns:
        ``(H, W)`` float64 in ``[16, 235]``, not rounded.

    Raises:
        ValueError: ``img`` is not ``(H, W, 1)`` or ``(H, W, 3)``.
    """
    x = _as_hwc(img)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return 16.0 + x @ _Y_WEIGHTS


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio ``10 * log10(data_range**2 / MSE)`` in dB.

    Args:
        a, b: same-shape arrays ``(H, W)`` or ``(H, W, C)`` on the ``0..data_range`` scale;
            the MSE is taken over all elements in float64.

    Returns:
        PSNR in dB; ``inf`` when the images are identical.

    Raises:
        ValueError: the shapes differ (both are named).
    """
    x, y = _pair(a, b)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity (Wang et al. 2004), as BasicSR's ``calculate_ssim``.

    Per channel, with ``mu``, ``sigma`` the local means/(co)variances under an 11x11 Gaussian
    window (sigma 1.5, sums to 1), computed on the valid region only (no padding, so the map is
    ``(H-10, W-10)``)::

        SSIM = ((2 mu_a mu_b + C1)(2 sigma_ab + C2)) / ((mu_a^2 + mu_b^2 + C1)(sigma_a^2 + sigma_b^2 + C2))

    with ``C1 = (0.01*255)^2`` and ``C2 = (0.03*255)^2``; the result is the map's mean, averaged
    over channels.

    Args:
        a, b: same-shape ``(H, W)`` or ``(H, W, C)`` arrays on the 0..255 scale, H, W >= 11.

    Raises:
        ValueError: the shapes differ, or the image is smaller than 11x11.
    """
    x, y = _pair(a, b)
    if x.shape[0] < _WIN or x.shape[1] < _WIN:
        raise MetricsError(
            f"SSIM needs images of at least {_WIN}x{_WIN}, got {x.shape[1]}x{x.shape[0]}", "measure larger images"
        )
    if x.ndim == 2:
        return _ssim_2d(x, y)
    return float(np.mean([_ssim_2d(x[..., c], y[..., c]) for c in range(x.shape[2])]))


def image_metrics(output: np.ndarray, reference: np.ndarray, *, crop: int = 0, space: Space) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``output`` against ``reference`` under the benchmark protocol.

    Args:
        output, reference: ``(H, W, C)`` float in ``[0, 1]``, ``C = 1`` or ``3``. The pipeline
            passes values already quantized (``uint / 255`` or ``uint / 65535``); they are scaled
            by 255 in float64, not re-rounded.
        crop: pixels removed from each border before measuring (``>= 0``).
        space: ``"y"``: Y of :func:`rgb_to_y` (gray counts as R = G = B); ``"rgb"``: every
            channel as given (a gray image has one); ``"gray"``: a 3-channel image is first
            reduced to BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` (in float64), then ``*255``.

    Returns:
        ``(psnr, ssim)`` with PSNR at data range 255.

    Raises:
        ValueError: shapes differ (both named), bad ``crop``/``space``, or too small after crop.
    """
    x, y = _pair(_as_hwc(output), _as_hwc(reference))
    _check_crop(crop, x.shape[1], x.shape[0])
    if crop:
        x, y = x[crop:-crop, crop:-crop], y[crop:-crop, crop:-crop]
    x, y = _to_space(x, space), _to_space(y, space)
    return psnr(x, y), ssim(x, y)


def _check_crop(crop: int, width: int, height: int) -> None:
    """The crop must leave at least the SSIM window (11x11) of a ``width x height`` image."""
    if crop < 0:
        raise MetricsError(f"crop {crop} is negative", "pass a crop of 0 or more pixels")
    left_w, left_h = width - 2 * crop, height - 2 * crop
    if min(left_w, left_h) < _WIN:
        most = max(0, (min(width, height) - _WIN) // 2)
        raise MetricsError(
            f"a crop of {crop} pixels per border leaves {max(left_w, 0)}x{max(left_h, 0)} of a "
            f"{width}x{height} image; SSIM needs at least {_WIN}x{_WIN}",
            f"use {option('crop', most)} or less" if min(width, height) >= _WIN else "measure larger images",
        )


def metrics_for_task(task: str, scale: int) -> tuple[Space, int]:
    """Protocol for a task: ``sr -> ("y", scale)``, ``denoise -> ("rgb", 0)``, ``deblock -> ("gray", 0)``.

    Raises:
        ValueError: unknown task.
    """
    if task == "sr":
        return "y", scale
    if task == "denoise":
        return "rgb", 0
    if task == "deblock":
        return "gray", 0
    raise ValueError(f"unknown task {task!r}; expected 'sr', 'denoise' or 'deblock'")


def _to_space(x: np.ndarray, space: Space) -> np.ndarray:
    """``(H, W, C)`` float64 in [0, 1] -> the array measured, on the 0..255 (or 16..235) scale."""
    if space == "y":
        return rgb_to_y(x)
    if space == "rgb":
        return x * 255.0
    if space == "gray":
        return (x[..., 0] if x.shape[2] == 1 else x @ _GRAY_WEIGHTS) * 255.0
    raise ValueError(f"unknown metric space {space!r}; expected 'y', 'rgb' or 'gray'")


def _as_hwc(img: np.ndarray) -> np.ndarray:
    x = np.asarray(img, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] not in (1, 3):
        raise ValueError(f"expected an (H, W, 1) or (H, W, 3) image, got shape {x.shape}")
    return x


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: output {x.shape} vs reference {y.shape}")
    return x, y


def _gaussian_1d() -> np.ndarray:
    r = np.arange(_WIN, dtype=np.float64) - (_WIN - 1) / 2
    g = np.exp(-(r**2) / (2 * _SIGMA**2))
    return g / g.sum()


_G = _gaussian_1d()


def _filter_valid(x: np.ndarray) -> np.ndarray:
    """Separable 11x11 Gaussian correlation, valid part only: ``(H, W) -> (H-10, W-10)``."""
    h, w = x.shape
    rows = sum(_G[k] * x[k : h - _WIN + 1 + k] for k in range(_WIN))
    return sum(_G[k] * rows[:, k : w - _WIN + 1 + k] for k in range(_WIN))


def _ssim_2d(x: np.ndarray, y: np.ndarray) -> float:
    mu_x, mu_y = _filter_valid(x), _filter_valid(y)
    var_x = _filter_valid(x * x) - mu_x**2
    var_y = _filter_valid(y * y) - mu_y**2
    cov = _filter_valid(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
    den = (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    return float(np.mean(num / den))
