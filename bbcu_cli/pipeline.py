"""One image through the model: read, restore (alpha, gray, bit depth), write, measure.

Used by the CLI and the public API alike. Errors come back as :class:`ItemResult` with
``status="failed"`` so a batch can go on; nothing partial is ever written (atomic writes).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from .engine.restore import Restorer, TileProgress
from .errors import BbcuError, InputError, OutputError
from .imageio import Image, read_image, resize_alpha, write_image
from .metrics import image_metrics, metrics_for_task
from .noise import estimate_sigma

__all__ = ["RestoreOptions", "ItemResult", "restore_image", "process_file"]

log = logging.getLogger(__name__)
Status = Literal["ok", "skipped", "failed"]


@dataclass
class RestoreOptions:
    """Per-run settings shared by every item."""

    sigma: float | None = None
    out_format: str | None = None
    overwrite: bool = False
    skip_existing: bool = False
    max_pixels: int | None = None


@dataclass
class ItemResult:
    """Outcome of one item (the ``items`` entries of ``--json``)."""

    input: str
    output: str | None
    status: Status
    error: str | None = None
    psnr: float | None = None
    ssim: float | None = None
    seconds: float | None = None
    sigma: float | None = None

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in ("psnr", "ssim"):
            if data[key] is not None and not np.isfinite(data[key]):
                data[key] = None if np.isnan(data[key]) else 999.0
        return data


def _sigma_for(restorer: Restorer, image: Image, sigma: float | None) -> float | None:
    if not restorer.spec.noise_channel:
        return None
    return estimate_sigma(image.pixels) if sigma is None else sigma


def restore_image(restorer: Restorer, image: Image, sigma: float | None = None, progress: TileProgress | None = None) -> tuple[Image, float | None]:
    """Restore ``image``; returns the new image (same kind and bit depth) and the sigma used.

    Alpha is resized with a plain bicubic interpolator for SR and passed through otherwise.
    """
    used = _sigma_for(restorer, image, sigma)
    pixels = restorer.restore(image.pixels, sigma=used, progress=progress)
    alpha = image.alpha
    if alpha is not None and restorer.scale > 1:
        alpha = resize_alpha(alpha, restorer.scale)
    return replace(image, pixels=pixels, alpha=alpha), used


def _measure(restorer: Restorer, output: Image, ref_path: Path) -> tuple[float, float]:
    ref = read_image(ref_path)
    out = output.pixels
    h, w = out.shape[:2]
    if ref.pixels.shape[0] < h or ref.pixels.shape[1] < w:
        raise InputError(f"reference {ref_path} is {ref.pixels.shape[1]}x{ref.pixels.shape[0]}, smaller than the output {w}x{h}", "pass the matching high-quality image")
    quant = np.rint(np.clip(out, 0, 1) * 255.0) / 255.0
    space, crop = metrics_for_task(restorer.spec.task, restorer.scale)
    reference = ref.pixels[:h, :w]
    if space == "gray" and reference.shape[2] == 3 and quant.shape[2] == 3:
        space = "rgb"
    return image_metrics(quant.astype(np.float32), reference, crop=crop, space=space)


def _skip_or_refuse(src: Path, dst: Path, opts: RestoreOptions) -> ItemResult | None:
    if str(dst) == "-" or not dst.exists() or opts.overwrite:
        return None
    if opts.skip_existing:
        return ItemResult(str(src), str(dst), "skipped")
    raise OutputError(f"{dst} already exists", "pass --overwrite to replace it or --skip-existing to keep it")


def _write(dst: Path, image: Image, fmt: str | None) -> None:
    if str(dst) == "-":
        write_image(sys.stdout.buffer, image, fmt or "png")
        sys.stdout.buffer.flush()
    else:
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {dst.parent}: {exc.strerror or exc}", "pick a writable -o folder") from None
        write_image(dst, image, fmt)


def process_file(restorer: Restorer, src: Path, dst: Path, opts: RestoreOptions, ref: Path | None = None, progress: TileProgress | None = None, stdin: Callable[[], object] | None = None) -> ItemResult:
    """Read ``src``, restore, write ``dst`` atomically, measure against ``ref``; never raises
    for per-item problems (they come back as ``status="failed"`` with a one-line error)."""
    start = time.perf_counter()
    try:
        skipped = _skip_or_refuse(src, dst, opts)
        if skipped is not None:
            return skipped
        image = read_image(stdin() if stdin else src, max_pixels=opts.max_pixels)  # type: ignore[arg-type]
        restored, used = restore_image(restorer, image, opts.sigma, progress)
        _write(dst, restored, opts.out_format)
        result = ItemResult(str(src), str(dst), "ok", sigma=used)
        if ref is not None:
            result.psnr, result.ssim = _measure(restorer, restored, ref)
    except BbcuError as exc:
        return ItemResult(str(src), str(dst), "failed", error=str(exc), seconds=time.perf_counter() - start)
    except (MemoryError, RuntimeError, OSError, ValueError) as exc:
        log.debug("unexpected failure on %s", src, exc_info=True)
        error = f"{src}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"
        return ItemResult(str(src), str(dst), "failed", error=error, seconds=time.perf_counter() - start)
    result.seconds = time.perf_counter() - start
    return result
