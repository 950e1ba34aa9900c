"""The output side of one item: the frame-count check before compute, the atomic write (to a
file or stdout), and PSNR/SSIM of the written image against a reference (``--ref``).

Used by :func:`.item.load_item` (:func:`_check_frames_fit`) and :func:`.item.save_item`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ..errors import InputError, OutputError, option
from ..imagefiles import Image, ImageSequence, format_for_path, from_uint, read_image, write_image
from ..imagefiles._core import MULTI_FRAME_FORMATS
from ..metrics import image_metrics, metrics_for_task

if TYPE_CHECKING:  # the engine imports torch; this module only reads a Restorer's spec
    from ..engine.restore import Restorer
    from .item import RestoreOptions


def _as_unit_float(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype.kind == "f":
        return (np.rint(np.clip(pixels, 0, 1) * 255.0) / 255.0).astype(np.float32)
    if pixels.dtype == np.uint16:  # metrics are on the 8-bit quantized output
        pixels = ((pixels.astype(np.uint32) * 510 + 65535) // 131070).astype(np.uint8)
    return from_uint(pixels)


def _measure(restorer: Restorer, output: Image | ImageSequence, ref_path: Path) -> tuple[float, float]:
    """PSNR/SSIM of the output (an animation's first frame) against the reference."""
    output = output.first if isinstance(output, ImageSequence) else output
    ref = read_image(ref_path)
    h, w = output.pixels.shape[:2]
    rh, rw = ref.pixels.shape[:2]
    slack = math.ceil(restorer.scale)  # the low-resolution side was rounded down: cut the reference to fit
    if not (0 <= rh - h < slack and 0 <= rw - w < slack):
        raise InputError(
            f"reference {ref_path} is {rw}x{rh} but the output is {w}x{h}",
            f"pass the matching high-quality image (at most {slack - 1} pixel(s) larger per side)",
        )
    quant = _as_unit_float(output.pixels)
    space, crop = metrics_for_task(restorer.spec.task, math.ceil(restorer.scale))  # --outscale 1.5: crop 2
    reference = ref.pixels[:h, :w]
    if space == "gray" and reference.shape[2] == 3 and quant.shape[2] == 3:
        space = "rgb"
    return image_metrics(quant, reference, crop=crop, space=space)


def _write(dst: Path, image: Image | ImageSequence, opts: RestoreOptions) -> None:
    keep = not opts.strip_metadata
    if str(dst) == "-":  # the input's container, as for a file output without an extension change
        fmt = opts.out_format or image.source_format or "png"
        write_image(_stdout(), image, fmt, quality=opts.quality, keep_metadata=keep)
        return
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create output folder {dst.parent}: {exc.strerror or exc}", "pick a writable -o folder"
        ) from None
    write_image(dst, image, opts.out_format, quality=opts.quality, overwrite=opts.overwrite, keep_metadata=keep)


def _check_frames_fit(dst: Path, image: Image | ImageSequence, opts: RestoreOptions) -> None:
    """Refuse, before any compute, an animation bound for a one-frame format (JPEG, BMP)."""
    if not isinstance(image, ImageSequence):
        return
    written = format_for_path("x.png" if str(dst) == "-" else dst, opts.out_format)
    if written not in MULTI_FRAME_FORMATS:
        raise OutputError(
            f"cannot write {dst}: {written.upper()} holds one frame, the input has {len(image.frames)}",
            f"write .gif, .png, .webp or .tif, or pass {option('first_frame', True)}",
        )


def _stdout() -> BinaryIO:
    """The binary stdout, or OutputError when the process was started with stdout closed."""
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        raise OutputError("cannot write the image to stdout: stdout is closed", "pass -o FILE")
    if _is_terminal(stream):
        raise OutputError("refusing to write image data to a terminal", "redirect stdout (> out.png) or pass -o FILE")
    return stream


def _is_terminal(stream: BinaryIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
