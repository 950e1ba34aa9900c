"""Pixel-level restore of one decoded image or animation: noise level (sigma) choice, alpha
fill and resize, output at the input's bit depth.

:func:`restore_image` and :func:`restore_frames` are what :func:`.item.compute_item` runs;
they take pixels in memory and neither read nor write files.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..imagefiles import Image, ImageSequence, from_uint, resize_alpha
from ..noise_estimate import estimate_noise
from .alpha import fill_transparent

if TYPE_CHECKING:  # the engine imports torch; this module only passes a Restorer along
    from ..engine.restore import Restorer, TileProgress

__all__ = ["restore_image", "restore_frames"]

log = logging.getLogger(__name__)
_SIGMA_SAMPLE_PIXELS = 4_000_000


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
