"""Buffers and kernel arguments for running a chain of packed binary units (reused across calls).

A :class:`UnitChain` owns, for one input size, every buffer its units touch: the NHWC float
activations (the residual stream, updated in place by plain units, new buffers after up units),
the zero-bordered packed sign/mask grids and the zero-row flags, and one ``UnitArgs`` record per
unit pointing into them. A chain either starts from the head conv's output (``entry``: the kernel
applies the head activation, transposes NCHW -> NHWC and packs the first signs) or from a packed
grid that the caller fills (``load_grid``; the residual input is then pointed at the caller's
features). When a unit follows the chain (``following``), the last unit packs its output for it.

Every buffer is a numpy array (no torch): the torch backend wraps them with ``torch.from_numpy``
where it runs float layers on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from .packed_units import PackedUnit

__all__ = ["Grid", "UnitChain", "ptr"]


def ptr(a: Any) -> int | None:
    """Address of an array's (or a torch tensor's) first element (None stays None)."""
    if a is None:
        return None
    return int(a.ctypes.data) if isinstance(a, np.ndarray) else int(a.data_ptr())


class Grid:
    """Packed sign bits, non-zero mask (zero-bordered) and zero-row flags of one activation."""

    def __init__(self, h: int, w: int, c: int) -> None:
        self.h, self.w, self.words = h, w, (c + 63) // 64
        self.bits = np.zeros((h + 2) * (w + 2) * self.words, dtype=np.int64)
        self.mask = np.zeros_like(self.bits)
        self.zero_rows = np.zeros(h, dtype=np.uint8)

    def cells(self, a: np.ndarray) -> np.ndarray:
        """``bits`` or ``mask`` viewed as ``(h + 2, w + 2, words)`` (border included)."""
        return a.reshape(self.h + 2, self.w + 2, self.words)

    def copy_block(self, src: "Grid", row0: int, col0: int) -> None:
        """The ``h x w`` cells of ``src`` from ``(row0, col0)`` into this grid; borders stay zero.

        A row's zero flag is the whole source row's: a conservative flag only selects the
        kernel's exact (masked) path, never changes a count."""
        for mine, theirs in ((self.bits, src.bits), (self.mask, src.mask)):
            self.cells(mine)[1:-1, 1:-1] = src.cells(theirs)[row0 + 1 : row0 + 1 + self.h, col0 + 1 : col0 + 1 + self.w]
        self.zero_rows[:] = src.zero_rows[row0 : row0 + self.h]


def _unit_args(u: PackedUnit, h: int, w: int, grid: Grid, x: np.ndarray, y: np.ndarray) -> kernels.UnitArgs:
    """Kernel arguments of one unit without output packing (see ``bc_unit`` in bitconv.h)."""
    a = kernels.UnitArgs(h, w, u.cin, u.words, u.cout, u.co8, u.factor, u.cin, u.words)
    a.post_act, a.has_bias = kernels.ACT_NONE, int(u.bias is not None)
    a.pin, a.min, a.zin = ptr(grid.bits), ptr(grid.mask), ptr(grid.zero_rows)
    a.wt, a.ecorr, a.alpha, a.bias = ptr(u.weights), ptr(u.ecorr), ptr(u.alpha), ptr(u.bias)
    a.b0, a.pa, a.b1, a.xres, a.yout = ptr(u.b0), ptr(u.slope), ptr(u.b1), ptr(x), ptr(y)
    return a


