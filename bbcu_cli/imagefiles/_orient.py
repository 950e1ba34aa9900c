"""EXIF orientation (1..8) applied to sample arrays, as Pillow's ``ImageOps.exif_transpose``."""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["orient"]

_OPS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """``(H, W[, C])`` array turned/flipped so it displays upright (1 or unknown: as is)."""
    return np.ascontiguousarray(_OPS[orientation](arr)) if orientation in _OPS else arr
