"""Files of several frames: animated GIF / APNG / WebP and multi-page TIFF.

Reading (:func:`decode_frames`): imageio's Pillow plugin gives each frame as the composed canvas
a viewer shows (GIF, APNG and WebP frames are drawn over the previous ones), with its duration
and the file's loop count; the file's EXIF orientation turns every frame (Pillow turns TIFF
pages itself). 8-bit TIFF pages come through the same plugin (Pillow handles palette, CMYK and
YCbCr pages) and deep (16-bit, float) pages through tifffile, page by page (:mod:`._tiff`).
Animations come out RGB, or RGBA when a frame has a transparent pixel.

Writing (:func:`encode_frames`): GIF, APNG and WebP through the Pillow plugin (durations and
loop count passed on), TIFF pages through tifffile (8 or 16 bits, zlib, one page per frame).
"""

from __future__ import annotations

from types import ModuleType
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage

from bbcu_cli.errors import InputError, option
from bbcu_cli.imagefiles._core import Image, ImageSequence, deep_samples, from_uint
from bbcu_cli.imagefiles._orient import orient
from bbcu_cli.imagefiles._tiff import CompressionError, read_pages, write_pages

__all__ = ["frame_count", "decode_frames", "encode_frames"]

_EXTENSION = {"gif": ".gif", "png": ".png", "webp": ".webp", "tiff": ".tif"}
_FLAT_MODES = {"L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA"}


def _iio() -> ModuleType:
    """imageio v3, imported on first use: only multi-frame files need it (about 55 ms)."""
    import imageio.v3 as iio

    return iio


def frame_count(pil: PILImage.Image) -> int:
    """Frames (or TIFF pages) in the lazily opened file; 1 when the decoder cannot tell."""
    try:
        return max(1, int(getattr(pil, "n_frames", 1)))
    except Exception:  # a damaged frame table: the first frame is still readable
        return 1


def decode_frames(fh: BinaryIO, pil: PILImage.Image, fmt: str, name: str, raw: bool, deep: bool) -> ImageSequence:
    """Every frame of an opened multi-frame file (``deep``: a TIFF of 16-bit or float pages)."""
    count = frame_count(pil)
    fh.seek(0)
    if deep:  # tifffile applies each page's own orientation tag
        frames = [_image(deep_samples(page), 16, raw) for page in _deep_pages(fh, count, name)]
        durations, loop = None, None
    else:
        arrays, durations, loop = _pillow_frames(fh, fmt, count, _mode_for(pil, fmt))
        turn = 1 if fmt == "tiff" else _orientation(pil)  # Pillow turns TIFF pages as it loads them
        frames = [_image(orient(a, turn), 8, raw) for a in _drop_opaque_alpha(arrays)]
    _check_uniform(frames, name)
    return ImageSequence(frames, None if fmt == "tiff" else durations, loop, fmt)


def _mode_for(pil: PILImage.Image, fmt: str) -> str:
    """The Pillow mode frames are read in: RGBA for animations (alpha dropped later when every
    pixel is opaque); a TIFF's first-page mode, flattened to L, LA, RGB or RGBA."""
    if fmt != "tiff":
        return "RGBA"
    mode = _FLAT_MODES.get(pil.mode)
    if mode is None:
        alpha = pil.mode in ("PA", "RGBa", "La") or "transparency" in pil.info
        mode = "RGBA" if alpha else "RGB"
    return mode


def _pillow_frames(fh: BinaryIO, fmt: str, count: int, mode: str) -> tuple[list[np.ndarray], list[int], int | None]:
    """Frames as uint8 arrays in ``mode``, their durations (ms) and the loop count."""
    arrays: list[np.ndarray] = []
    durations: list[int] = []
    with _iio().imopen(fh, "r", plugin="pillow", extension=_EXTENSION[fmt]) as reader:
        loop = reader.metadata(index=0).get("loop")
        for i in range(count):
            arrays.append(reader.read(index=i, mode=mode))
            durations.append(int(round(float(reader.metadata(index=i).get("duration") or 0))))
    return arrays, durations, None if loop is None else int(loop)