class UnitChain:
    """Buffers and kernel arguments of ``units`` for an ``h x w`` input.

    Args:
        units: the packed units, in order.
        h, w: input size of the first unit.
        head_act: activation of the head output (``kernels.ACT_*``); None: no entry, the caller
            fills :attr:`in_grid` and passes the residual input to :meth:`run_loaded`.
        tail_act: activation applied in the last unit's epilogue (when nothing follows).
        following: the unit that consumes this chain's output (the last unit packs for it).
        keep: objects the kernel arguments point into (kept alive with the chain).
    """

    def __init__(
        self,
        units: list[PackedUnit],
        h: int,
        w: int,
        head_act: int | None,
        tail_act: int,
        following: PackedUnit | None = None,
        keep: object = None,
    ) -> None:
        self.keep = keep
        self._grids: dict[tuple[int, int], list[Grid]] = {}
        first = units[0]
        self.h, self.w = h, w
        self.in_grid = self._grid(h, w, first.cin, None)
        x = np.empty(h * w * first.cin, dtype=np.float32) if head_act is not None else None
        self.entry: kernels.EntryArgs | None = None
        if head_act is not None:
            self.entry = kernels.EntryArgs(h, w, first.cin, self.in_grid.words, head_act)
            self.entry.dst, self.entry.bnext = ptr(x), ptr(first.threshold)
            g = self.in_grid
            self.entry.pout, self.entry.mout, self.entry.zout = ptr(g.bits), ptr(g.mask), ptr(g.zero_rows)
        self.steps: list[kernels.UnitArgs] = []
        self._keep: list[np.ndarray] = [] if x is None else [x]
        grid = self.in_grid
        for i, unit in enumerate(units):
            nxt = units[i + 1] if i + 1 < len(units) else following
            x, grid, h, w = self._add_step(unit, nxt, tail_act, x, grid, h, w)
        self.out_grid = grid if following is not None else None
        self.out_h, self.out_w = h, w
        #: the last unit's output, (out_h, out_w, C) float32 NHWC (a view of the chain's buffer)
        self.feature: np.ndarray = x.reshape(h, w, -1)  # type: ignore[union-attr]

    def _grid(self, h: int, w: int, c: int, avoid: Grid | None) -> Grid:
        pool = self._grids.setdefault((h, w), [])
        for g in pool:
            if g is not avoid:
                return g
        pool.append(Grid(h, w, c))
        return pool[-1]

    def _add_step(
        self, u: PackedUnit, nxt: PackedUnit | None, tail_act: int, x: np.ndarray | None, grid: Grid, h: int, w: int
    ) -> tuple[np.ndarray, Grid, int, int]:
        ho, wo = h * u.factor, w * u.factor
        if x is None or u.factor != 1:  # a new buffer (r > 1, or the chain's external input)
            y = np.empty(ho * wo * u.cin, dtype=np.float32)
        else:
            y = x  # r == 1: in place
        self._keep.append(y)
        a = _unit_args(u, h, w, grid, y if x is None else x, y)
        self.steps.append(a)
        if nxt is None:  # last unit: no packing, the tail activation applied in the epilogue
            a.post_act = tail_act
            return y, grid, ho, wo
        out = self._grid(ho, wo, u.cin, grid)
        a.bnext, a.pout, a.mout, a.zout = ptr(nxt.threshold), ptr(out.bits), ptr(out.mask), ptr(out.zero_rows)
        return y, out, ho, wo

    def run(self, head_out: np.ndarray, threads: int) -> np.ndarray:
        """(C, H, W) float32 C-contiguous head conv output -> :attr:`feature` (sH, sW, C)."""
        assert self.entry is not None, "chain without entry: use run_loaded"
        if (
            head_out.dtype != np.float32
            or not head_out.flags.c_contiguous
            or head_out.size != self.h * self.w * self.steps[0].cin
        ):
            raise ValueError("the head output must be a C-contiguous float32 (C, H, W) array of the chain's size")
        self.entry.src = ptr(head_out)
        kernels.run_entry(self.entry, threads)
        for step in self.steps:
            kernels.run_unit(step, threads)
        return self.feature

    def run_loaded(self, residual: np.ndarray, threads: int) -> np.ndarray:
        """Run on :attr:`in_grid` (filled by the caller) with ``residual`` as the first unit's
        float input (NHWC, ``h * w * C`` contiguous float32, kept alive by the caller)."""
        if residual.dtype != np.float32 or not residual.flags.c_contiguous:
            raise ValueError("the residual input must be C-contiguous float32 NHWC")
        self.steps[0].xres = ptr(residual)
        for step in self.steps:
            kernels.run_unit(step, threads)
        return self.feature
