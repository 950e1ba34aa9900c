"""Decoding: bytes from a path or stream -> :class:`Image`, with a header-size check first."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO, Callable, TypeVar

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from bbcu_cli.errors import InputError
from bbcu_cli.imageio._core import EXT_LIST as _EXT_LIST
from bbcu_cli.imageio._core import Image, display_name, from_uint

T = TypeVar("T")
DEFAULT_MAX_PIXELS = 1 << 28  # ~268 MP, used when ``max_pixels`` is None
PILImage.MAX_IMAGE_PIXELS = None  # our own ``max_pixels`` check replaces Pillow's bomb error

_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "BMP": "bmp",
                "DIB": "bmp", "TIFF": "tiff"}
_MODE_MAP = {"1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB",
             "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


def read_image(path: str | Path | BinaryIO, max_pixels: int | None = None, raw: bool = False) -> Image:
    """Decode a PNG, JPEG, WebP, BMP or TIFF file (or binary stream) into an :class:`Image`.

    Gray stays gray (``C=1``); palette/CMYK/YCbCr become RGB (gray palettes stay gray); alpha
    (incl. tRNS transparency) is split off; EXIF orientation is applied. The header size is
    checked before decoding: ``W*H > max_pixels`` is refused (None = ``DEFAULT_MAX_PIXELS``,
    ``0`` = no limit). With ``raw=True`` the samples stay as decoded (uint8 or uint16; float
    TIFFs float32) and no float copy is made. Raises InputError naming the file when it is
    missing, unreadable, empty, not an image, of an unsupported format, truncated/corrupt or
    too large.
    """
    name = display_name(path)
    with _open_source(path, name) as fh:
        head = _read(fh, name, 32)
        if not head:
            raise InputError(f"{name} is empty (0 bytes)", "pass a real image file")
        fh.seek(0)
        pil = _open_lazy(fh, name)
        _check_size(pil.size, DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels, name)
        fmt = _PIL_FORMATS.get(pil.format or "")
        if fmt is None:
            raise InputError(f"{name} is a {pil.format} image, which is not supported",
                             f"convert it to one of {_EXT_LIST}")
        if _decode(name, pil, _is_deep, pil, head, fmt):
            fh.seek(0)
            image = _decode(name, pil, _decode_cv2, _read(fh, name), pil, raw)
        else:  # Pillow reads the file as it decodes: the encoded bytes are never all in memory
            image = _decode(name, pil, _decode_pil, pil, raw)
    image.source_format = fmt
    return image


def _decode(name: str, pil: PILImage.Image, step: Callable[..., T], *args: object) -> T:
    """Run a decoding step; any failure becomes an InputError naming the file."""
    try:
        return step(*args)
    except MemoryError as exc:
        w, h = pil.size
        raise InputError(f"{name}: not enough memory to decode {w}x{h} pixels",
                         "lower --max-pixels or free memory") from exc
    except Exception as exc:  # decoders of untrusted bytes raise many kinds of errors
        raise InputError(f"{name} is truncated or corrupt: {_reason(exc)}",
                         "re-export or re-download it") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _open_source(source: str | Path | BinaryIO, name: str) -> BinaryIO:
    """A seekable binary file: the path opened, or a stream's bytes (streams may not seek)."""
    if not isinstance(source, (str, Path)):
        return io.BytesIO(_read(source, name))
    try:
        return Path(source).open("rb")
    except FileNotFoundError as exc:
        raise InputError(f"{name} does not exist", "check the path") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{name} is a folder, not an image", "pass files or use a folder input") from exc
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", "check the file permissions") from exc


def _read(fh: BinaryIO, name: str, size: int = -1) -> bytes:
    try:
        data = fh.read(size)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", "check the file permissions") from exc
    if not isinstance(data, bytes):
        raise InputError(f"{name} is a text stream, not binary", "open the stream in binary mode")
    return data


def _open_lazy(fh: BinaryIO, name: str) -> PILImage.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return PILImage.open(fh)
    except Exception as exc:  # UnidentifiedImageError, SyntaxError, struct.error, ...
        raise InputError(f"{name} is not a readable image (unknown or damaged header)",
                         f"pass a {_EXT_LIST} file") from exc


def _check_size(size: tuple[int, int], limit: int, name: str) -> None:
    w, h = size
    if limit > 0 and w * h > limit:
        raise InputError(f"{name} is {w}x{h} = {_count(w * h)}, over the --max-pixels limit "
                         f"of {_count(limit)}", "raise --max-pixels or downscale the image")


def _count(pixels: int) -> str:
    if pixels < 100_000:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:,.0f} MP" if pixels >= 10**9 else f"{pixels / 1e6:.4g} MP"


def _is_deep(pil: PILImage.Image, head: bytes, fmt: str) -> bool:
    """True for 16-bit PNG (IHDR byte 24 of ``head``) and TIFF (BitsPerSample tag 258)."""
    if fmt == "png":
        return len(head) > 25 and head[24] == 16
    if fmt == "tiff":
        bits = getattr(pil, "tag_v2", {}).get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return False


def _decode_pil(pil: PILImage.Image, raw: bool) -> Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pil.load()
    icc = pil.info.get("icc_profile")
    ImageOps.exif_transpose(pil, in_place=True)  # no full copy when there is nothing to turn
    pil = _normalise_mode(pil)
    arr = _to_array(pil)
    if pil.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        arr, depth = np.clip(arr, 0, 65535).astype(np.uint16), 16
    elif pil.mode == "F":
        arr, depth = np.clip(arr, 0.0, 1.0).astype(np.float32), 16
    else:
        depth = 8
    return _split(arr, depth, "gray" if pil.mode in ("L", "LA") or arr.ndim == 2 else "rgb", icc, raw)


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


def _decode_cv2(data: bytes, pil: PILImage.Image, raw: bool) -> Image:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("OpenCV could not decode the pixel data")
    if arr.ndim == 3:
        arr = arr[..., [2, 1, 0, 3][: arr.shape[2]]] if arr.shape[2] >= 3 else arr
    gray_header = data[25] in (0, 4) if pil.format == "PNG" else pil.tag_v2.get(262, 2) in (0, 1)
    if gray_header and arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[..., [0, 3]] if arr.shape[2] == 4 else arr[..., :1]
    arr = _orient(arr, pil.getexif().get(0x0112, 1))
    mode = "gray" if arr.ndim == 2 or arr.shape[2] <= 2 else "rgb"
    return _split(arr.astype(np.uint16, copy=False), 16, mode, pil.info.get("icc_profile"), raw)


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an ``(H, W[, C])`` array, as Pillow's exif_transpose."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


def _split(arr: np.ndarray, depth: int, mode: str, icc: bytes | None, raw: bool = False) -> Image:
    """``(H, W[, C])`` integer/float array -> Image with colour and alpha separated.

    ``raw`` keeps integer samples (no copy when there is no alpha to split off)."""
    x = arr if raw or arr.dtype == np.float32 else from_uint(arr)
    x = x[..., None] if x.ndim == 2 else x
    ncol = 1 if mode == "gray" else 3
    alpha = np.ascontiguousarray(x[..., ncol]) if x.shape[2] > ncol else None
    return Image(np.ascontiguousarray(x[..., :ncol]), alpha, depth, mode, None, icc)
