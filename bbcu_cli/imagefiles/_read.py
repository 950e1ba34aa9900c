"""Decoding: bytes from a path or stream -> :class:`Image`, with header checks first.

Order of checks, each before any pixel is decoded: the header size against ``max_pixels``
(counted in output pixels: ``W * H * scale**2``), the encoded size against the smallest a
codec can produce (:mod:`._checks`), the PNG chunk CRCs and a strict JPEG pass; then the
decode itself, inside :func:`~bbcu_cli.imagefiles._guard.decode_guard`, which turns decoder
diagnostics of damaged data into errors naming the file. Memory is bounded by the header:
streams (stdin) and in-memory decodes (OpenCV) read at most
:func:`~bbcu_cli.imagefiles._checks.max_encoded_bytes` for the declared size.

Sample types: uint8 and uint16 as they are; 32-bit integer samples on the 16-bit scale
(clipped to 0..65535, as Pillow's mode I); float samples (32/64-bit TIFF) are taken as
0..1, clipped (NaN -> 0), and come back as float32 with ``bit_depth`` 16 (written as 16-bit).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Callable, TypeVar

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from bbcu_cli.errors import InputError, option, printable
from bbcu_cli.imagefiles._checks import check_png, max_encoded_bytes, min_encoded_bytes, read_capped, validate_jpeg
from bbcu_cli.imagefiles._core import EXT_LIST as _EXT_LIST
from bbcu_cli.imagefiles._core import Image, ImageSequence, SampleRangeError, display_name
from bbcu_cli.imagefiles._deep import decode_cv2, decode_tiff, split
from bbcu_cli.imagefiles._frames import decode_frames, frame_count
from bbcu_cli.imagefiles._guard import decode_guard
from bbcu_cli.imagefiles._icc import cmyk_to_srgb
from bbcu_cli.imagefiles._jpegq import estimate_jpeg_quality
from bbcu_cli.imagefiles._meta import read_metadata
from bbcu_cli.imagefiles._source import (
    Source,
    check_frames,
    check_size,
    is_lossless,
    open_lazy,
    open_source,
    read_bytes,
)
from bbcu_cli.imagefiles._tiff import readable_tiff_kind

T = TypeVar("T")
DEFAULT_MAX_PIXELS = 1 << 28  # ~268 MP, used when ``max_pixels`` is None
PILImage.MAX_IMAGE_PIXELS = None  # our own ``max_pixels`` check replaces Pillow's bomb error

_PIL_FORMATS = {
    "PNG": "png",
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "WEBP": "webp",
    "BMP": "bmp",
    "DIB": "bmp",
    "TIFF": "tiff",
    "GIF": "gif",
}
_MODE_MAP = {
    "1": "L",
    "La": "LA",
    "PA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}


def read_image(path: str | Path | BinaryIO, max_pixels: int | None = None, raw: bool = False, scale: int = 1) -> Image:
    """Decode a PNG, JPEG, WebP, BMP, TIFF or GIF file (or binary stream) into an :class:`Image`.

    The first frame of an animation or multi-page TIFF (:func:`read_file` reads them all).

    Gray stays gray (``C=1``); palette/CMYK/YCbCr become RGB (gray palettes stay gray); alpha
    (incl. tRNS transparency) is split off; EXIF orientation is applied. The header size is
    checked before decoding: ``W * H * scale**2 > max_pixels`` is refused (``scale`` is the
    upscaling factor the image is read for, so the limit counts output pixels; None =
    ``DEFAULT_MAX_PIXELS``, ``0`` = no limit). With ``raw=True`` the samples stay as decoded
    (uint8 or uint16; float TIFFs float32 in [0, 1]) and no float copy is made. Raises
    InputError naming the file (control characters escaped) when it is missing, unreadable,
    empty, not an image, of an unsupported format, truncated/corrupt, implausibly small for its
    declared size, or too large.
    """
    image = read_file(path, max_pixels, raw, scale, first_frame=True)
    assert isinstance(image, Image)
    return image


def read_file(
    path: str | Path | BinaryIO,
    max_pixels: int | None = None,
    raw: bool = False,
    scale: int = 1,
    first_frame: bool = False,
) -> Image | ImageSequence:
    """As :func:`read_image`, but every frame of an animated GIF / APNG / WebP or multi-page TIFF.

    Such a file comes back as an :class:`ImageSequence` (``first_frame=True``: its first frame
    as an :class:`Image`); ``max_pixels`` then counts the output pixels of all frames. A file
    of one frame comes back as an :class:`Image`, decoded as :func:`read_image` does.
    """
    name = printable(display_name(path))
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    with open_source(path, name, limit, scale) as src:
        head = read_bytes(src.fh, name, 32)
        if not head:
            raise InputError(f"{name} is empty (0 bytes)", "pass a real image file")
        src.fh.seek(0)
        with decode_guard(name):
            return _decode_source(src, head, name, (limit, scale), raw, first_frame)


def _decode_source(
    src: Source, head: bytes, name: str, limits: tuple[int, int], raw: bool, first_frame: bool
) -> Image | ImageSequence:
    """Header checks, then the decode (inside the caller's decode guard); metadata last."""
    pil, fmt = _checked_header(src, head, name, *limits)
    if not first_frame and frame_count(pil) > 1:
        check_frames(pil.size, frame_count(pil), *limits, name)
        return _decode_sequence(src, head, name, pil, fmt, raw)
    meta = _decode(name, pil, read_metadata, pil, src.fh, fmt)  # before the decode applies the orientation
    lossless = is_lossless(fmt, pil, src.fh)
    image = _decode_still(src, head, name, pil, fmt, raw)
    image.metadata, image.lossless = meta, lossless
    return image


def _decode_sequence(src: Source, head: bytes, name: str, pil: PILImage.Image, fmt: str, raw: bool) -> ImageSequence:
    """Every frame; the file's metadata, ICC and lossless flag go on the first."""
    meta = _decode(name, pil, read_metadata, pil, src.fh, fmt)
    lossless = is_lossless(fmt, pil, src.fh)
    deep = _decode(name, pil, _is_deep, pil, head, fmt)
    seq = _decode(name, pil, decode_frames, src.fh, pil, fmt, name, raw, deep)
    seq.first.icc_profile, seq.first.metadata, seq.first.lossless = pil.info.get("icc_profile"), meta, lossless
    for frame in seq.frames:
        frame.source_format = fmt
    return seq


def _checked_header(src: Source, head: bytes, name: str, limit: int, scale: int) -> tuple[PILImage.Image, str]:
    """The lazily opened file and its format, after the size, format and plausibility checks."""
    pil = open_lazy(src.fh, name)
    check_size(pil.size, limit, scale, name)
    fmt = _PIL_FORMATS.get(pil.format or "")
    if fmt is None:
        raise InputError(f"{name} is a {pil.format} image, which is not supported", f"convert it to one of {_EXT_LIST}")
    _check_plausible(fmt, pil, head, src, name)
    return pil, fmt


def _decode_still(src: Source, head: bytes, name: str, pil: PILImage.Image, fmt: str, raw: bool) -> Image:
    """The first (or only) frame: deep TIFF through tifffile (OpenCV for LZW/JPEG or unusual kinds),
    16-bit PNG through OpenCV, the rest through Pillow."""
    cap = max_encoded_bytes(*pil.size)
    if fmt == "jpeg":
        _decode(name, pil, validate_jpeg, _bytes_of(src, name, cap))
    if _decode(name, pil, _is_deep, pil, head, fmt) and fmt == "tiff" and readable_tiff_kind(pil):
        image = _decode(name, pil, decode_tiff, src.fh, pil, raw)
    elif _decode(name, pil, _is_deep, pil, head, fmt):
        image = _decode(name, pil, decode_cv2, _bytes_of(src, name, cap), pil, raw)
    else:  # Pillow reads the file as it decodes: the encoded bytes are never all in memory
        src.fh.seek(0)
        image = _decode(name, pil, _decode_pil, pil, raw)
    image.source_format = fmt
    if fmt == "jpeg":
        image.jpeg_quality = estimate_jpeg_quality(getattr(pil, "quantization", None))
    return image


def _check_plausible(fmt: str, pil: PILImage.Image, head: bytes, src: Source, name: str) -> None:
    """Refuse a file too small for its declared size; PNG: check every chunk and IEND."""
    w, h = pil.size
    tags = dict(getattr(pil, "tag_v2", {}) or {})
    need = min_encoded_bytes(fmt, w, h, head, tags)
    if src.size < need:
        raise InputError(
            f"{name} declares {w}x{h} pixels but holds only {src.size} bytes, fewer than "
            f"any {fmt.upper()} of that size needs ({need})",
            "the file is truncated or forged; re-export it",
        )
    if fmt == "png":
        check_png(src.fh, name)
        src.fh.seek(0)


def _bytes_of(src: Source, name: str, cap: int) -> bytes:
    """The file's first ``cap`` bytes (the rest, if any, is never read)."""
    src.fh.seek(0)
    try:
        return read_capped(src.fh, cap, name)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", "check the file permissions") from exc


def _decode(name: str, pil: PILImage.Image, step: Callable[..., T], *args: object) -> T:
    """Run a decoding step; any failure becomes an InputError naming the file."""
    try:
        return step(*args)
    except InputError:
        raise
    except SampleRangeError as exc:
        raise InputError(f"{name} {exc}", "convert it to unsigned 16-bit (0..65535) or to float 0..1 first") from None
    except MemoryError as exc:
        w, h = pil.size
        raise InputError(
            f"{name}: not enough memory to decode {w}x{h} pixels", f"lower {option('max_pixels')} or free memory"
        ) from exc
    except Exception as exc:  # decoders of untrusted bytes raise many kinds of errors
        raise InputError(f"{name} is truncated or corrupt: {_reason(exc)}", "re-export or re-download it") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_deep(pil: PILImage.Image, head: bytes, fmt: str) -> bool:
    """True for 16-bit PNG (IHDR byte 24 of ``head``) and TIFF (BitsPerSample tag 258)."""
    if fmt == "png":
        return len(head) > 25 and head[24] == 16
    if fmt == "tiff":
        bits = getattr(pil, "tag_v2", {}).get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return False


def _decode_pil(pil: PILImage.Image, raw: bool) -> Image:
    pil.load()
    icc = pil.info.get("icc_profile")
    ImageOps.exif_transpose(pil, in_place=True)  # no full copy when there is nothing to turn
    if pil.mode == "CMYK":  # through its CMYK profile to sRGB when it has one
        pil, icc = cmyk_to_srgb(pil)
    pil = _normalise_mode(pil)
    arr = _to_array(pil)
    if pil.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        arr, depth = np.clip(arr, 0, 65535).astype(np.uint16), 16
    elif pil.mode == "F":
        arr, depth = np.clip(arr, 0.0, 1.0).astype(np.float32), 16
    else:
        depth = 8
    return split(arr, depth, "gray" if pil.mode in ("L", "LA") or arr.ndim == 2 else "rgb", icc, raw)


def _to_array(pil: PILImage.Image, rows: int = 256) -> np.ndarray:
    """``np.asarray(pil)`` strip by strip: no full-size intermediate bytes (Pillow's tobytes)."""
    w, h = pil.size
    first = np.asarray(pil.crop((0, 0, w, min(h, rows))))
    out = np.empty((h,) + first.shape[1:], first.dtype)
    out[: first.shape[0]] = first
    for y in range(rows, h, rows):
        out[y : y + rows] = np.asarray(pil.crop((0, y, w, min(h, y + rows))))
    return out


def _normalise_mode(pil: PILImage.Image) -> PILImage.Image:
    """Reduce Pillow's many modes to L, LA, RGB, RGBA or a 16-bit/float gray mode."""
    mode = pil.mode
    if mode in ("P", "PA"):
        gray = _palette_is_gray(pil)
        alpha = mode == "PA" or "transparency" in pil.info
        mode = ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB")
    elif mode in ("L", "RGB") and "transparency" in pil.info:
        mode += "A"
    else:
        mode = _MODE_MAP.get(mode, mode)
    return pil if mode == pil.mode else pil.convert(mode)


def _palette_is_gray(pil: PILImage.Image) -> bool:
    pal = np.asarray(pil.getpalette("RGB") or [0, 0, 0], dtype=np.uint8).reshape(-1, 3)
    return bool(np.all(pal == pal[:, :1]))
