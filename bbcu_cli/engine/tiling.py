"""Tiling geometry: split an image into cores with halos so tiled output equals untiled output.

A tile's *core* is the part of the input whose output it owns; the *padded* region adds a halo
of at least the network's receptive-field radius on every side (clipped at the image border),
so every output pixel of the core sees exactly the context it would see untiled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import archs
from ..archs.spec import ModelSpec

__all__ = ["Tile", "plan_tiles", "halo_for", "align_for", "auto_tile_rows", "bytes_per_input_pixel"]


@dataclass(frozen=True)
class Tile:
    """Core rows/cols ``[y0, y1) x [x0, x1)`` and padded rows/cols ``[py0, py1) x [px0, px1)``."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int

    @property
    def crop(self) -> tuple[int, int, int, int]:
        """Core offsets inside the padded tile: ``(top, bottom, left, right)`` exclusive ends."""
        return self.y0 - self.py0, self.y1 - self.py0, self.x0 - self.px0, self.x1 - self.px0


def halo_for(spec: ModelSpec) -> int:
    """Receptive-field radius in input pixels (an upper bound, rounded up), from the family.

    E.g. BBCU-L/BBCU-M: conv_first + 2 per block + up to 2 upsampling convs + conv_hr +
    conv_last + 1 for the bilinear base; DnCNN: one per 3x3 conv plus one, in units of the
    unshuffle factor ``r`` (a multiple of ``r``).
    """
    return archs.family(spec.arch).halo(spec)


def align_for(spec: ModelSpec) -> int:
    """Tile offsets must be multiples of this (a DnCNN's unshuffle factor, else 1), so that
    every tile sees the same ``r x r`` pixel grouping as the whole image."""
    return archs.family(spec.arch).align(spec)


def _spans(size: int, core: int, halo: int, align: int) -> list[tuple[int, int, int, int]]:
    count = max(1, math.ceil(size / core))
    step = -(-math.ceil(size / count) // align) * align
    spans = []
    for start in range(0, size, step):
        end = min(size, start + step)
        spans.append((start, end, max(0, start - halo), min(size, end + halo)))
    return spans


def plan_tiles(height: int, width: int, tile_h: int, tile_w: int, halo: int, align: int = 1) -> list[Tile]:
    """Cover an ``height x width`` image with cores of at most ``tile_h x tile_w`` (balanced).

    With ``align > 1`` (and ``halo`` a multiple of it) every core and padded start is a
    multiple of ``align``; cores may then exceed the requested size by up to ``align - 1``.
    """
    if height < 1 or width < 1:
        raise ValueError(f"empty image {width}x{height}")
    rows = _spans(height, max(1, tile_h), halo, align)
    cols = _spans(width, max(1, tile_w), halo, align)
    return [Tile(y0, y1, x0, x1, py0, py1, px0, px1) for y0, y1, py0, py1 in rows for x0, x1, px0, px1 in cols]


def bytes_per_input_pixel(spec: ModelSpec) -> int:
    """Rough peak working memory per input pixel of a tile on the float path (bytes).

    About eight float32 feature maps alive at once at input resolution (``1/r^2`` as many
    positions for an unshuffled DnCNN), plus what lives at the output resolution (BBCU-L/M:
    the upsampled features; BBCU-P: the tail output and the result), plus the image itself.
    """
    return archs.family(spec.arch).bytes_per_pixel(spec)


def auto_tile_rows(height: int, width: int, halo: int, budget_bytes: int, per_pixel: int) -> int:
    """Rows per full-width stripe so that one padded stripe fits ``budget_bytes``."""
    rows = budget_bytes // max(1, per_pixel * width) - 2 * halo
    return int(max(min(height, max(rows, 4 * halo, 16)), 1))
