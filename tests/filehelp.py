"""Hand-made image files for tests: headers that declare giant images with almost no data."""

from __future__ import annotations

import struct
import zlib


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def huge_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose IHDR (valid CRC) declares ``width x height`` and carries almost no data."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")


def huge_tiff(width: int = 200_000, height: int = 150_000) -> bytes:
    """A little-endian TIFF whose IFD declares a giant 8-bit gray image."""
    tags = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8),
        (277, 3, 1),
        (278, 4, height),
        (279, 4, 16),
    ]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in tags)
    return b"II*\x00" + struct.pack("<I", 24) + b"\0" * 16 + ifd + b"\0\0\0\0"
