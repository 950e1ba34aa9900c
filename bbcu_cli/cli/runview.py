"""The engine as one command run sees it: ``--outscale`` resizing, tile progress, counters.

:class:`RunView` wraps a :class:`~bbcu_cli.engine.restore.Restorer` and is handed to the batch
runner in its place. It runs the model at its own scale, then resizes the result to exactly
``floor(outscale * size + 0.5)`` (halves up on both axes) with an antialiased (area) filter; it reports tiles to a progress
hook, counts the output pixels (for megapixels/s) and logs the tile plan and timings at debug
level. Everything else is the wrapped restorer's.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the engine imports torch; this module is imported when a command runs
    from ..engine.restore import Restorer, TileProgress

__all__ = ["RunView", "resize_to"]

log = logging.getLogger(__name__)


def resize_to(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(H, W, C)`` -> ``(height, width, C)`` with OpenCV's area filter (antialiased when shrinking).

    Keeps the dtype (uint8, uint16, float32) and a single channel axis.
    """
    import cv2

    if pixels.shape[:2] == (height, width):
        return pixels
    out = cv2.resize(np.ascontiguousarray(pixels), (width, height), interpolation=cv2.INTER_AREA)
    return out[:, :, None] if out.ndim == 2 else out


class RunView:
    """A restorer that resizes to ``outscale`` (when given) and feeds a tile progress hook.

    Args:
        inner: the engine's restorer.
        outscale: the output scale (``None``: the model's); never above the model's scale.
        tile_progress: called as ``(done, total)`` after each tile when the caller passes none.
    """

    def __init__(
        self, inner: Restorer, *, outscale: float | None = None, tile_progress: TileProgress | None = None
    ) -> None:
        self.inner = inner
        self.outscale = outscale
        self.tile_progress = tile_progress
        self.pixels_out = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def scale(self) -> float:
        """The scale outputs have: ``outscale`` when given, else the model's."""
        return self.outscale if self.outscale is not None else self.inner.scale

    @property
    def resizes(self) -> bool:
        """Whether outputs are resized after the model (``--outscale`` below the model scale)."""
        return self.outscale is not None and self.outscale != self.inner.scale

    def restore(
        self,
        pixels: np.ndarray,
        *,
        sigma: float | None = None,
        out_dtype: type = np.float32,
        progress: TileProgress | None = None,
    ) -> np.ndarray:
        """The wrapped restore, then the resize to ``outscale``; counts and logs the work."""
        h, w = pixels.shape[:2]
        tiles = self.inner.tiles_for(h, w)
        log.debug(
            "%dx%d input: %d tile(s) of up to %dx%d px, halo %d, backend %s",
            w,
            h,
            len(tiles),
            *_largest(tiles),
            self.inner.halo,
            self.inner.backend_name,
        )
        hook = progress or self.tile_progress
        if hook is not None:
            hook(0, len(tiles))
        start = time.perf_counter()
        out = self.inner.restore(pixels, sigma=sigma, out_dtype=out_dtype, progress=hook)
        log.debug(
            "model x%d: %dx%d -> %dx%d in %.2f s",
            self.inner.scale,
            w,
            h,
            out.shape[1],
            out.shape[0],
            time.perf_counter() - start,
        )
        if self.resizes:
            out = resize_to(out, _half_up(h * self.scale), _half_up(w * self.scale))
            log.debug("resized to x%g: %dx%d (area filter)", self.scale, out.shape[1], out.shape[0])
        self.pixels_out += out.shape[0] * out.shape[1]
        return out


def _largest(tiles: list[Any]) -> tuple[int, int]:
    """Width and height of the largest core tile of a plan."""
    if not tiles:
        return 0, 0
    return max(t.x1 - t.x0 for t in tiles), max(t.y1 - t.y0 for t in tiles)


def _half_up(size: float) -> int:
    """``size`` rounded to the nearest integer, halves up (``round`` takes 46.5 to 46 and 25.5 to 26), at least 1."""
    return max(1, math.floor(size + 0.5))
