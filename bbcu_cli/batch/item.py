"""One image through the model: read, restore (alpha, gray, bit depth), write, measure.

Used by the CLI and the public API alike. Errors come back as :class:`ItemResult` with
``status="failed"`` so a batch can go on; nothing partial is ever written (atomic writes).
The three stages (:func:`load_item`, :func:`compute_item`, :func:`save_item`) can run on
different threads (``--jobs``); :func:`process_file` chains them.

Memory: pixels stay at their decoded bit depth from file to file. The input is read as its
uint8/uint16 samples, each tile is converted to float on its own, and its result is rounded
straight into the final uint8/uint16 output buffer, so there is no full-resolution float copy.
Peak memory for one image is about::

    peak ~ runtime (Python + torch + model, ~0.25 GB)
         + max( read:    decoder buffer (Pillow: 4 bytes/px for 8-bit RGB) + input bytes,
                compute: input bytes + output bytes + tile working set,
                write:   output bytes + encoder copy (Pillow: 4 bytes/px for 8-bit RGB) )

with input bytes ``H*W*C*(1 or 2)`` and output bytes ``s^2`` times that (``s`` the SR scale).
The encoded file is streamed from and to disk (16-bit PNG/TIFF go through OpenCV, which holds
the encoded file in memory). The tile working set is ``(tile_h + 2*halo) * (tile_w + 2*halo)
* bytes_per_input_pixel(spec)`` (:mod:`bbcu_cli.engine.tiling`, float path; the packed path
needs less), capped at 768 MiB when the tile size is automatic (``Restorer.tiles_for``).
``--jobs N`` holds up to N more decoded inputs and N more outputs being encoded. ``--ref``
reads the reference as float for the metrics: 12 bytes per output pixel more.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Literal

import numpy as np

from ..errors import BbcuError, InputError, OutputError, option, printable
from ..imagefiles import (
    Image,
    ImageSequence,
    format_for_path,
    from_uint,
    read_file,
    read_image,
    resize_alpha,
    write_image,
)
from ..imagefiles._core import MULTI_FRAME_FORMATS
from ..imagefiles._write import special_target
from ..metrics import image_metrics, metrics_for_task
from ..noise_estimate import estimate_noise
from .alpha import fill_transparent

if TYPE_CHECKING:  # the engine imports torch; this module only passes a Restorer along
    from ..engine.restore import Restorer, TileProgress

__all__ = [
    "RestoreOptions",
    "ItemResult",
    "Staged",
    "restore_image",
    "process_file",
    "load_item",
    "compute_item",
    "save_item",
]

log = logging.getLogger(__name__)
Status = Literal["ok", "skipped", "failed"]
_SIGMA_SAMPLE_PIXELS = 4_000_000


@dataclass(frozen=True)
class RestoreOptions:
    """Per-run settings shared by every item."""

    sigma: float | None = None
    out_format: str | None = None
    overwrite: bool = False
    skip_existing: bool = False
    max_output_pixels: int | None = None
    """Largest output, in pixels (``max_pixels`` of :func:`~bbcu_cli.imagefiles.read_file`): an input is refused from its header when ``W * H * scale**2``
    exceeds it (None: the imagefiles default, 0: no limit)."""
    scale: int = 1
    """The model's upscaling factor (1 for denoising and deblocking)."""
    quality: int | None = None
    """JPEG / WebP quality, 1-100 (``--quality``); None: 95, WebP lossless from a lossless input."""
    first_frame: bool = False
    """Restore only the first frame of an animation or multi-page TIFF (``--first-frame``)."""
    strip_metadata: bool = False
    """Drop EXIF, XMP and PNG text chunks from the outputs (``--strip-metadata``)."""


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
    error_cli: str | None = field(default=None, repr=False, compare=False)
    """``error`` as the command line words it (``--overwrite``, not ``overwrite=True``); None: the same."""

    def error_for_cli(self) -> str | None:
        """The error text the command line shows (settings spelled as flags)."""
        return self.error_cli if self.error_cli is not None else self.error

    def to_json(self, for_cli: bool = False) -> dict[str, object]:
        """The JSON entry; ``for_cli``: the error worded for the command line."""
        data = asdict(self)
        data.pop("error_cli")
        if for_cli:
            data["error"] = self.error_for_cli()
        for key in ("psnr", "ssim"):
            if data[key] is not None and not np.isfinite(data[key]):
                data[key] = None if np.isnan(data[key]) else 999.0
        return data


