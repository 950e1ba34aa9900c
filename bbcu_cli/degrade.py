"""Benchmark degradations: MATLAB-compatible bicubic resizing, Gaussian noise, JPEG.

The resizer reproduces MATLAB's ``imresize(..., 'bicubic')`` (antialiasing on): cubic kernel
with ``a = -0.5``, kernel widened by ``1/scale`` when shrinking, symmetric edge handling by index
mirroring, per-pixel weight normalisation, separable passes ordered by increasing scale.

:func:`imresize` works on float images (computed in float64, returned in the input dtype, no
clipping). The benchmark LR image (:func:`bicubic_downscale_uint8`) is resized in float64 on the
0..255 scale and rounded once at the end (half away from zero, saturated), the convention that
reproduces the published bicubic baselines (Set5 x4 28.43 dB / 0.8113, x2 33.68 / 0.9305).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "cubic",
    "contributions",
    "mirror_indices",
    "resize_matrix",
    "imresize",
    "modcrop",
    "round_uint8",
    "bicubic_downscale_uint8",
    "bicubic_upscale",
    "image_seed",
    "add_gaussian_noise",
    "jpeg_compress",
]

_CUBIC_SUPPORT = 4.0


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``).

    Formula: ``1.5|x|^3 - 2.5|x|^2 + 1`` for ``|x| <= 1``,
    ``-0.5|x|^3 + 2.5|x|^2 - 4|x| + 2`` for ``1 < |x| <= 2``, else 0.

    Args:
        x: sample positions, any shape.

    Returns:
        kernel values, same shape, float64.
    """
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1.0)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1.0) & (ax <= 2.0))
    return inner + outer


def mirror_indices(indices: np.ndarray, length: int) -> np.ndarray:
    """Map 0-based indices outside ``[0, length)`` by symmetric mirroring (edge repeated).

    Equivalent to indexing the periodic sequence ``0, 1, ..., n-1, n-1, ..., 1, 0``, as MATLAB's
    ``aux = [1:n, n:-1:1]; aux(mod(i - 1, 2n) + 1)``. For ``n = 3``: ``-1 -> 0``, ``-2 -> 1``,
    ``3 -> 2``, ``4 -> 1``.

    Args:
        indices: integer array, any shape.
        length: size ``n >= 1`` of the indexed dimension.

    Returns:
        indices in ``[0, n)``, same shape.
    """
    period = np.mod(indices, 2 * length)
    return np.where(period < length, period, 2 * length - 1 - period)


