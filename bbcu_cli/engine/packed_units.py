"""Binary units in the packed kernels' layout, built from numpy arrays (no torch).

:class:`PackedUnit` holds what ``bc_unit`` (``kernels/bitconv.h``) reads for one unit: the
sign bits of its weights packed along input channels (``[9 taps][words][co8]`` uint64, bit =
W > 0), the border corrections, per-output ``alpha``, conv bias and RPReLU parameters (float32,
kernel output order) and its ``move0`` bias (the sign threshold the previous step packs with).
:func:`pack_unit` builds one from a unit's parameters; the torch path
(:func:`bbcu_cli.engine.packed_plan.fold_unit`) and the torch-free runtime
(:mod:`bbcu_cli.lite`) both call it, so their arrays are equal by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..archs.registry import Activation, PackedLayout

__all__ = ["PackedUnit", "InferencePlan", "UnitParams", "pack_unit", "output_order", "alpha_of", "kernel_activation"]

# Taps (t = 3*ky + kx) outside the image for each border bit: 1 top, 2 bottom, 4 left, 8 right.
_BORDER_TAPS = {1: (0, 1, 2), 2: (6, 7, 8), 4: (0, 3, 6), 8: (2, 5, 8)}


@dataclass
class PackedUnit:
    """One binary unit (``factor`` 1) or binary up unit (``factor`` r) in kernel layout."""

    cin: int
    cout: int
    factor: int
    co8: int
    weights: np.ndarray  # uint64 [9, nw, co8]
    ecorr: np.ndarray  # int32 [16, co8]
    alpha: np.ndarray  # float32 [cout], kernel output order
    bias: np.ndarray | None
    b0: np.ndarray
    slope: np.ndarray
    b1: np.ndarray
    threshold: np.ndarray  # float32 [cin]: this unit's move0 bias

    @property
    def words(self) -> int:
        return (self.cin + 63) // 64


@dataclass
class InferencePlan:
    """Packed units in execution order, the activations around them and the family's layout.

    ``model`` is the torch module whose float layers wrap the units (None in the torch-free
    runtime, which keeps the float layers' weights itself).
    """

    arch: str
    units: list[PackedUnit]
    head_act: int  # activation between the head conv and the first unit (kernels.ACT_*)
    tail_act: int  # activation applied to the last unit's output
    model: Any = None
    layout: PackedLayout | None = None  # the family's packed layout (runner stages, fused tail)


def kernel_activation(name: Activation) -> int:
    """The kernels' ``ACT_*`` code of a layout's activation name."""
    from .. import kernels

    return {"none": kernels.ACT_NONE, "relu": kernels.ACT_RELU, "lrelu": kernels.ACT_LRELU}[name]


@dataclass
class UnitParams:
    """One unit's parameters in conv output order (as stored; vectors may have 1 element).

    ``positive``: (cout, cin, 3, 3) bool, W > 0; ``alpha``: (cout,) float32 = mean |W| per
    output (:func:`alpha_of`); ``bias``: (cout,) or None; ``b0``, ``slope``, ``b1``: RPReLU
    (cout,) or (1,); ``threshold``: the move0 bias, (cin,) or (1,); ``factor``: 1, or the
    pixel-shuffle factor of an up unit.
    """

    positive: np.ndarray
    alpha: np.ndarray
    bias: np.ndarray | None
    b0: np.ndarray
    slope: np.ndarray
    b1: np.ndarray
    threshold: np.ndarray
    factor: int = 1


def alpha_of(weight: np.ndarray) -> np.ndarray:
    """``mean |W|`` per output channel of a (cout, cin, 3, 3) float32 weight, as float32.

    Summed and divided in float64 (exact sum), like :func:`bbcu_cli.models.binary.weight_alpha`.
    """
    w = np.abs(weight.astype(np.float32)).astype(np.float64).reshape(weight.shape[0], -1)
    return (w.sum(axis=1) / w.shape[1]).astype(np.float32)


def output_order(cout: int, r: int) -> np.ndarray:
    """Kernel output q = (i*r + j)*C + c reads conv output channel c*r*r + i*r + j."""
    return np.arange(cout).reshape(cout // (r * r), r * r).T.reshape(-1)


def _pack_weights(positive: np.ndarray, co8: int) -> np.ndarray:
    """(cout, cin, 9) bool -> (9, nw, co8) uint64, bit k of word w = input channel 64w+k."""
    cout, cin, _ = positive.shape
    nw = (cin + 63) // 64
    bits = np.zeros((9, cout, nw * 64), dtype=bool)
    bits[:, :, :cin] = positive.transpose(2, 0, 1)
    words = np.packbits(bits, axis=-1, bitorder="little").view("<u8").astype(np.uint64)
    out = np.zeros((9, nw, co8), dtype=np.uint64)
    out[:, :, :cout] = words.transpose(0, 2, 1)
    return out


def _border_corrections(positive: np.ndarray, co8: int) -> np.ndarray:
    """E[type, q] = number of positive weights of output q on the taps outside the image."""
    per_tap = positive.sum(axis=1).astype(np.int32)  # (cout, 9)
    out = np.zeros((16, co8), dtype=np.int32)
    for border in range(16):
        taps = sorted({t for bit, ts in _BORDER_TAPS.items() if border & bit for t in ts})
        if taps:
            out[border, : positive.shape[0]] = per_tap[:, taps].sum(axis=1)
    return out


def _vec(values: np.ndarray, n: int, order: np.ndarray | None = None) -> np.ndarray:
    """float32 contiguous vector of ``n`` (a single value is broadcast), reordered by ``order``."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    flat = np.broadcast_to(flat, (n,)) if flat.size == 1 else flat
    return np.ascontiguousarray(flat if order is None else flat[order], dtype=np.float32)


def pack_unit(p: UnitParams) -> PackedUnit:
    """The kernel layout of one unit (outputs reordered for an up unit's pixel shuffle)."""
    cout, cin = int(p.positive.shape[0]), int(p.positive.shape[1])
    order = output_order(cout, p.factor)
    co8 = (cout + 7) // 8 * 8
    positive = np.ascontiguousarray(p.positive[order]).reshape(cout, cin, 9)
    return PackedUnit(
        cin=cin,
        cout=cout,
        factor=p.factor,
        co8=co8,
        weights=_pack_weights(positive, co8),
        ecorr=_border_corrections(positive, co8),
        alpha=_vec(p.alpha, cout, order),
        bias=None if p.bias is None else _vec(p.bias, cout, order),
        b0=_vec(p.b0, cout, order),
        slope=_vec(p.slope, cout, order),
        b1=_vec(p.b1, cout, order),
        threshold=_vec(p.threshold, cin),
    )