def _deep_pages(fh: BinaryIO, count: int, name: str) -> list[np.ndarray]:
    """The deep pages of a TIFF; a compression this install cannot decode is refused clearly."""
    try:
        return read_pages(fh, count)
    except CompressionError as exc:
        raise InputError(
            f"{name}: its 16-bit pages are {exc} compressed, which cannot be decoded here",
            f"re-save it with deflate (zip) or no compression, or pass {option('first_frame', True)}",
        ) from exc


def _orientation(pil: PILImage.Image) -> int:
    """The file's EXIF orientation (1..8; 1 when absent or unreadable), applied to every frame."""
    try:
        value = pil.getexif().get(0x0112, 1)
        return int(value) if isinstance(value, int) else 1
    except Exception:  # malformed EXIF: the frames are taken as stored
        return 1


def _drop_opaque_alpha(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """RGBA frames without their alpha channel when no frame has a transparent pixel."""
    if arrays and arrays[0].ndim == 3 and arrays[0].shape[2] == 4 and all((a[..., 3] == 255).all() for a in arrays):
        return [np.ascontiguousarray(a[..., :3]) for a in arrays]
    return arrays


def _image(arr: np.ndarray, depth: int, raw: bool) -> Image:
    """One frame's samples -> :class:`Image` with colour and alpha apart."""
    x = arr[..., None] if arr.ndim == 2 else arr
    if not raw and x.dtype != np.float32:
        x = from_uint(x)
    ncol = 1 if x.shape[2] <= 2 else 3
    alpha = np.ascontiguousarray(x[..., ncol]) if x.shape[2] > ncol else None
    return Image(np.ascontiguousarray(x[..., :ncol]), alpha, depth, "gray" if ncol == 1 else "rgb", None)


def _check_uniform(frames: list[Image], name: str) -> None:
    """Refuse pages of different sizes or kinds: they cannot be written back as one file."""
    first = frames[0]
    for i, frame in enumerate(frames[1:], start=2):
        if frame.pixels.shape != first.pixels.shape or (frame.alpha is None) != (first.alpha is None):
            raise InputError(
                f"{name}: page {i} is {frame.pixels.shape[1]}x{frame.pixels.shape[0]} "
                f"({frame.mode}), page 1 {first.pixels.shape[1]}x{first.pixels.shape[0]} ({first.mode})",
                f"pass {option('first_frame', True)}, or split the pages into separate files",
            )


def encode_frames(stack: np.ndarray, seq: ImageSequence, fmt: str, options: dict[str, object], fh: BinaryIO) -> None:
    """Write ``stack`` (``(N, H, W, C)`` integer samples of ``seq``'s frames) as one ``fmt`` file.

    ``options`` are the encoder's (quality, lossless, ICC, EXIF...); durations and loop count
    come from ``seq``.
    """
    if fmt == "tiff":
        _encode_tiff(stack, options, fh)
        return
    timing: dict[str, object] = {}
    if seq.durations is not None:
        timing["duration"] = list(seq.durations)
    if seq.loop is not None:
        timing["loop"] = seq.loop
    if fmt == "gif" and stack.shape[3] in (2, 4):
        timing["disposal"] = 2  # transparent frames: each drawn on a cleared canvas
    frames = stack[..., 0] if stack.shape[3] == 1 else stack
    _iio().imwrite(fh, frames, plugin="pillow", extension=_EXTENSION[fmt], is_batch=True, **timing, **options)


def _encode_tiff(stack: np.ndarray, options: dict[str, object], fh: BinaryIO) -> None:
    """One TIFF page per frame (:func:`._tiff.write_pages`), with the checked ICC and the EXIF."""
    icc, exif = options.get("icc_profile"), options.get("exif")
    write_pages(fh, list(stack), icc if isinstance(icc, bytes) else None, exif if isinstance(exif, bytes) else None)
