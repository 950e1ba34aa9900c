"""Encoding and atomic writing: :class:`Image` -> encoder -> temp file -> rename (or link).

The encoder (:mod:`._encode`) writes straight into the temp file (no full encoded copy in
memory); integer pixels are encoded at their bit depth without a float round trip. 8-bit stills
go through Pillow directly, animations through imageio's Pillow plugin, 16-bit PNG stills
through OpenCV, 16-bit and multi-page TIFF through tifffile (:mod:`._tiff`: it keeps the ICC
profile and marks alpha, which OpenCV's TIFF writer did not). Measured on a 1024x768 16-bit RGB
image, 2 cores (README, "Formats"): imageio/Pillow reads a 16-bit RGB PNG as uint8 (up to
255/65535 off) and cannot write one, OpenCV writes it in 94 ms and reads it exactly in 49 ms.
Stills skip imageio: importing it and its format lookup (which loads every Pillow plugin) cost
about 0.1 s of every ``bbcu`` run's start-up (2026-12-03).
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import BinaryIO, Callable

from bbcu_cli.atomicfile import writing
from bbcu_cli.errors import OutputError, option
from bbcu_cli.imagefiles._core import MULTI_FRAME_FORMATS, Image, ImageSequence, display_name, format_for_path
from bbcu_cli.imagefiles._encode import encode_sequence, encode_still
from bbcu_cli.imagefiles._icc import checked_profile, warn_losses
from bbcu_cli.imagefiles._meta import Metadata, pillow_options, png_chunks, with_pixel_size

from ._cv import opencv

DEFAULT_QUALITY = 95  # JPEG and lossy WebP when no quality is given
Encoder = Callable[[BinaryIO], None]


def write_image(
    path: str | Path | BinaryIO,
    image: Image | ImageSequence,
    fmt: str | None = None,
    quality: int | None = None,
    overwrite: bool = True,
    keep_metadata: bool = True,
) -> None:
    """Encode ``image`` and write it atomically (temp file in the same folder, fsync, rename).

    An :class:`ImageSequence` becomes an animated GIF / APNG / WebP or a multi-page TIFF with
    its durations and loop count (OutputError for JPEG and BMP, which hold one frame).
    ``quality`` None: 95, except WebP from a lossless source (``image.lossless``), written
    lossless. ``keep_metadata`` False drops EXIF, XMP and PNG text chunks (ICC is kept).

    Float samples are ``to_uint(x, depth)``; uint8/uint16 samples are written as they are
    (converted between 8 and 16 bits exactly when the format needs it). Depth is
    ``image.bit_depth`` for PNG/TIFF, else 8. Alpha is kept for PNG/WebP/TIFF and dropped for
    JPEG/BMP (with a warning, as is a profile BMP and GIF cannot hold). Gray is written as gray,
    except WebP (RGB only). An ICC profile whose colour space does not fit the pixels written is
    dropped with a warning. ``quality`` (1..100) applies to JPEG (4:4:4 chroma at >= 90) and WebP (100 =
    lossless). ``fmt`` overrides the extension and is required for streams. With
    ``overwrite=False`` an existing target is never replaced, even one that appears while
    encoding. Raises OutputError naming the target (nothing is left at the target or beside it
    on failure or interruption); ValueError for malformed ``image`` arrays.
    """
    target = path if isinstance(path, (str, Path)) else display_name(path)
    if not isinstance(path, (str, Path)) and fmt is None:
        raise OutputError(
            f"cannot write {target}: no file name to take the format from", "pass an explicit output format"
        )
    fmt = format_for_path(target, fmt)
    frames = image.frames if isinstance(image, ImageSequence) else [image]
    for frame in frames:
        _validate(frame)
    if isinstance(image, ImageSequence) and fmt not in MULTI_FRAME_FORMATS:
        raise OutputError(
            f"cannot write {target}: {fmt.upper()} holds one frame, the image has {len(frames)}",
            f"write .gif, .png, .webp or .tif, or pass {option('first_frame', True)}",
        )
    first = frames[0]
    meta = (
        with_pixel_size(first.metadata, first.pixels.shape[1], first.pixels.shape[0]) if keep_metadata else Metadata()
    )
    warn_losses(first.alpha is not None, first.icc_profile, fmt, str(target))
    encode = _encoder(image, fmt, _options(first, fmt, quality, meta, str(target)), str(target))
    if isinstance(path, (str, Path)):
        _write_atomic(Path(path), encode, overwrite)
    else:
        _write_stream(path, encode, str(target))


def _validate(image: Image) -> None:
    p = image.pixels
    if p.ndim != 3 or p.shape[2] not in (1, 3):
        raise ValueError(f"pixels must be (H, W, 1) or (H, W, 3), got {p.shape}")
    if image.alpha is not None and image.alpha.shape != p.shape[:2]:
        raise ValueError(f"alpha shape {image.alpha.shape} does not match pixels {p.shape}")


# zlib settings of 8-bit PNG output through Pillow (animations, and stills where the compiled
# extension is missing: else ``_png.encode_png8`` writes them). Pillow's default (level 6) took
# 0.34 s for a 1280x720 x4 output, level 3 0.10 s (1093 KB); zlib's run-length strategy (Z_RLE)
# 0.064 s for 1080 KB, and smaller than level 3 on Set14's ppt3 / comic / zebra and Set5's
# butterfly upscaled x2 as well; encode_png8 0.039 s (1 thread) / 0.021 s (2) for 1082 KB
# (measured while writing this). 16-bit PNG goes through OpenCV (level 1).
PNG_COMPRESS_LEVEL = 1
PNG_COMPRESS_TYPE = 3  # zlib's Z_RLE


def _options(image: Image, fmt: str, quality: int | None, meta: Metadata, target: str) -> dict[str, object]:
    """Pillow encoder options: quality, ICC (when it fits the pixels written), EXIF/XMP (PNG's go
    in as chunks: ``pnginfo`` is not used)."""
    opts: dict[str, object] = {}
    if image.icc_profile and fmt not in ("bmp", "gif"):
        gray = image.pixels.shape[2] == 1 and fmt != "webp"
        icc = checked_profile(image.icc_profile, gray, target)
        opts.update({"icc_profile": icc} if icc else {})
    q = DEFAULT_QUALITY if quality is None else quality
    if fmt == "jpeg":
        opts.update(quality=q, subsampling=0 if q >= 90 else 2)
    elif fmt == "webp":
        lossless = q >= 100 or (quality is None and image.lossless)
        opts.update(quality=100 if lossless else q, lossless=lossless, exact=True)
    elif fmt == "tiff":
        opts["compression"] = "tiff_adobe_deflate"
    elif fmt == "png":
        opts.update(compress_level=PNG_COMPRESS_LEVEL, compress_type=PNG_COMPRESS_TYPE)
        opts["_chunks"] = png_chunks(meta)
    opts.update(pillow_options(meta, fmt))
    return opts


def _encoder(image: Image | ImageSequence, fmt: str, opts: dict[str, object], target: str) -> Encoder:
    """A function that encodes ``image`` into a binary file; encoder failures -> OutputError."""

    def encode(fh: BinaryIO) -> None:
        try:
            if isinstance(image, ImageSequence):
                encode_sequence(image, fmt, opts, fh)
            else:
                encode_still(image, fmt, opts, fh)
        except OSError as exc:
            if exc.errno is not None:
                raise  # a real I/O error: disk full, permission...
            raise OutputError(f"cannot encode {target} as {fmt}: {exc}", "try another format") from exc
        except (ValueError, KeyError, TypeError, opencv().error) as exc:
            raise OutputError(f"cannot encode {target} as {fmt}: {exc}", "try another format") from exc

    return encode


def special_target(target: Path) -> bool:
    """Whether ``target`` (symlinks followed) exists and is not a regular file: a device, FIFO or
    socket the user named (``-o /dev/null``, ``-o /dev/stdout``). Such a target is written into
    directly; it is never renamed over or counted as an existing output."""
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _write_special(target: Path, encode: Encoder) -> None:
    """Encode in memory, then write into the existing non-regular ``target`` (no temp, no rename)."""
    buf = io.BytesIO()
    encode(buf)
    try:
        with open(target, "wb") as fh:
            fh.write(buf.getbuffer())
    except OSError as exc:
        raise _output_error(target, exc) from exc


def _write_atomic(target: Path, encode: Encoder, overwrite: bool = True) -> None:
    """Encode into a temp file beside ``target``, fsync, then publish it in one step.

    The temp file is named after this process (:mod:`bbcu_cli.atomicfile`); stale ones that earlier,
    killed runs left in the folder are removed first.

    A symlinked target is resolved first, so the rename replaces the file it points to, never
    the link; an existing device, FIFO or socket is written into directly (:func:`special_target`).
    The temp file is removed on any failure, including KeyboardInterrupt.
    """
    if special_target(target):
        _write_special(target, encode)
        return
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist", "create it first")
    try:
        with writing(target, overwrite=overwrite, sweep=True) as fh:
            encode(fh)
    except FileExistsError as exc:
        raise _exists_error(target) from exc
    except OSError as exc:
        raise _output_error(target, exc) from exc


def _exists_error(target: Path) -> OutputError:
    return OutputError(
        f"{target} already exists",
        f"pass {option('overwrite', True)} to replace it or {option('skip_existing', True)} to keep it",
    )


def _output_error(target: str | Path, exc: OSError) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"cannot write {target}: the disk is full", "free some space and retry")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"cannot write {target}: permission denied", "pick a writable folder")
    return OutputError(f"cannot write {target}: {exc.strerror or exc}", "check the output path")


def _write_stream(stream: BinaryIO, encode: Encoder, name: str) -> None:
    """Encode in memory first, so a failed encode writes nothing to the stream; then write all
    of it (a short write is continued, never taken as success) and flush."""
    buf = io.BytesIO()
    encode(buf)
    data = buf.getbuffer()
    sent = [0]
    try:
        _write_all(stream, data, sent)
        stream.flush()
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise OutputError(
                f"cannot write {name}: the reading program closed the pipe after {sent[0]} of {len(data)} bytes",
                "keep the reader running until bbcu ends, or write to a file with -o",
            ) from exc
        raise _output_error(name, exc) from exc


def _write_all(stream: BinaryIO, data: memoryview, sent: list[int]) -> None:
    """Write every byte of ``data``, counting them in ``sent[0]``. Buffered writers may accept
    only part of a large write (a pipe whose reader went away): the rest is written again,
    which then raises the pipe's error."""
    view = memoryview(data).cast("B")
    while sent[0] < len(view):
        n = stream.write(view[sent[0] :])
        if n is None or n <= 0:
            raise OSError(errno.EIO, "the stream accepted no more data")
        sent[0] += n
