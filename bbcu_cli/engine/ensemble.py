"""Geometric self-ensemble ("x8", as in EDSR+): average the outputs for the 8 flips/rotations.

Every network here is a stack of 3x3 convolutions, so it is nearly but not exactly equivariant
to flips and 90-degree rotations; running the 8 transformed copies of an input and averaging the
back-transformed outputs cancels part of each copy's error. It costs 8 forward passes. Measured
on 10 CBSD68 images at sigma 25 with ``bbcu-denoise-u2``: +0.27 dB; on BSD68 JPEG q10 with
``bbcu-deblock-u2``: +0.03 dB.

An unshuffled DnCNN groups ``r x r`` pixels starting at the top-left corner, so the block is
edge-padded to a multiple of ``r`` *before* it is transformed: every copy then sees the same
pixel groups, and tiled ensembles equal whole-image ensembles (tile starts are multiples of
``r``). Outputs are cropped back to ``scale`` times the unpadded size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["COPIES", "transform", "inverse", "self_ensemble"]

#: number of transforms: 4 rotations, each with and without a left-right flip
COPIES = 8


def transform(a: np.ndarray, i: int) -> np.ndarray:
    """Transform ``i`` (0..7) of an (H, W, C) array: rotate ``i % 4`` quarter turns, then
    flip left-right when ``i >= 4``. Transform 0 is the identity."""
    out = np.rot90(a, i % 4, axes=(0, 1))
    return out[:, ::-1] if i >= 4 else out


def inverse(a: np.ndarray, i: int) -> np.ndarray:
    """Undo :func:`transform` ``i``: ``inverse(transform(a, i), i) == a``."""
    out = a[:, ::-1] if i >= 4 else a
    return np.rot90(out, -(i % 4), axes=(0, 1))


def self_ensemble(
    forward: Callable[[np.ndarray], np.ndarray], block: np.ndarray, scale: int = 1, align: int = 1
) -> np.ndarray:
    """Mean of ``inverse(forward(transform(padded block, i)), i)`` over the 8 transforms.

    Args:
        forward: (h, w, C) float32 -> (scale*h, scale*w, C) float32.
        block: (H, W, C) float32 input.
        scale: output / input size ratio of ``forward``.
        align: pad height and width (edge replication, bottom/right) to a multiple of this first.
    Returns:
        (scale*H, scale*W, C) float32.
    """
    height, width = block.shape[:2]
    padded = np.pad(block, ((0, -height % align), (0, -width % align), (0, 0)), mode="edge")
    total: np.ndarray | None = None
    for i in range(COPIES):
        out = inverse(forward(np.ascontiguousarray(transform(padded, i))), i)
        total = out.astype(np.float64) if total is None else total + out
    assert total is not None
    return (total / COPIES).astype(np.float32)[: height * scale, : width * scale]
