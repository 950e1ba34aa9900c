"""One image through the model: read, restore (alpha, gray, bit depth), write, measure.

Used by the CLI and the public API alike. Errors come back as :class:`ItemResult` with
``status="failed"`` so a batch can go on; nothing partial is ever written (atomic writes).
The three stages (:func:`load_item`, :func:`compute_item`, :func:`save_item`) can run on
different threads (``--jobs``); :func:`process_file` chains them. The pixel work lives in
:mod:`.restore` (:func:`restore_image`, :func:`restore_frames`, re-exported here) and the
writing and measuring in :mod:`.output`.

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
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np

from ..errors import BbcuError, InputError, OutputError, option, printable
from ..imagefiles import Image, ImageSequence, read_file
from ..imagefiles._write import special_target
from .output import _check_frames_fit, _measure, _write
from .restore import Restored, _sigma_sample, restore_frames, restore_image  # noqa: F401  (_sigma_sample: re-exported)

if TYPE_CHECKING:  # the engine imports torch; this module only passes a Restorer along
    from ..engine.restore import Restorer, TileProgress

__all__ = [
    "RestoreOptions",
    "ItemResult",
    "Staged",
    "restore_image",
    "Restored",
    "report_weight",
    "process_file",
    "load_item",
    "compute_item",
    "save_item",
]

log = logging.getLogger(__name__)
Status = Literal["ok", "skipped", "failed"]


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


def report_weight(weight: float | None) -> float | None:
    """``weight`` rounded to 2 decimals, but onto 0 or 1 only when it is exactly that (0.004 ->
    0.01: some of the change was kept; 0.996 -> 0.99: not all of it)."""
    if weight is None or weight in (0.0, 1.0):
        return weight
    return min(max(round(weight, 2), 0.01), 0.99)


_NOT_IN_JSON = ("jpeg_quality", "error_cli", "failure")


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
    weight: float | None = None
    """How much of the model's change was kept, 0 to 1 (:func:`report_weight` of
    :func:`~bbcu_cli.batch.restore.residual_weight`; 0: the output is the input as it is); None
    for SR and for items that were not restored."""
    variant: str | None = None
    """Which model restored it when the model has variants: ``"clean"`` (the input looked
    cleanly downscaled), ``"alias"`` (it looked aliased), ``"robust"`` (the model itself) or
    ``"mixed"`` (frames restored by different ones;
    see :mod:`bbcu_cli.routing`); None otherwise and for items that were not restored."""
    jpeg_quality: float | None = field(default=None, repr=False, compare=False)
    """The JPEG quality the input was saved at (what a deblocker's weight follows); not in JSON."""
    error_cli: str | None = field(default=None, repr=False, compare=False)
    """``error`` as the command line words it (``--overwrite``, not ``overwrite=True``); None: the same."""
    failure: BbcuError | None = field(default=None, repr=False, compare=False)
    """The typed error behind ``error`` (None for an untyped one), re-raised by the Python API."""

    def error_for_cli(self) -> str | None:
        """The error text the command line shows (settings spelled as flags)."""
        return self.error_cli if self.error_cli is not None else self.error

    def to_json(self, for_cli: bool = False) -> dict[str, object]:
        """The JSON entry; ``for_cli``: the error worded for the command line."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_IN_JSON}
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
    weight: float | None = None
    variant: str | None = None


def _skip_or_refuse(src: Path, dst: Path, opts: RestoreOptions) -> ItemResult | None:
    if str(dst) != "-" and dst.is_dir():  # neither an output to keep nor one to replace
        raise OutputError(f"cannot write {dst}: a folder of that name exists", "rename it, or choose another -o")
    if str(dst) == "-" or not dst.exists() or opts.overwrite or special_target(dst):
        return None
    if opts.skip_existing:
        return ItemResult(str(src), str(dst), "skipped")
    raise OutputError(
        f"{dst} already exists",
        f"pass {option('overwrite', True)} to replace it or {option('skip_existing', True)} to keep it",
    )


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
        error, cli, failure = str(exc), exc.for_cli(), exc
    else:  # decoders, encoders and the model may raise anything; the batch goes on
        log.debug("unexpected failure on %s", src, exc_info=True)
        text = str(exc).strip().splitlines()
        error = cli = printable(f"{src}: {type(exc).__name__}: {text[0] if text else 'failed'}")
        failure = None
    return ItemResult(
        str(src),
        str(dst) if dst is not None else None,
        "failed",
        error=error,
        seconds=time.perf_counter() - start,
        error_cli=cli,
        failure=failure,
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
            done = restore_frames(restorer, staged.image, sigma=opts.sigma, progress=progress)
        else:
            done = restore_image(restorer, staged.image, sigma=opts.sigma, progress=progress)
        staged.image, staged.sigma, staged.weight, staged.variant = done
    except Exception as exc:
        return _failed(staged.src, staged.dst, staged.start, exc)
    return staged


def _first_frame(image: Image | ImageSequence) -> Image:
    return image.first if isinstance(image, ImageSequence) else image


def _ok_result(staged: Staged) -> ItemResult:
    """The ``ok`` result of a restored item (its sigma, weight, variant and the input's JPEG quality)."""
    return ItemResult(
        str(staged.src),
        str(staged.dst),
        "ok",
        sigma=staged.sigma,
        weight=report_weight(staged.weight),
        variant=staged.variant,
        jpeg_quality=_first_frame(staged.image).jpeg_quality,
    )


def save_item(restorer: Restorer, staged: Staged, *, opts: RestoreOptions) -> ItemResult:
    """Stage 3: measure against the reference (if any), then write atomically: an item whose
    reference does not fit fails with no output written (a rerun does not skip it)."""
    src, dst = staged.src, staged.dst
    try:
        result = _ok_result(staged)
        if staged.ref is not None:
            result.psnr, result.ssim = _measure(restorer, staged.image, staged.ref)
        _write(dst, staged.image, opts)
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
