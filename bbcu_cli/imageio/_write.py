"""Encoding and atomic writing: :class:`Image` -> bytes -> temp file -> ``os.replace``."""

from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image as PILImage

from bbcu_cli.errors import OutputError
from bbcu_cli.imageio._core import Image, display_name, format_for_path, gray_to_rgb, to_uint

_PIL_SAVE = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF"}
_ALPHA_FORMATS = frozenset({"png", "webp", "tiff"})
_DEEP_FORMATS = frozenset({"png", "tiff"})


def write_image(path: str | Path | BinaryIO, image: Image, fmt: str | None = None,
                quality: int = 95) -> None:
    """Encode ``image`` and write it atomically (temp file in the same folder, fsync, rename).

    Samples are ``to_uint(x, depth)``; depth is ``image.bit_depth`` for PNG/TIFF, else 8. Alpha
    is kept for PNG/WebP/TIFF and dropped for JPEG/BMP. Gray is written as gray, except WebP
    (RGB only) and 16-bit gray+alpha (written as RGBA). ``quality`` (1..100) applies to JPEG
    (4:4:4 chroma at >= 90) and WebP (100 = lossless). ``fmt`` overrides the extension and is
    required for streams. Raises OutputError naming the target (nothing is left at the target
    or beside it on failure); ValueError for malformed ``image`` arrays.
    """
    target = path if isinstance(path, (str, Path)) else display_name(path)
    if not isinstance(path, (str, Path)) and fmt is None:
        raise OutputError(f"cannot write {target}: no file name to take the format from",
                          "pass an explicit output format")
    fmt = format_for_path(target, fmt)
    _validate(image)
    try:
        data = _encode(image, fmt, quality)
    except (OSError, ValueError, KeyError, TypeError, cv2.error) as exc:
        raise OutputError(f"cannot encode {target} as {fmt}: {exc}", "try another format") from exc
    if isinstance(path, (str, Path)):
        _write_atomic(Path(path), data)
    else:
        _write_stream(path, data, str(target))


def _validate(image: Image) -> None:
    p = image.pixels
    if p.ndim != 3 or p.shape[2] not in (1, 3):
        raise ValueError(f"pixels must be (H, W, 1) or (H, W, 3), got {p.shape}")
    if image.alpha is not None and image.alpha.shape != p.shape[:2]:
        raise ValueError(f"alpha shape {image.alpha.shape} does not match pixels {p.shape}")


def _encode(image: Image, fmt: str, quality: int) -> bytes:
    depth = image.bit_depth if fmt in _DEEP_FORMATS and image.bit_depth == 16 else 8
    alpha = image.alpha if fmt in _ALPHA_FORMATS else None
    x = image.pixels
    if fmt == "webp" or (depth == 16 and alpha is not None and x.shape[2] == 1):
        x = gray_to_rgb(x) if x.shape[2] == 1 else x
    arr = to_uint(x if alpha is None else np.concatenate([x, alpha[..., None]], axis=2), depth)
    if depth == 16:
        return _encode_cv2(arr, fmt)
    return _encode_pil(arr, fmt, quality, image.icc_profile)


def _encode_cv2(arr: np.ndarray, fmt: str) -> bytes:
    if arr.shape[2] >= 3:
        arr = arr[..., [2, 1, 0, 3][: arr.shape[2]]]
    ok, buf = cv2.imencode("." + fmt, np.ascontiguousarray(arr.squeeze(2) if arr.shape[2] == 1 else arr))
    if not ok:
        raise ValueError("OpenCV refused to encode the image")
    return buf.tobytes()


def _encode_pil(arr: np.ndarray, fmt: str, quality: int, icc: bytes | None) -> bytes:
    pil = PILImage.fromarray(arr.squeeze(2) if arr.shape[2] == 1 else arr)  # L, LA, RGB, RGBA
    opts: dict[str, object] = {"icc_profile": icc} if icc and fmt != "bmp" else {}
    if fmt == "jpeg":
        opts.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "webp":
        opts.update(quality=quality, lossless=quality >= 100, exact=True)
    elif fmt == "tiff":
        opts["compression"] = "tiff_adobe_deflate"
    buf = io.BytesIO()
    pil.save(buf, _PIL_SAVE[fmt], **opts)
    return buf.getvalue()


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _write_atomic(target: Path, data: bytes) -> None:
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist", "create it first")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise _output_error(target, exc) from exc


def _output_error(target: str | Path, exc: OSError) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"cannot write {target}: the disk is full", "free some space and retry")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"cannot write {target}: permission denied", "pick a writable folder")
    return OutputError(f"cannot write {target}: {exc.strerror or exc}", "check the output path")


def _write_stream(stream: BinaryIO, data: bytes, name: str) -> None:
    try:
        stream.write(data)
        stream.flush()
    except OSError as exc:
        raise _output_error(name, exc) from exc
