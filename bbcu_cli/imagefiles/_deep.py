"""Deep (16-bit, float) still decoders and the split of decoded samples into an :class:`Image`.

Deep gray/RGB TIFF through tifffile (:mod:`._tiff`); 16-bit PNG, and TIFF that tifffile cannot
decode here (LZW, JPEG, unusual kinds), through OpenCV, with the same TIFF fix-ups (MinIsWhite,
premultiplied alpha) and the EXIF orientation applied.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage

from bbcu_cli.imagefiles._core import Image, deep_samples, from_uint
from bbcu_cli.imagefiles._cv import opencv
from bbcu_cli.imagefiles._orient import orient
from bbcu_cli.imagefiles._tiff import as_displayed, read_pages, tag_values

__all__ = ["decode_cv2", "decode_tiff", "split"]


def decode_cv2(data: bytes, pil: PILImage.Image, raw: bool) -> Image:
    """A 16-bit PNG, or a deep TIFF tifffile cannot decode here, through OpenCV."""
    arr = opencv().imdecode(np.frombuffer(data, np.uint8), opencv().IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("OpenCV could not decode the pixel data")
    if arr.ndim == 3:
        arr = arr[..., [2, 1, 0, 3][: arr.shape[2]]] if arr.shape[2] >= 3 else arr
    gray_header = data[25] in (0, 4) if pil.format == "PNG" else pil.tag_v2.get(262, 2) in (0, 1)
    if gray_header and arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[..., [0, 3]] if arr.shape[2] == 4 else arr[..., :1]
    if pil.format == "TIFF":
        arr = as_displayed(arr, *tag_values(pil.tag_v2))
    arr = orient(arr, pil.getexif().get(0x0112, 1))
    mode = "gray" if arr.ndim == 2 or arr.shape[2] <= 2 else "rgb"
    return split(deep_samples(arr), 16, mode, pil.info.get("icc_profile"), raw)


def decode_tiff(fh: BinaryIO, pil: PILImage.Image, raw: bool) -> Image:
    """The first page of a deep gray/RGB TIFF through tifffile (:mod:`._tiff`)."""
    arr = read_pages(fh, 1)[0]
    mode = "gray" if arr.ndim == 2 or arr.shape[2] <= 2 else "rgb"
    return split(deep_samples(arr), 16, mode, pil.info.get("icc_profile"), raw)


def split(arr: np.ndarray, depth: int, mode: str, icc: bytes | None, raw: bool = False) -> Image:
    """``(H, W[, C])`` integer/float array -> Image with colour and alpha separated.

    ``raw`` keeps integer samples (no copy when there is no alpha to split off)."""
    x = arr if raw or arr.dtype == np.float32 else from_uint(arr)
    x = x[..., None] if x.ndim == 2 else x
    ncol = 1 if mode == "gray" else 3
    alpha = np.ascontiguousarray(x[..., ncol]) if x.shape[2] > ncol else None
    return Image(np.ascontiguousarray(x[..., :ncol]), alpha, depth, mode, None, icc)
