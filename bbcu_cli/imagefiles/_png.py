"""A minimal PNG encoder for what neither Pillow nor OpenCV writes: 16-bit gray + alpha."""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["encode_png16"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray+alpha, RGB, RGBA


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png16(arr: np.ndarray, level: int = 1) -> bytes:
    """``(H, W, C)`` uint16 samples (C 1..4) -> a 16-bit PNG (no filtering, zlib ``level``)."""
    h, w, c = arr.shape
    rows = np.ascontiguousarray(arr, dtype=">u2").reshape(h, w * c).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)  # filter byte 0 per row
    header = struct.pack(">IIBBBBB", w, h, 16, _COLOUR_TYPE[c], 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
    return _SIGNATURE + body + _chunk(b"IEND", b"")
