"""The :class:`Image` record, format names, quantization and channel helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from bbcu_cli.errors import OutputError
from bbcu_cli.imagefiles._meta import Metadata

from ._cv import opencv

SUPPORTED_EXTENSIONS: dict[str, str] = {
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "webp": "webp",
    "bmp": "bmp",
    "tif": "tiff",
    "tiff": "tiff",
    "gif": "gif",
}
EXT_LIST = "png, jpg, jpeg, webp, bmp, tif, tiff, gif"
#: formats whose files hold several frames (animation) or pages, as this package writes them
MULTI_FRAME_FORMATS = frozenset({"gif", "png", "webp", "tiff"})


def display_name(source: str | Path | BinaryIO) -> str:
    """The path as given, a stream's ``name`` attribute, or ``"<stream>"``."""
    if isinstance(source, (str, Path)):
        return str(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


@dataclass
class Image:
    """A decoded image.

    Attributes:
        pixels: ``(H, W, C)`` float32 in ``[0, 1]``, ``C = 1`` (gray) or ``3`` (RGB), no alpha;
            or, from ``read_image(..., raw=True)`` and for :func:`write_image`, the integer
            samples (uint8 or uint16) as decoded.
        alpha: ``(H, W)`` float32 in ``[0, 1]`` (integer like ``pixels`` when raw), or None.
        bit_depth: 8 or 16, bits per sample of the source (16 also for float TIFFs).
        mode: ``"gray"`` or ``"rgb"``, the source colour kind.
        source_format: ``"png" | "jpeg" | "webp" | "bmp" | "tiff" | "gif"``, or None when built in memory.
        icc_profile: embedded ICC profile bytes, or None.
        metadata: EXIF (orientation 1), XMP and PNG text chunks of the source (:mod:`._meta`).
        lossless: whether the source was coded without loss (PNG, BMP, GIF, lossless WebP,
            TIFF not JPEG-compressed); a WebP output is then lossless unless a quality is given.
        jpeg_quality: for a JPEG source, the IJG-equivalent quality it was saved at (1..100,
            estimated from its quantization table: :mod:`._jpegq`); else None.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    mode: str
    source_format: str | None
    icc_profile: bytes | None = None
    metadata: Metadata = field(default_factory=Metadata)
    lossless: bool = False
    jpeg_quality: float | None = None


@dataclass
class ImageSequence:
    """The frames of an animation (GIF, APNG, WebP) or the pages of a multi-page TIFF.

    Each frame is a full :class:`Image` (the composed canvas, as a viewer shows it); ICC,
    metadata and ``lossless`` are those of ``frames[0]``.

    Attributes:
        frames: two or more images of one size, kind and bit depth.
        durations: display time of each frame in milliseconds (None for TIFF pages).
        loop: how many times an animation plays (0: forever), None when the file does not say.
        source_format: as :attr:`Image.source_format`.
    """

    frames: list[Image]
    durations: list[int] | None = None
    loop: int | None = None
    source_format: str | None = None

    @property
    def first(self) -> Image:
        """The first frame (its ICC and metadata stand for the file)."""
        return self.frames[0]


def to_uint(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """Quantize floats in ``[0, 1]``: ``rint(clip(x, 0, 1) * maxval)`` with maxval ``2**bit_depth - 1``.

    Returns uint8 (``bit_depth=8``) or uint16 (16), same shape; NaN becomes 0 (rint rounds half to even).
    Raises ValueError for another bit depth.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    maxval = float((1 << bit_depth) - 1)
    x = np.clip(np.nan_to_num(np.asarray(pixels, dtype=np.float32), nan=0.0), 0.0, 1.0) * maxval
    return np.rint(x).astype(np.uint8 if bit_depth == 8 else np.uint16)


def from_uint(arr: np.ndarray) -> np.ndarray:
    """Map uint8 (``/255``) or uint16 (``/65535``) to float32 in ``[0, 1]``, same shape.

    Raises ValueError for another dtype.
    """
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(65535.0)
    raise ValueError(f"expected uint8 or uint16 pixels, got {arr.dtype}")


def as_depth(arr: np.ndarray, bit_depth: int) -> np.ndarray:
    """Samples at ``bit_depth`` (8 or 16) bits without a float copy of integer input.

    Same dtype: returned as is. uint8 -> uint16 is ``x * 257``; uint16 -> uint8 rounds
    ``x * 255 / 65535`` to nearest in integer arithmetic (exact, no ties). Floats in ``[0, 1]``
    go through :func:`to_uint`. Raises ValueError for another dtype or bit depth.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    if arr.dtype == (np.uint8 if bit_depth == 8 else np.uint16):
        return arr
    if arr.dtype.kind == "f":
        return to_uint(arr, bit_depth)
    if arr.dtype == np.uint8:
        return arr.astype(np.uint16) * np.uint16(257)
    if arr.dtype == np.uint16:
        return ((arr.astype(np.uint32) * 510 + 65535) // 131070).astype(np.uint8)
    raise ValueError(f"expected uint8, uint16 or float pixels, got {arr.dtype}")


def format_for_path(path: str | Path, override: str | None = None) -> str:
    """Format name (``png | jpeg | webp | bmp | tiff``) from ``override`` or the path's extension.

    Raises OutputError naming the path when the extension (or override) is not supported.
    """
    key = (override if override is not None else Path(path).suffix).lower().lstrip(".")
    if key in SUPPORTED_EXTENSIONS:
        return SUPPORTED_EXTENSIONS[key]
    what = f"format '{override}'" if override is not None else f"extension '{Path(path).suffix}'"
    raise OutputError(f"cannot write {path}: unsupported {what}", f"use one of {EXT_LIST}")


def gray_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """``(H, W, 1)`` -> ``(H, W, 3)`` with R = G = B (same dtype)."""
    return np.repeat(pixels, 3, axis=2)


def rgb_to_gray(pixels: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` -> ``(H, W, 1)`` float32 luma, ITU-R BT.601: ``Y = 0.299 R + 0.587 G + 0.114 B``."""
    w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (pixels.astype(np.float32) @ w)[..., None]


def collapse_to_gray(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` -> ``(H, W, 1)`` float32 mean of the channels.

    For a gray image sent through an RGB model as R = G = B: the outputs are near-equal, so the
    plain mean (not BT.601 luma) is the unbiased estimate of the gray value.
    """
    return rgb.astype(np.float32).mean(axis=2, keepdims=True)


def resize_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """``(H, W)`` alpha -> ``(round(H*scale), round(W*scale))``, bicubic.

    Float alpha comes back float32 clipped to [0, 1]; uint8/uint16 alpha keeps its dtype
    (OpenCV rounds and saturates), so no full-size float copy is made.
    """
    h, w = alpha.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if alpha.dtype in (np.uint8, np.uint16):
        return opencv().resize(np.ascontiguousarray(alpha), size, interpolation=opencv().INTER_CUBIC)
    out = opencv().resize(alpha.astype(np.float32), size, interpolation=opencv().INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


class SampleRangeError(ValueError):
    """Integer samples that no 8/16-bit image holds (negative, or above 65535)."""


def deep_samples(arr: np.ndarray) -> np.ndarray:
    """Decoded samples on the 16-bit scale: uint16 as is, uint8 times 257, floats clipped to
    [0, 1] (NaN 0; float TIFFs are taken as 0..1), other integers (int16, uint32, ...) as they
    are when every one lies in 0..65535.

    Raises:
        SampleRangeError: integer samples outside 0..65535 (signed or 32-bit data): clipping
            them would silently change the image.
    """
    if arr.dtype == np.uint16:
        return arr
    if arr.dtype == np.uint8:
        return arr.astype(np.uint16) * np.uint16(257)
    if arr.dtype.kind == "f":
        return np.clip(np.nan_to_num(arr.astype(np.float32, copy=False), nan=0.0), 0.0, 1.0)
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise SampleRangeError(f"holds {arr.dtype} samples from {lo} to {hi}, outside the 0..65535 of an image")
    return arr.astype(np.uint16)
