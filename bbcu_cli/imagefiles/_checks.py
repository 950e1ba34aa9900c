"""Checks on encoded bytes before a full decode: structure, plausible size, strict JPEG decode.

* Bounds: a W x H image never needs more than :func:`max_encoded_bytes` encoded bytes, so
  readers that hold the file in memory (streams, OpenCV) read at most that many.
* Plausibility: a codec cannot squeeze W x H pixels into fewer than :func:`min_encoded_bytes`
  bytes (deflate expands at most 1032:1; a Huffman JPEG needs at least one bit per 8x8 block,
  8x headroom is left for arithmetic coding), so a tiny file declaring a huge image is refused
  from its header, before a single pixel is decoded.
* PNG: every chunk's CRC is checked and IEND must be reached (damaged or truncated data is an
  error, never a gray or garbled part of an image); bytes after IEND are ignored.
* JPEG: libjpeg only *warns* about missing or damaged entropy-coded data and fills the gap
  with gray; :func:`validate_jpeg` decodes at 1/8 size with OpenCV inside the caller's
  :func:`~bbcu_cli.imagefiles._guard.decode_guard`, which turns those warnings into errors.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

from bbcu_cli.errors import InputError

from ._cv import opencv

__all__ = ["max_encoded_bytes", "min_encoded_bytes", "check_png", "validate_jpeg", "read_capped"]

_SLACK = 16 << 20  # metadata allowance: ICC profiles, EXIF, thumbnails, text chunks
_MAX_BYTES_PER_PIXEL = 16  # 4 channels x 32-bit samples, stored uncompressed
_DEFLATE_MAX_RATIO = 1032
_JPEG_PIXELS_PER_BYTE = 4096
_TIFF_PIXELS_PER_BYTE = 65536
_CCITT = frozenset({2, 3, 4, 32771})
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PIECE = 1 << 20


def max_encoded_bytes(width: int, height: int) -> int:
    """The most bytes a ``width x height`` image file can plausibly need (16 B/px + 16 MiB)."""
    return width * height * _MAX_BYTES_PER_PIXEL + _SLACK


def min_encoded_bytes(fmt: str, width: int, height: int, head: bytes, tags: dict[int, object]) -> int:
    """The fewest bytes a ``fmt`` file of this size can hold (0 where no floor is known).

    ``head`` is the file's first bytes (the PNG IHDR); ``tags`` the TIFF tags (258 bits per
    sample, 259 compression).
    """
    if fmt == "png" and len(head) >= 26:
        bits = head[24] * _PNG_CHANNELS.get(head[25], 4)
        return height * (1 + (width * bits + 7) // 8) // _DEFLATE_MAX_RATIO
    if fmt == "jpeg":
        return width * height // _JPEG_PIXELS_PER_BYTE
    if fmt == "tiff" and tags.get(259, 1) not in _CCITT:
        return width * height // _TIFF_PIXELS_PER_BYTE
    return 0


def read_capped(fh: BinaryIO, cap: int, name: str) -> bytes:
    """Up to ``cap`` bytes from the current position, read in 1 MiB pieces."""
    pieces: list[bytes] = []
    left = cap
    while left > 0:
        piece = fh.read(min(left, _PIECE))
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


def check_png(fh: BinaryIO, name: str) -> int:
    """Walk the chunks from the signature to IEND checking every CRC; returns the bytes up to
    and including IEND. Raises InputError for a damaged or truncated file."""
    fh.seek(8)
    pos = 8
    while True:
        header = fh.read(8)
        if len(header) < 8:
            raise _damaged(name, "the data ends before the IEND chunk (truncated)")
        length, tag = struct.unpack(">I4s", header)
        if length > 0x7FFFFFFF:
            raise _damaged(name, f"chunk {tag!r} declares {length} bytes")
        crc = _crc_of(fh, tag, length, name)
        stored = fh.read(4)
        if len(stored) < 4:
            raise _damaged(name, "the data ends inside a chunk (truncated)")
        if struct.unpack(">I", stored)[0] != crc:
            raise _damaged(name, f"CRC error in chunk {tag.decode('latin-1')!r}")
        pos += 12 + length
        if tag == b"IEND":
            return pos


def _crc_of(fh: BinaryIO, tag: bytes, length: int, name: str) -> int:
    crc = zlib.crc32(tag)
    left = length
    while left > 0:
        piece = fh.read(min(left, _PIECE))
        if not piece:
            raise _damaged(name, "the data ends inside a chunk (truncated)")
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    return crc


def validate_jpeg(data: bytes) -> None:
    """Decode ``data`` at 1/8 size with libjpeg (OpenCV); must run inside a decode guard, which
    turns libjpeg's warnings about premature ends and damaged data into an InputError."""
    opencv().imdecode(np.frombuffer(data, np.uint8), opencv().IMREAD_REDUCED_GRAYSCALE_8)


def _damaged(name: str, why: str) -> InputError:
    return InputError(f"{name} is truncated or corrupt: {why}", "re-export or re-download it")
