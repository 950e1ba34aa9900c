"""Blind estimate of additive white Gaussian noise, used when ``bbcu denoise`` gets no --sigma.

Patch PCA (after Chen, Zhu and Heng, ICCV 2015): the covariance of all 7x7 patches (every
channel of a pixel together) has, for white noise of std ``s``, every eigenvalue raised by
``s^2``; image structure concentrates in a few large eigenvalues, so the small ones are noise
alone. With the eigenvalues in decreasing order, the largest are dropped one by one until the
mean of the rest is no larger than their median (the spread of a pure-noise set): that mean is
``s^2``. Fine texture, which fooled the former median-of-wavelet estimator (22 on a clean,
finely textured photo), stays in the large eigenvalues.

Texture that fills much of the spectrum (fur, foliage) still raises the tail, but rarely
everywhere: the image is cut into blocks of at least ``_BLOCK`` x ``_BLOCK`` pixels, each block
estimated on its own, and the patches of the quieter half of the blocks are pooled for the final
estimate (noise is assumed the same everywhere, so its blocks agree; textured blocks only add
high estimates).

The estimate is *unreliable* when too few patches exist or when the blocks disagree (the 75th
percentile more than 25%, and more than 1 level, above the 25th): the image's own texture then
dominates somewhere, or the noise is not the same everywhere. :class:`NoiseEstimate` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NoiseEstimate", "estimate_noise", "estimate_sigma"]

PATCH = 7
_MAX_PATCHES = 5_000  # per block
_MIN_PATCHES = 500
_BLOCK = 96
_MAX_BLOCKS = 16
_PERCENTILE = 25
_CLEAN = 1.0  # block estimates of clean images differ by less than this (0-255 scale)
_SPREAD = 0.25  # white noise gives block estimates within a few percent of each other


@dataclass(frozen=True)
class NoiseEstimate:
    """``sigma`` on the 0-255 scale; ``reliable`` False when the data could not support it."""

    sigma: float
    reliable: bool
    reason: str = ""


def _patches(img: np.ndarray) -> np.ndarray:
    """(n, PATCH * PATCH * C) float64 patch vectors on a regular grid, at most ``_MAX_PATCHES``."""
    h, w, c = img.shape
    count = (h - PATCH + 1) * (w - PATCH + 1)
    stride = max(1, int(np.ceil(np.sqrt(count / _MAX_PATCHES))))
    view = np.lib.stride_tricks.sliding_window_view(img, (PATCH, PATCH, c))[::stride, ::stride, 0]
    return view.reshape(-1, PATCH * PATCH * c)


def _noise_variance(eig_desc: np.ndarray) -> tuple[float, int]:
    """Mean of the tail of eigenvalues whose mean is not above their median; how many dropped."""
    n = eig_desc.size
    tail_sum = np.cumsum(eig_desc[::-1])[::-1]  # tail_sum[i] = sum(eig_desc[i:])
    for dropped in range(n):
        m = n - dropped
        tau = float(tail_sum[dropped]) / m
        mid = dropped + m // 2  # the tail is sorted: its median is its middle element(s)
        median = float(eig_desc[mid]) if m % 2 else 0.5 * float(eig_desc[mid - 1] + eig_desc[mid])
        if tau <= median:
            return max(tau, 0.0), dropped
    return max(float(eig_desc[-1]), 0.0), n - 1


def _pca_sigma(x: np.ndarray) -> float:
    """Noise std of patch vectors ``x`` (n, d): mean of the noise-like tail of the covariance spectrum."""
    x = (x - x.mean(axis=0)).astype(np.float32)  # float32 sums are ample for a covariance
    eig = np.linalg.eigvalsh((x.T @ x).astype(np.float64) / (x.shape[0] - 1))[::-1]
    return float(np.sqrt(_noise_variance(eig)[0]))


def _block_estimate(block: np.ndarray) -> tuple[float, np.ndarray]:
    """(sigma, patch vectors) of one block; sigma 0 with too few patches."""
    x = _patches(block)
    return (_pca_sigma(x) if x.shape[0] >= _MIN_PATCHES else 0.0), x


def _blocks(img: np.ndarray) -> list[np.ndarray]:
    """The image cut into a grid of blocks of at least ``_BLOCK`` pixels (at most ``_MAX_BLOCKS``)."""
    rows = max(1, min(img.shape[0] // _BLOCK, int(np.sqrt(_MAX_BLOCKS))))
    cols = max(1, min(img.shape[1] // _BLOCK, _MAX_BLOCKS // rows))
    ys = np.linspace(0, img.shape[0], rows + 1).astype(int)
    xs = np.linspace(0, img.shape[1], cols + 1).astype(int)
    return [img[ys[i] : ys[i + 1], xs[j] : xs[j + 1]] for i in range(rows) for j in range(cols)]


def estimate_noise(pixels: np.ndarray) -> NoiseEstimate:
    """Estimate the noise std of an (H, W[, C]) float image in [0, 1] (values may leave it).

    Returns:
        :class:`NoiseEstimate` with ``sigma`` on the 0-255 scale. Images smaller than the
        7x7 patch give ``sigma = 0``, unreliable.
    """
    img = np.asarray(pixels, dtype=np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[0] < PATCH or img.shape[1] < PATCH:
        return NoiseEstimate(0.0, False, f"image smaller than {PATCH}x{PATCH}")
    found = [_block_estimate(b) for b in _blocks(img * 255.0)]
    usable = [f for f in found if f[1].shape[0] >= _MIN_PATCHES]
    if not usable:
        return NoiseEstimate(0.0, False, f"only {max(f[1].shape[0] for f in found)} patches (need {_MIN_PATCHES})")
    sigmas = np.array([f[0] for f in usable])
    low = float(np.percentile(sigmas, _PERCENTILE))
    spread = float(np.percentile(sigmas, 75) - low)
    # pool the patches of the quieter half of the blocks: more samples, less small-sample bias
    calm = np.concatenate([f[1] for f in usable if f[0] <= np.median(sigmas)])
    step = max(1, calm.shape[0] // (4 * _MAX_PATCHES))
    sigma = _pca_sigma(calm[::step])
    if spread > max(_SPREAD * low, _CLEAN):
        return NoiseEstimate(
            sigma, False, f"regions disagree ({low:.1f} to {low + spread:.1f}): texture may be taken for noise"
        )
    return NoiseEstimate(sigma, True)


def estimate_sigma(pixels: np.ndarray) -> float:
    """Noise std of an (H, W[, C]) float image in [0, 1], on the 0-255 scale (see :func:`estimate_noise`)."""
    return estimate_noise(pixels).sigma
