"""Decoding: bytes from a path or stream -> :class:`Image`, with a header-size check first."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from bbcu_cli.errors import InputError
from bbcu_cli.imageio._core import EXT_LIST as _EXT_LIST
from bbcu_cli.imageio._core import Image, display_name, from_uint

DEFAULT_MAX_PIXELS = 1 << 28  # ~268 MP, used when ``max_pixels`` is None
PILImage.MAX_IMAGE_PIXELS = None  # our own ``max_pixels`` check replaces Pillow's bomb error

_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "BMP": "bmp",
                "DIB": "bmp", "TIFF": "tiff"}
_MODE_MAP = {"1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB",
             "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


def read_image(path: str | Path | BinaryIO, max_pixels: int | None = None) -> Image:
    """Decode a PNG, JPEG, WebP, BMP or TIFF file (or binary stream) into an :class:`Image`.

    Gray stays gray (``C=1``); palette/CMYK/YCbCr become RGB (gray palettes stay gray); alpha
    (incl. tRNS transparency) is split off; EXIF orientation is applied. The header size is
    checked before decoding: ``W*H > max_pixels`` is refused (None = ``DEFAULT_MAX_PIXELS``,
    ``0`` = no limit). Raises InputError naming the file when it is missing, unreadable, empty,
    not an image, of an unsupported format, truncated/corrupt or too large.
    """
    name = display_name(path)
    data = _read_bytes(path, name)
    if not data:
        raise InputError(f"{name} is empty (0 bytes)", "pass a real image file")
    pil = _open_lazy(data, name)
    _check_size(pil.size, DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels, name)
    fmt = _PIL_FORMATS.get(pil.format or "")
    if fmt is None:
        raise InputError(f"{name} is a {pil.format} image, which is not supported",
                         f"convert it to one of {_EXT_LIST}")
    try:
        image = _decode_cv2(data, pil) if _is_deep(pil, data, fmt) else _decode_pil(pil)
    except (OSError, SyntaxError, ValueError, EOFError, cv2.error) as exc:
        raise InputError(f"{name} is truncated or corrupt: {exc}", "re-export or re-download it") from exc
    image.source_format = fmt
    return image


def _read_bytes(source: str | Path | BinaryIO, name: str) -> bytes:
    try:
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source.read()
    except FileNotFoundError as exc:
        raise InputError(f"{name} does not exist", "check the path") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{name} is a folder, not an image", "pass files or use a folder input") from exc
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", "check the file permissions") from exc
    if not isinstance(data, bytes):
        raise InputError(f"{name} is a text stream, not binary", "open the stream in binary mode")
    return data


def _open_lazy(data: bytes, name: str) -> PILImage.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return PILImage.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{name} is not a readable image (unknown or damaged header)",
                         f"pass a {_EXT_LIST} file") from exc


def _check_size(size: tuple[int, int], limit: int, name: str) -> None:
    w, h = size
    if limit > 0 and w * h > limit:
        raise InputError(f"{name} is {w}x{h} = {_count(w * h)}, over the --max-pixels limit "
                         f"of {_count(limit)}", "raise --max-pixels or downscale the image")


def _count(pixels: int) -> str:
    return f"{pixels / 1e6:.4g} MP" if pixels >= 100_000 else f"{pixels} pixels"


def _is_deep(pil: PILImage.Image, data: bytes, fmt: str) -> bool:
    """True for 16-bit PNG (IHDR byte 24) and TIFF (BitsPerSample tag 258)."""
    if fmt == "png":
        return len(data) > 25 and data[24] == 16
    if fmt == "tiff":
        bits = getattr(pil, "tag_v2", {}).get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return False


def _decode_pil(pil: PILImage.Image) -> Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pil.load()
    icc = pil.info.get("icc_profile")
    pil = _normalise_mode(ImageOps.exif_transpose(pil))
    arr = np.asarray(pil)
    if pil.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        arr, depth = np.clip(arr, 0, 65535).astype(np.uint16), 16
    elif pil.mode == "F":
        arr, depth = np.clip(arr, 0.0, 1.0).astype(np.float32), 16
    else:
        depth = 8
    return _split(arr, depth, "gray" if pil.mode in ("L", "LA") or arr.ndim == 2 else "rgb", icc)


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


def _decode_cv2(data: bytes, pil: PILImage.Image) -> Image:
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
    return _split(arr.astype(np.uint16), 16, mode, pil.info.get("icc_profile"))


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an ``(H, W[, C])`` array, as Pillow's exif_transpose."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].swapaxes(0, 1), 8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


def _split(arr: np.ndarray, depth: int, mode: str, icc: bytes | None) -> Image:
    """``(H, W[, C])`` integer/float array -> Image with colour and alpha separated."""
    x = arr if arr.dtype == np.float32 else from_uint(arr)
    x = x[..., None] if x.ndim == 2 else x
    ncol = 1 if mode == "gray" else 3
    alpha = np.ascontiguousarray(x[..., ncol]) if x.shape[2] > ncol else None
    return Image(np.ascontiguousarray(x[..., :ncol]), alpha, depth, mode, None, icc)
