"""Encoders: an :class:`Image` or :class:`ImageSequence` -> the bytes of one file.

8-bit stills through Pillow; 16-bit PNG through OpenCV (16-bit gray + alpha, which OpenCV
cannot write, through :func:`._png.encode_png16`); 16-bit TIFF and every multi-page TIFF
through tifffile (:mod:`._tiff`: ICC, alpha as ExtraSamples); animations through imageio's
Pillow plugin. PNG metadata chunks (and, on the OpenCV path, iCCP) are added after encoding.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage

from bbcu_cli.imagefiles._core import Image, ImageSequence, as_depth, gray_to_rgb
from bbcu_cli.imagefiles._frames import encode_frames
from bbcu_cli.imagefiles._meta import Metadata, add_png_chunks, png_chunks
from bbcu_cli.imagefiles._png import encode_png8, encode_png16
from bbcu_cli.imagefiles._tiff import write_pages

from ._cv import opencv

__all__ = ["ALPHA_FORMATS", "encode_still", "encode_sequence", "Sink"]

_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF", "gif": "GIF"}
ALPHA_FORMATS = frozenset({"png", "webp", "tiff", "gif"})
_DEEP_FORMATS = frozenset({"png", "tiff"})


def samples(image: Image, fmt: str) -> tuple[np.ndarray, int]:
    """The ``(H, W, C)`` integer array to encode and its depth (gray as RGB only for WebP)."""
    depth = image.bit_depth if fmt in _DEEP_FORMATS and image.bit_depth == 16 else 8
    alpha = image.alpha if fmt in ALPHA_FORMATS else None
    x = gray_to_rgb(image.pixels) if fmt == "webp" and image.pixels.shape[2] == 1 else image.pixels
    arr = as_depth(x, depth)
    if alpha is not None:
        arr = np.concatenate([arr, as_depth(alpha, depth)[..., None]], axis=2)
    return arr, depth


def _split_chunks(opts: dict[str, object]) -> tuple[dict[str, object], list[tuple[bytes, bytes]]]:
    """The encoder options without ``_chunks``, and the PNG chunks to add after encoding."""
    chunks = opts.get("_chunks") or []
    return {k: v for k, v in opts.items() if k != "_chunks"}, chunks  # type: ignore[return-value]


def _bytes_option(opts: dict[str, object], key: str) -> bytes | None:
    value = opts.get(key)
    return value if isinstance(value, bytes) and value else None


def encode_still(image: Image, fmt: str, options: dict[str, object], fh: BinaryIO) -> None:
    """One frame as ``fmt`` into ``fh`` (``options``: Pillow's, plus ``_chunks`` for PNG)."""
    arr, depth = samples(image, fmt)
    opts, chunks = _split_chunks(options)
    if depth == 16 and fmt == "tiff":
        write_pages(Sink(fh), [arr], _bytes_option(opts, "icc_profile"), _bytes_option(opts, "exif"))
    elif depth == 16:  # PNG: OpenCV writes no ancillary chunks, ICC and metadata are added here
        data = encode_png16(arr) if arr.shape[2] == 2 else _encode_cv2(arr, fmt).tobytes()
        fh.write(add_png_chunks(data, png_chunks(Metadata(), _bytes_option(opts, "icc_profile")) + chunks))
    elif fmt == "png" and (data8 := encode_png8(arr)) is not None:  # Pillow without the compiled filter
        fh.write(add_png_chunks(data8, png_chunks(Metadata(), _bytes_option(opts, "icc_profile")) + chunks))
    elif chunks:
        buf = io.BytesIO()
        _encode_pil(arr, fmt, opts, buf)
        fh.write(add_png_chunks(buf.getvalue(), chunks))
    else:
        _encode_pil(arr, fmt, opts, fh)


def encode_sequence(seq: ImageSequence, fmt: str, options: dict[str, object], fh: BinaryIO) -> None:
    """All frames as one file; PNG (APNG) metadata chunks are added after encoding."""
    stack = np.stack([samples(frame, fmt)[0] for frame in seq.frames])
    opts, chunks = _split_chunks(options)
    if fmt == "tiff" or not chunks:
        encode_frames(stack, seq, fmt, opts, Sink(fh))
        return
    buf = io.BytesIO()
    encode_frames(stack, seq, fmt, opts, buf)
    fh.write(add_png_chunks(buf.getvalue(), chunks))


def _encode_cv2(arr: np.ndarray, fmt: str) -> np.ndarray:
    if arr.shape[2] >= 3:
        arr = arr[..., [2, 1, 0, 3][: arr.shape[2]]]
    ok, buf = opencv().imencode("." + fmt, np.ascontiguousarray(arr.squeeze(2) if arr.shape[2] == 1 else arr))
    if not ok:
        raise ValueError("OpenCV refused to encode the image")
    return buf


class Sink(io.RawIOBase):
    """Hides ``fileno`` so Pillow writes through Python (I/O errors keep their errno)."""

    def __init__(self, fh: BinaryIO) -> None:
        super().__init__()
        self._fh = fh

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self._fh.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")


def _encode_pil(arr: np.ndarray, fmt: str, opts: dict[str, object], fh: BinaryIO) -> None:
    """One 8-bit frame (L, LA, RGB, RGBA) through Pillow."""
    frame = arr.squeeze(2) if arr.shape[2] == 1 else arr
    PILImage.fromarray(np.ascontiguousarray(frame)).save(Sink(fh), format=_PIL_FORMAT[fmt], **opts)
