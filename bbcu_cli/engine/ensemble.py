"""Geometric self-ensemble ("x8", as in EDSR+): average the outputs for flips/rotations.

Every network here is a stack of 3x3 convolutions, so it is nearly but not exactly equivariant
to flips and 90-degree rotations; running transformed copies of an input and averaging the
back-transformed outputs cancels part of each copy's error. ``copies`` forward passes: 8 (all
flips/rotations), 4 (the four that keep the image's shape: identity, half turn and the two
flips), 2 (identity and half turn) or 1 (the plain forward); see :data:`TRANSFORMS`. Measured
on 10 CBSD68 images at sigma 25 with ``bbcu-denoise-u2``, 8 copies: +0.27 dB; on BSD68 JPEG q10
with ``bbcu-deblock-u2``: +0.03 dB. B100 x4, MATLAB-bicubic inputs, Y-PSNR (dB):

=================  ======  ==============  ===================  ========
model              1 copy  2 copies (0,2)  4 copies (0,2,4,6)   8 copies
=================  ======  ==============  ===================  ========
``bbcu-clean-x4``  27.103  27.155          27.178               27.191
``bbcu-p-x4``      26.625  26.668          26.688               26.699
=================  ======  ==============  ===================  ========

(the x4 default and its variants carry ``copies: 2`` in the manifest: twice the time for +0.03 to
+0.15 dB, routed, on Set5 / Set14 / B100 under every eval degradation).

An unshuffled DnCNN groups ``r x r`` pixels starting at the top-left corner, so the block is
edge-padded to a multiple of ``r`` *before* it is transformed: every copy then sees the same
pixel groups, and tiled ensembles equal whole-image ensembles (tile starts are multiples of
``r``). Outputs are cropped back to ``scale`` times the unpadded size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import UsageError, option

__all__ = [
    "COPIES",
    "COPY_COUNTS",
    "TRANSFORMS",
    "check_copies",
    "requested_copies",
    "transform",
    "inverse",
    "self_ensemble",
]

#: number of transforms: 4 rotations, each with and without a left-right flip
COPIES = 8

#: the transforms (see :func:`transform`) averaged for each allowed number of copies
TRANSFORMS: dict[int, tuple[int, ...]] = {1: (0,), 2: (0, 2), 4: (0, 2, 4, 6), 8: tuple(range(COPIES))}

#: the allowed numbers of copies
COPY_COUNTS = tuple(TRANSFORMS)


def check_copies(copies: object) -> int:
    """``copies`` when it is an allowed number of copies (1, 2, 4 or 8).

    Raises:
        UsageError: any other value.
    """
    if isinstance(copies, bool) or copies not in TRANSFORMS:
        raise UsageError(
            f"{option('copies', repr(copies))} is not a number of self-ensemble copies",
            f"use {option('copies')} 1, 2, 4 or 8",
        )
    return int(copies)  # type: ignore[call-overload]


def requested_copies(ensemble: bool, copies: int | None) -> int | None:
    """The copies asked for: 8 with ``ensemble``, else ``copies``; None: the model's own.

    Raises:
        UsageError: ``copies`` is not 1, 2, 4 or 8, or ``ensemble`` with ``copies`` other than 8.
    """
    if ensemble and copies not in (None, COPIES):
        raise UsageError(
            f"{option('ensemble', True)} averages all {COPIES} copies, not {copies}",
            f"drop {option('ensemble', True)} to average {copies}, or drop {option('copies')}",
        )
    if ensemble:
        return COPIES
    return None if copies is None else check_copies(copies)


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
    forward: Callable[[np.ndarray], np.ndarray],
    block: np.ndarray,
    scale: int = 1,
    align: int = 1,
    copies: int = COPIES,
) -> np.ndarray:
    """Mean of ``inverse(forward(transform(padded block, i)), i)`` over ``TRANSFORMS[copies]``.

    Args:
        forward: (h, w, C) float32 -> (scale*h, scale*w, C) float32.
        block: (H, W, C) float32 input.
        scale: output / input size ratio of ``forward``.
        align: pad height and width (edge replication, bottom/right) to a multiple of this first.
        copies: 1, 2, 4 or 8 (1: exactly ``forward(block)``, without padding).
    Returns:
        (scale*H, scale*W, C) float32.
    Raises:
        UsageError: ``copies`` is not 1, 2, 4 or 8.
    """
    chosen = TRANSFORMS[check_copies(copies)]
    if len(chosen) == 1:
        return forward(block)
    height, width = block.shape[:2]
    padded = np.pad(block, ((0, -height % align), (0, -width % align), (0, 0)), mode="edge")
    total = forward(np.ascontiguousarray(padded)).astype(np.float32)  # transform 0: the identity
    for i in chosen[1:]:
        total += inverse(forward(np.ascontiguousarray(transform(padded, i))), i)  # in place: float32
    total *= np.float32(1.0 / len(chosen))
    return total[: height * scale, : width * scale]
