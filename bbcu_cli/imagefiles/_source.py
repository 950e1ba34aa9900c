"""Opening an input: a regular file as it is, a stream (stdin, a FIFO) read into memory with caps.

Also the header-level helpers every decode starts with: Pillow's lazy open (no pixels decoded)
and the ``--max-pixels`` check on the declared size.
"""

from __future__ import annotations

import io
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from PIL import Image as PILImage

from bbcu_cli.errors import InputError, option
from bbcu_cli.imagefiles._checks import max_encoded_bytes, read_capped
from bbcu_cli.imagefiles._core import EXT_LIST as _EXT_LIST
from bbcu_cli.imagefiles._tiff import tiff_header

_STREAM_HEAD = 4 << 20  # bytes of a stream read before its header must make sense
_LOSSY_TIFF = frozenset({6, 7, 34892, 50001})  # old-style JPEG, JPEG, lossy JPEG (DNG), WebP
_LOSSLESS_FORMATS = frozenset({"png", "bmp", "gif"})
_WEBP_SCAN = 1 << 20  # bytes of a WebP walked for its first image chunk


@dataclass
class Source:
    """A seekable binary file and how many encoded bytes it holds."""

    fh: BinaryIO
    size: int


@contextmanager
def open_source(source: str | Path | BinaryIO | None, name: str, limit: int, scale: int) -> Iterator[Source]:
    """A seekable source: a regular file opened, or a stream's (or FIFO's) bytes, capped."""
    if source is None:
        raise InputError("stdin is closed", "pipe an image into bbcu, or pass a file name")
    if not isinstance(source, (str, Path)):
        yield _stream_source(source, name, limit, scale)
        return
    with _open_path(Path(source), name) as fh:
        info = os.fstat(fh.fileno())
        if stat.S_ISREG(info.st_mode):
            yield Source(fh, info.st_size)
        else:  # a FIFO or device (/dev/stdin): read like a stream
            yield _stream_source(fh, name, limit, scale)


def _open_path(path: Path, name: str) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError as exc:
        raise InputError(f"{name} does not exist", "check the path") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{name} is a folder, not an image", "pass files or use a folder input") from exc
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", "check the file permissions") from exc


def _stream_source(stream: BinaryIO, name: str, limit: int, scale: int) -> Source:
    """A stream's bytes in memory: at most 4 MiB until the header is read, then at most what an
    image of the declared (and allowed) size can need."""
    buf = io.BytesIO()
    buf.write(_read_piece(stream, name, _STREAM_HEAD))
    if buf.tell() == _STREAM_HEAD:
        buf.seek(0)
        w, h = open_lazy(buf, name).size
        check_size((w, h), limit, scale, name)
        cap = max_encoded_bytes(w, h)
        buf.seek(0, io.SEEK_END)
        buf.write(_read_piece(stream, name, cap + 1 - _STREAM_HEAD))
        if buf.tell() > cap:
            raise InputError(
                f"{name} holds more than {cap} bytes, more than any {w}x{h} image needs", "pass a single image file"
            )
    size = buf.tell()
    buf.seek(0)
    return Source(buf, size)


def _read_piece(stream: BinaryIO, name: str, size: int) -> bytes:
    """Up to ``size`` bytes, read in pieces (a stream may return less per read)."""
    try:
        data = read_capped(stream, size, name)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", "check the file permissions") from exc
    except (AttributeError, TypeError) as exc:
        raise InputError(f"{name} is not a binary stream", "open the stream in binary mode") from exc
    if not isinstance(data, bytes):
        raise InputError(f"{name} is a text stream, not binary", "open the stream in binary mode")
    return data


def read_bytes(fh: BinaryIO, name: str, size: int = -1) -> bytes:
    try:
        data = fh.read(size)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", "check the file permissions") from exc
    if not isinstance(data, bytes):
        raise InputError(f"{name} is a text stream, not binary", "open the stream in binary mode")
    return data


def open_lazy(fh: BinaryIO, name: str) -> PILImage.Image:
    try:
        return PILImage.open(fh)
    except Exception as exc:  # UnidentifiedImageError, SyntaxError, struct.error, ...
        fh.seek(0)
        if fh.read(4) in (b"II*\0", b"MM\0*"):
            header = tiff_header(fh)  # deep gray + alpha: Pillow has no such mode
            if header is not None:
                return header  # type: ignore[return-value]
            raise InputError(
                f"{name} is a TIFF of a kind that cannot be read (float or 32-bit colour samples, "
                "an unusual layout, or a damaged header)",
                "save it as 8/16-bit RGB or as float gray",
            ) from exc
        raise InputError(
            f"{name} is not a readable image (unknown or damaged header)", f"pass a {_EXT_LIST} file"
        ) from exc


def check_size(size: tuple[int, int], limit: int, scale: int, name: str) -> None:
    """``W * H * scale**2`` (output pixels) against ``limit`` (0: no limit); empty images refused."""
    w, h = size
    if w < 1 or h < 1:
        raise InputError(f"{name} declares {w}x{h} pixels", "the header is damaged; re-export it")
    out = w * h * scale * scale
    if limit > 0 and out > limit:
        what = f"{w}x{h} = {_count(out)}" if scale == 1 else f"{w}x{h}, {_count(out)} of output at x{scale}"
        raise InputError(
            f"{name} is {what}, over the {option('max_pixels')} limit of {_count(limit)}",
            f"raise {option('max_pixels')} (0: no limit) or downscale the image",
        )


def _count(pixels: int) -> str:
    if pixels < 100_000:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:,.0f} MP" if pixels >= 10**9 else f"{pixels / 1e6:.4g} MP"


def check_frames(size: tuple[int, int], frames: int, limit: int, scale: int, name: str) -> None:
    """The output pixels of all ``frames`` against ``limit`` (0: no limit)."""
    w, h = size
    out = w * h * scale * scale * frames
    if limit > 0 and out > limit:
        raise InputError(
            f"{name} holds {frames} frames of {w}x{h}, {_count(out)} of output in all, over the "
            f"{option('max_pixels')} limit of {_count(limit)}",
            f"pass {option('first_frame', True)}, or raise {option('max_pixels')} (0: no limit)",
        )


def is_lossless(fmt: str, pil: PILImage.Image, fh: BinaryIO) -> bool:
    """Whether the file was coded without loss: PNG, BMP, GIF, TIFF not JPEG-compressed, and
    WebP whose first image chunk is VP8L (lossless) rather than VP8 (lossy)."""
    if fmt in _LOSSLESS_FORMATS:
        return True
    if fmt == "tiff":
        return getattr(pil, "tag_v2", {}).get(259, 1) not in _LOSSY_TIFF
    if fmt == "webp":
        fh.seek(0)
        first = _first_webp_image_chunk(fh.read(_WEBP_SCAN))
        fh.seek(0)
        return first == b"VP8L"
    return False


def _first_webp_image_chunk(data: bytes) -> bytes | None:
    """``VP8 `` or ``VP8L``: the first image chunk of a RIFF WebP, inside ANMF frames too."""
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if tag in (b"VP8 ", b"VP8L"):
            return tag
        pos += 8 + (16 if tag == b"ANMF" else size + (size & 1))  # enter an animation frame
    return None