@dataclass
class Staged:
    """An item between stages: the decoded input, then the restored output."""

    src: Path
    dst: Path
    ref: Path | None
    start: float
    image: Image | ImageSequence
    sigma: float | None = None


def _sigma_sample(pixels: np.ndarray) -> np.ndarray:
    """At most ~4 MP of evenly spaced 128-row bands, as float in [0, 1] (bounded memory)."""
    h, w = pixels.shape[:2]
    band = 128  # taller than the estimator's blocks, so few blocks straddle a band seam
    if h * w > _SIGMA_SAMPLE_PIXELS and h > band:
        cols = min(w, _SIGMA_SAMPLE_PIXELS // band)
        starts = np.linspace(0, h - band, max(1, _SIGMA_SAMPLE_PIXELS // (band * cols))).astype(int)
        pixels = np.concatenate([pixels[y : y + band, :cols] for y in starts], axis=0)
    return pixels if pixels.dtype.kind == "f" else from_uint(pixels)


def _sigma_for(restorer: Restorer, image: Image, sigma: float | None) -> float | None:
    if not restorer.spec.noise_channel:
        return None
    if sigma is not None:
        return sigma
    found = estimate_noise(_sigma_sample(image.pixels))
    if not found.reliable:
        log.warning(
            "noise level estimated as %.1f, but unreliably (%s); pass --sigma if it looks wrong",
            found.sigma,
            found.reason,
        )
    return found.sigma


def _out_dtype(image: Image) -> type:
    if image.pixels.dtype.kind == "f":
        return np.float32
    return np.uint8 if image.bit_depth == 8 else np.uint16


def restore_image(
    restorer: Restorer, image: Image, *, sigma: float | None = None, progress: TileProgress | None = None
) -> tuple[Image, float | None]:
    """Restore ``image``; returns the new image (same kind and bit depth) and the sigma used.

    Float pixels give float32 output (unclamped); uint8/uint16 pixels (``read_image(raw=True)``)
    give output of the same bit depth, each tile rounded into it. With alpha, the colour under
    fully transparent pixels is first filled from their neighbours, weighted by alpha
    (:mod:`.alpha`: no fringe where hard alpha meets black), and the alpha is resized with a
    plain bicubic interpolator for SR and passed through otherwise.
    """
    used = _sigma_for(restorer, image, sigma)
    source = image.pixels if image.alpha is None else fill_transparent(image.pixels, image.alpha)
    pixels = restorer.restore(source, sigma=used, out_dtype=_out_dtype(image), progress=progress)
    alpha = image.alpha
    if alpha is not None and restorer.scale > 1:
        alpha = resize_alpha(alpha, restorer.scale)
    return replace(image, pixels=pixels, alpha=alpha), used


def restore_frames(
    restorer: Restorer, seq: ImageSequence, *, sigma: float | None = None, progress: TileProgress | None = None
) -> tuple[ImageSequence, float | None]:
    """Restore every frame on its own (tiles and progress per frame, each frame exactly as it
    would be alone); returns the new sequence and the first frame's sigma."""
    frames: list[Image] = []
    used: list[float | None] = []
    for i, frame in enumerate(seq.frames, start=1):
        log.debug("frame %d of %d", i, len(seq.frames))
        out, frame_sigma = restore_image(restorer, frame, sigma=sigma, progress=progress)
        frames.append(out)
        used.append(frame_sigma)
    return replace(seq, frames=frames), used[0]


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
    if ref.pixels.shape[0] < h or ref.pixels.shape[1] < w:
        raise InputError(
            f"reference {ref_path} is {ref.pixels.shape[1]}x{ref.pixels.shape[0]}, smaller than the output {w}x{h}",
            "pass the matching high-quality image",
        )
    quant = _as_unit_float(output.pixels)
    space, crop = metrics_for_task(restorer.spec.task, math.ceil(restorer.scale))  # --outscale 1.5: crop 2
    reference = ref.pixels[:h, :w]
    if space == "gray" and reference.shape[2] == 3 and quant.shape[2] == 3:
        space = "rgb"
    return image_metrics(quant, reference, crop=crop, space=space)


def _skip_or_refuse(src: Path, dst: Path, opts: RestoreOptions) -> ItemResult | None:
    if str(dst) == "-" or not dst.exists() or opts.overwrite or special_target(dst):
        return None
    if opts.skip_existing:
        return ItemResult(str(src), str(dst), "skipped")
    raise OutputError(
        f"{dst} already exists",
        f"pass {option('overwrite', True)} to replace it or {option('skip_existing', True)} to keep it",
    )


def _write(dst: Path, image: Image | ImageSequence, opts: RestoreOptions) -> None:
    keep = not opts.strip_metadata
    if str(dst) == "-":
        write_image(_stdout(), image, opts.out_format or "png", quality=opts.quality, keep_metadata=keep)
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
    return stream


def _stdin_stream(stdin: Callable[[], object]) -> object:
    """The binary stdin from ``stdin()``, or InputError when it is closed."""
    try:
        stream = stdin()
    except (AttributeError, ValueError, OSError):
        stream = None
    if stream is None:
        raise InputError(
            "cannot read an image from stdin: stdin is closed", "pipe an image into bbcu, or pass a file name"
        )
    return stream


def _failed(src: Path, dst: Path | None, start: float, exc: Exception) -> ItemResult:
    if isinstance(exc, BbcuError):
        error, cli = str(exc), exc.for_cli()
    else:  # decoders, encoders and the model may raise anything; the batch goes on
        log.debug("unexpected failure on %s", src, exc_info=True)
        text = str(exc).strip().splitlines()
        error = cli = printable(f"{src}: {type(exc).__name__}: {text[0] if text else 'failed'}")
    return ItemResult(
        str(src),
        str(dst) if dst is not None else None,
        "failed",
        error=error,
        seconds=time.perf_counter() - start,
        error_cli=cli,
    )


def load_item(
    src: Path, dst: Path, *, opts: RestoreOptions, ref: Path | None = None, stdin: Callable[[], object] | None = None
) -> Staged | ItemResult:
    """Stage 1: skip/refuse an existing output, then decode ``src`` at its own bit depth."""
    start = time.perf_counter()
    try:
        done = _skip_or_refuse(src, dst, opts)
        if done is not None:
            return done
        source = _stdin_stream(stdin) if stdin else src
        image = read_file(
            source, max_pixels=opts.max_output_pixels, raw=True, scale=opts.scale, first_frame=opts.first_frame
        )  # type: ignore[arg-type]
        _check_frames_fit(dst, image, opts)
    except Exception as exc:
        return _failed(src, dst, start, exc)
    return Staged(src, dst, ref, start, image)


def compute_item(
    restorer: Restorer, staged: Staged, *, opts: RestoreOptions, progress: TileProgress | None = None
) -> Staged | ItemResult:
    """Stage 2: restore; ``staged.image`` becomes the output (the input is released)."""
    try:
        if isinstance(staged.image, ImageSequence):
            staged.image, staged.sigma = restore_frames(restorer, staged.image, sigma=opts.sigma, progress=progress)
        else:
            staged.image, staged.sigma = restore_image(restorer, staged.image, sigma=opts.sigma, progress=progress)
    except Exception as exc:
        return _failed(staged.src, staged.dst, staged.start, exc)
    return staged


def save_item(restorer: Restorer, staged: Staged, *, opts: RestoreOptions) -> ItemResult:
    """Stage 3: write atomically, then measure against the reference (if any)."""
    src, dst = staged.src, staged.dst
    try:
        _write(dst, staged.image, opts)
        result = ItemResult(str(src), str(dst), "ok", sigma=staged.sigma)
        if staged.ref is not None:
            result.psnr, result.ssim = _measure(restorer, staged.image, staged.ref)
    except OutputError as exc:
        if opts.skip_existing and dst.exists():  # another process wrote it meanwhile
            return ItemResult(str(src), str(dst), "skipped", seconds=time.perf_counter() - staged.start)
        return _failed(src, dst, staged.start, exc)
    except Exception as exc:
        return _failed(src, dst, staged.start, exc)
    result.seconds = time.perf_counter() - staged.start
    return result


def process_file(
    restorer: Restorer,
    src: Path,
    dst: Path,
    *,
    opts: RestoreOptions,
    ref: Path | None = None,
    progress: TileProgress | None = None,
    stdin: Callable[[], object] | None = None,
) -> ItemResult:
    """Read ``src``, restore, write ``dst`` atomically, measure against ``ref``; never raises
    for per-item problems (they come back as ``status="failed"`` with a one-line error)."""
    staged = load_item(src, dst, opts=opts, ref=ref, stdin=stdin)
    if isinstance(staged, Staged):
        staged = compute_item(restorer, staged, opts=opts, progress=progress)
    return save_item(restorer, staged, opts=opts) if isinstance(staged, Staged) else staged
