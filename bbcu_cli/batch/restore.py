"""Pixel-level restore of one decoded image or animation: noise level (sigma) choice, alpha
fill and resize, output at the input's bit depth.

:func:`restore_image` and :func:`restore_frames` are what :func:`.item.compute_item` runs;
they take pixels in memory and neither read nor write files. Both return a :class:`Restored`:
the output, the noise level used, the weight kept of the model's change (:func:`residual_weight`)
and, for a model with a clean variant, which of the two restored it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..imagefiles import Image, ImageSequence, from_uint, resize_alpha
from ..noise_estimate import estimate_noise
from .alpha import fill_transparent

if TYPE_CHECKING:  # the engine imports torch; this module only passes a Restorer along
    from ..engine.restore import Restorer, TileProgress

__all__ = [
    "Restored",
    "restore_image",
    "restore_frames",
    "residual_weight",
    "restore_weighted",
    "mix_with_input",
    "WEIGHTED_TASKS",
]

log = logging.getLogger(__name__)
_SIGMA_SAMPLE_PIXELS = 4_000_000
#: below this noise level (0-255) a denoiser's output is worse than its input (see residual_weight)
GATE_SIGMA = 1.55
_FULL_WEIGHT = 0.97
#: (JPEG quality, weight) knots of the deblocker's weight, linear between them (see residual_weight)
DEBLOCK_WEIGHTS = ((40.0, 1.0), (60.0, 0.8), (75.0, 0.6), (85.0, 0.4), (92.0, 0.3), (95.0, 0.0))
#: the tasks whose change is weighted by :func:`residual_weight` (the others always keep all of it)
WEIGHTED_TASKS = ("denoise", "deblock")


class Restored(NamedTuple):
    """What :func:`restore_image` and :func:`restore_frames` return."""

    image: Image | ImageSequence
    """The output (same kind and bit depth as the input)."""
    sigma: float | None
    """The noise level (0-255) the model was given; None for a model without that input."""
    weight: float | None
    """How much of the model's change was kept (:func:`residual_weight`, 0 to 1; 0: the input as
    it is); None for a task without weighting (SR)."""
    variant: str | None = None
    """Which model restored it when the model has a clean variant (``"clean"`` or ``"robust"``,
    see :mod:`bbcu_cli.routing`; ``"mixed"`` for frames restored by both); None otherwise."""


def residual_weight(task: str, sigma: float | None = None, jpeg_quality: float | None = None) -> float:
    """How much of a model's change to keep: ``w`` in ``out = x + w * (net(x) - x)``.

    - ``denoise`` at noise level ``sigma`` (0-255): ``w = max(0, 1 - (GATE_SIGMA / sigma) ** 2)``,
      taken as 1 from 0.97 (sigma ~9) and when there is no level (a model without that input).
    - ``deblock`` of a JPEG saved at ``jpeg_quality``: linear between :data:`DEBLOCK_WEIGHTS`
      (1 up to quality 40, 0.6 at 75, 0 from 95); 1 when the quality is unknown (not a JPEG file).
    - anything else: 1.

    A binary restorer has an error floor (the default denoiser about 42.5 dB at sigma 0, the
    deblocker about 37 dB at any quality): on a nearly clean input its full output is worse than
    the input. The curves follow the best weight measured on CBSD68 (README "Clean and
    high-quality inputs" has the numbers).
    """
    if task == "denoise" and sigma is not None:
        w = max(0.0, 1.0 - (GATE_SIGMA / sigma) ** 2) if sigma > 0 else 0.0
        return 1.0 if w >= _FULL_WEIGHT else w
    if task == "deblock" and jpeg_quality is not None:
        qs, ws = zip(*DEBLOCK_WEIGHTS)  # a quality is a whole number: an estimate of 94.997 is 95
        return float(np.interp(round(jpeg_quality), qs, ws))
    return 1.0


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
) -> Restored:
    """Restore ``image``; returns the new image (same kind and bit depth), the sigma used, the
    weight of the model's change and the variant that ran (:class:`Restored`).

    Float pixels give float32 output (unclamped); uint8/uint16 pixels (``read_image(raw=True)``)
    give output of the same bit depth, each tile rounded into it. With alpha, the colour under
    fully transparent pixels is first filled from their neighbours, weighted by alpha
    (:mod:`.alpha`: no fringe where hard alpha meets black), and the alpha is resized with a
    plain bicubic interpolator for SR and passed through otherwise. A denoiser's or deblocker's
    change is weighted by :func:`residual_weight` (by the noise level; by the JPEG quality of a
    JPEG file): none at all on a nearly clean input.
    """
    used = _sigma_for(restorer, image, sigma)
    task = restorer.spec.task
    weight = residual_weight(task, used, image.jpeg_quality)
    reported = weight if task in WEIGHTED_TASKS else None
    if weight < 1.0:
        log.info("%s weight %.2f (%s)", task, weight, _why(used, image.jpeg_quality))
    if weight == 0.0:  # nothing the model would improve: the image as it is
        return Restored(replace(image, pixels=image.pixels.copy()), used, reported)
    source = image.pixels if image.alpha is None else fill_transparent(image.pixels, image.alpha)
    pixels = restore_weighted(restorer, source, weight, sigma=used, out_dtype=_out_dtype(image), progress=progress)
    alpha = image.alpha
    if alpha is not None and restorer.scale > 1:
        alpha = resize_alpha(alpha, restorer.scale)
    return Restored(replace(image, pixels=pixels, alpha=alpha), used, reported, _variant(restorer))


def _variant(restorer: Restorer) -> str | None:
    """The variant the model's last run chose (:attr:`Restorer.last_choice`); None without a route."""
    choice = restorer.last_choice
    return None if choice is None else choice.variant


def _why(sigma: float | None, jpeg_quality: float | None) -> str:
    return f"noise level {sigma:.1f}" if sigma is not None else f"JPEG quality about {jpeg_quality:.0f}"


def restore_weighted(
    restorer: Restorer,
    source: np.ndarray,
    weight: float,
    *,
    sigma: float | None,
    out_dtype: type,
    progress: TileProgress | None = None,
) -> np.ndarray:
    """``source + weight * (restorer(source) - source)`` in ``out_dtype`` (see
    :func:`mix_with_input`): ``source`` itself at weight 0 (the model does not run), the plain
    restore at 1 (rounded straight into ``out_dtype``, tile by tile)."""
    if weight == 0.0:
        return source.astype(out_dtype)
    if weight < 1.0:
        restored = restorer.restore(source, sigma=sigma, out_dtype=np.float32, progress=progress)
        return mix_with_input(source, restored, weight, out_dtype)
    return restorer.restore(source, sigma=sigma, out_dtype=out_dtype, progress=progress)


def mix_with_input(source: np.ndarray, restored: np.ndarray, weight: float, dtype: type, rows: int = 256) -> np.ndarray:
    """``source + weight * (restored - source)`` as ``restored``'s shape in ``dtype`` (uint8 /
    uint16 rounded after clipping to [0, 1]; float32 unclamped), ``rows`` rows at a time;
    ``restored`` is float32 on the 0..1 scale, ``source`` any pixel array of the same size."""
    out = np.empty(restored.shape, dtype=dtype)
    peak = float(np.iinfo(dtype).max) if np.dtype(dtype).kind == "u" else 1.0
    for y in range(0, restored.shape[0], rows):
        part = source[y : y + rows]
        x = (from_uint(part) if part.dtype.kind == "u" else part.astype(np.float32)).reshape(
            restored[y : y + rows].shape
        )
        mixed = x + np.float32(weight) * (restored[y : y + rows].reshape(x.shape) - x)
        out[y : y + rows] = np.rint(np.clip(mixed, 0, 1) * peak) if peak > 1 else mixed
    return out


def restore_frames(
    restorer: Restorer, seq: ImageSequence, *, sigma: float | None = None, progress: TileProgress | None = None
) -> Restored:
    """Restore every frame on its own (tiles, progress, noise level and weight per frame, each
    frame exactly as it would be alone); returns the new sequence with the smallest weight of its
    frames (the least of the model's change kept anywhere) and the sigma of that frame (the first
    such frame: the first frame's when all weigh the same); the variant of its frames when they
    all agree, else ``"mixed"`` (frames the model did not run on, at weight 0, do not count)."""
    frames: list[Image] = []
    used: list[tuple[float | None, float | None]] = []
    variants: list[str | None] = []
    for i, frame in enumerate(seq.frames, start=1):
        log.debug("frame %d of %d", i, len(seq.frames))
        out, frame_sigma, frame_weight, variant = restore_image(restorer, frame, sigma=sigma, progress=progress)
        frames.append(out)  # type: ignore[arg-type]  # restore_image gives an Image for an Image
        used.append((frame_sigma, frame_weight))
        variants.append(variant)
    weights = [1.0 if w is None else w for _, w in used]
    return Restored(replace(seq, frames=frames), *used[weights.index(min(weights))], _agreed(variants))


def _agreed(variants: list[str | None]) -> str | None:
    """The one variant the frames that ran were restored by, ``"mixed"`` for several, None for none."""
    ran = {v for v in variants if v is not None}
    return "mixed" if len(ran) > 1 else next(iter(ran), None)