def contributions(
    in_length: int, out_length: int, scale: float, antialiasing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-pixel weights and (mirrored) input indices of one resize pass.

    Output pixel ``x`` (1-based) maps to input position ``u = x / s + 0.5 (1 - 1/s)``; the taps
    are ``floor(u - w/2) + [0, ceil(w) + 2)`` with ``w = 4`` (``4 / s`` when shrinking with
    antialiasing, where the kernel becomes ``s * cubic(s * t)``). Weights are normalised to sum
    to 1 per output pixel.

    Args:
        in_length: input size along the dimension.
        out_length: output size along the dimension.
        scale: ``s``, the resize factor for this dimension (> 0).
        antialiasing: widen the kernel when ``s < 1``.

    Returns:
        ``(weights, indices)``, both of shape ``(out_length, P)``; indices are 0-based.
    """
    shrink = scale < 1.0 and antialiasing
    width = _CUBIC_SUPPORT / scale if shrink else _CUBIC_SUPPORT
    x = np.arange(1, out_length + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left + np.arange(taps, dtype=np.float64)[None, :]
    dist = u - idx
    weights = scale * cubic(scale * dist) if shrink else cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    return weights, mirror_indices(idx.astype(np.int64) - 1, in_length)


def resize_matrix(in_length: int, out_length: int, scale: float) -> np.ndarray:
    """Dense ``(out_length, in_length)`` matrix of one MATLAB bicubic resize pass.

    Mirrored taps that land on the same input pixel are accumulated.
    """
    weights, indices = contributions(in_length, out_length, scale)
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_length)[:, None], indices.shape)
    np.add.at(matrix, (rows, indices), weights)
    return matrix


def round_uint8(x: np.ndarray) -> np.ndarray:
    """Saturate to ``[0, 255]`` and round half away from zero (MATLAB's ``uint8()``)."""
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def _resize_dim(img: np.ndarray, dim: int, out_length: int, scale: float) -> np.ndarray:
    matrix = resize_matrix(img.shape[dim], out_length, scale)
    moved = np.moveaxis(img, dim, 0)
    out = np.tensordot(matrix, moved, axes=(1, 0))
    return np.moveaxis(out, 0, dim)


def _plan(
    in_hw: tuple[int, int], scale: float | None, output_shape: tuple[int, int] | None
) -> tuple[tuple[float, float], tuple[int, int]]:
    if scale is None and output_shape is None:
        raise ValueError("imresize needs scale or output_shape")
    if scale is not None and scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if output_shape is None:
        out = (int(math.ceil(in_hw[0] * scale)), int(math.ceil(in_hw[1] * scale)))
        return (float(scale), float(scale)), out
    out = (int(output_shape[0]), int(output_shape[1]))
    if min(out) < 1:
        raise ValueError(f"output_shape must be positive, got {output_shape}")
    if scale is not None:
        return (float(scale), float(scale)), out
    return (out[0] / in_hw[0], out[1] / in_hw[1]), out


def imresize(
    img: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """MATLAB-compatible bicubic ``imresize`` with antialiasing.

    Output size is ``ceil(in * scale)`` unless ``output_shape`` is given; with only
    ``output_shape`` the per-dimension scale is ``out / in`` (as MATLAB). The dimension with the
    smaller scale is resized first (height first on ties).

    Args:
        img: ``(H, W)`` or ``(H, W, C)`` float array (any range, typically [0, 1]).
        scale: resize factor (> 0), same for both dimensions.
        output_shape: ``(H', W')``.

    Returns:
        ``(H', W')`` or ``(H', W', C)`` in the input dtype, not clipped.

    Raises:
        ValueError: neither ``scale`` nor ``output_shape``, non-positive sizes, bad ndim, or a
            non-float input (convert first; see :func:`bicubic_downscale_uint8`).
    """
    if img.ndim not in (2, 3):
        raise ValueError(f"expected (H, W) or (H, W, C), got shape {img.shape}")
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"imresize expects a float image, got {img.dtype}")
    scales, out_hw = _plan((img.shape[0], img.shape[1]), scale, output_shape)
    work: np.ndarray = img.astype(np.float64)
    for dim in sorted((0, 1), key=lambda d: scales[d]):
        work = _resize_dim(work, dim, out_hw[dim], scales[dim])
    return work.astype(img.dtype)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop bottom/right so that height and width are multiples of ``scale``.

    Args:
        img: ``(H, W)`` or ``(H, W, C)``.
        scale: positive integer.

    Returns:
        view of shape ``(H - H % s, W - W % s[, C])``.
    """
    h, w = img.shape[0], img.shape[1]
    return img[: h - h % scale, : w - w % scale]


def bicubic_downscale_uint8(hr_uint8: np.ndarray, scale: int) -> np.ndarray:
    """Benchmark LR image: bicubic ``imresize(modcrop(hr, s), 1/s)`` rounded to ``uint8``.

    Resized in float64 on the 0..255 scale (same as ``imresize(hr / 255, 1/s) * 255``), then
    saturated and rounded half away from zero.

    Args:
        hr_uint8: ``(H, W)`` or ``(H, W, C)`` uint8 HR image.
        scale: integer factor ``s >= 1``.

    Returns:
        uint8 of shape ``(H // s, W // s[, C])``.

    Raises:
        ValueError: input is not uint8.
    """
    if hr_uint8.dtype != np.uint8:
        raise ValueError(f"expected uint8 input, got {hr_uint8.dtype}")
    hr = modcrop(hr_uint8, scale)
    out_hw = (hr.shape[0] // scale, hr.shape[1] // scale)
    return round_uint8(imresize(hr.astype(np.float64), 1.0 / scale, output_shape=out_hw))


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic upsampling ``imresize(lr, s, 'bicubic')`` of a float image.

    Args:
        lr: ``(H, W)`` or ``(H, W, C)`` float image, typically in [0, 1].
        scale: integer factor ``s >= 1``.

    Returns:
        ``(s H, s W[, C])`` in the input dtype, not clipped.
    """
    return imresize(lr, float(scale))


def image_seed(seed: int, index: int) -> int:
    """Seed of the ``index``-th image (0-based, in sorted file order) of a run: ``seed + index``."""
    return int(seed) + int(index)


def add_gaussian_noise(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Add white Gaussian noise of std ``sigma / 255`` (no clipping).

    Noise is drawn in float64 from ``np.random.default_rng(seed).normal`` with the image's
    shape; callers pass ``image_seed(run_seed, index)`` so every image gets its own stream.

    Args:
        img: float image in [0, 1], any shape.
        sigma: noise level on the 0..255 scale.
        seed: generator seed.

    Returns:
        float32 array, same shape, values may leave [0, 1].
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, sigma / 255.0, size=img.shape)
    return (img.astype(np.float64) + noise).astype(np.float32)


def jpeg_compress(img_uint8: np.ndarray, quality: int) -> np.ndarray:
    """JPEG encode/decode with OpenCV (``IMWRITE_JPEG_QUALITY = quality``).

    Args:
        img_uint8: ``(H, W)``, ``(H, W, 1)`` (gray) or ``(H, W, 3)`` RGB uint8.
        quality: 0..100.

    Returns:
        uint8 array of the same shape (RGB stays RGB, gray stays gray).

    Raises:
        ValueError: wrong dtype/shape, or OpenCV failed to encode.
    """
    if img_uint8.dtype != np.uint8:
        raise ValueError(f"expected uint8 input, got {img_uint8.dtype}")
    shape = img_uint8.shape
    if img_uint8.ndim == 2 or (img_uint8.ndim == 3 and shape[2] == 1):
        src, flag = img_uint8.reshape(shape[:2]), cv2.IMREAD_GRAYSCALE
    elif img_uint8.ndim == 3 and shape[2] == 3:
        src, flag = cv2.cvtColor(img_uint8, cv2.COLOR_RGB2BGR), cv2.IMREAD_COLOR
    else:
        raise ValueError(f"expected gray or RGB image, got shape {shape}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(src), params)
    if not ok:
        raise ValueError("OpenCV failed to JPEG-encode the image")
    out = cv2.imdecode(buf, flag)
    if flag == cv2.IMREAD_COLOR:
        out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    return out.reshape(shape)
