"""Buffers and kernel arguments for running a chain of packed binary units (reused across calls).

A :class:`UnitChain` owns, for one input size, every buffer its units touch: the NHWC float
activations (the residual stream, updated in place by plain units, new buffers after up units),
the zero-bordered packed sign/mask grids and the zero-row flags, and one ``UnitArgs`` record per
unit pointing into them. A chain either starts from the head conv's output (``entry``: the kernel
applies the head activation, transposes NCHW -> NHWC and packs the first signs) or from a packed
grid that the caller fills (``load_grid``; the residual input is then pointed at the caller's
features). When a unit follows the chain (``following``), the last unit packs its output for it.

The entry and each run of plain units run as one wavefront over row bands (``bc_chain`` in
``kernels/bitconv_chain.h``): a band's residual and packed rows are still in cache when the next
unit takes them, instead of every unit streaming the whole residual through memory. Bit for bit
what running them one by one gives (``wavefront=False``). By default wherever the residual
reaches :data:`WAVEFRONT_BYTES` (24 MiB), so that no unit streams more than that through the
caches, whatever size the image: with 2 threads on an Intel Xeon with AMX (2026-12-05,
``benchmarks/wavefront.py``) ``bbcu-fast-x4``'s units took 331 -> 288 ns a pixel at 1280x720
(118 MB residual, bands of 8 rows) and 342 -> 307 at 1920x1080, ``bbcu-p-x4``'s (64 channels)
857 -> 657 at 1280x720 (4 rows; 8 rows: 772). Between 24 and 96 MiB (640x360 and the like) it
depends on how much of the shared L3 the host leaves this process: on a quiet host the residual
stayed in cache one unit after another and the wavefront's per-band costs made it a little slower
(``bbcu-fast-x4`` 247 -> 251 ns a pixel, ``bbcu-p-x4`` 614 -> 638-691), on a busy one
(2026-12-06) the one-by-one units fell out of cache at 640x360 and bands were faster
(``bbcu-p-x4`` 821 -> 700); whole restores, same process, threshold 96 -> 24 MiB: ``bbcu-p-x4``
at 640x360 281 -> 252 ms, ``bbcu-p-x3`` 282 -> 242, ``bbcu-deblock`` 58.0 -> 60.5, and the growth
from 640x360 to 1280x720 of the unshuffled DnCNNs 4.69-4.71x -> 4.24-4.26x. A bounded working set
keeps the cost per pixel the same at every size (issue 16); the threshold was 96 MiB before.

Every buffer is a numpy array (no torch): the torch backend wraps them with ``torch.from_numpy``
where it runs float layers on them.
"""

from __future__ import annotations

import ctypes
import mmap
from typing import Any

import numpy as np

from .. import kernels
from .packed_units import PackedUnit

__all__ = ["Grid", "UnitChain", "ptr"]


#: residual size (bytes) from which a run of plain units runs as a wavefront by default
WAVEFRONT_BYTES = 24 << 20
#: back buffers of 4 MiB and more with transparent huge pages where the OS offers them
HUGE_PAGES = True


def _buffer(n: int, dtype: Any) -> np.ndarray:
    """A zeroed array of ``n`` elements. Large ones are mapped with ``MADV_HUGEPAGE`` (Linux): with
    THP in ``madvise`` mode, 2 MiB pages spare the units' row walks most TLB misses (whole
    ``bbcu-fast-x2`` restore at 1280x720: 415 -> 375 ms; ``bbcu-p-x4`` at 640x360: 225 -> 231,
    noise)."""
    size = n * np.dtype(dtype).itemsize
    if not HUGE_PAGES or size < (4 << 20) or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.zeros(n, dtype=dtype)
    m = mmap.mmap(-1, size)
    m.madvise(mmap.MADV_HUGEPAGE)
    return np.frombuffer(m, dtype=dtype)


def ptr(a: Any) -> int | None:
    """Address of an array's (or a torch tensor's) first element (None stays None)."""
    if a is None:
        return None
    return int(a.ctypes.data) if isinstance(a, np.ndarray) else int(a.data_ptr())


class Grid:
    """Packed sign bits, non-zero mask (zero-bordered) and zero-row flags of one activation."""

    def __init__(self, h: int, w: int, c: int) -> None:
        self.h, self.w, self.words = h, w, (c + 63) // 64
        self.bits = _buffer((h + 2) * (w + 2) * self.words, np.int64)
        self.mask = _buffer((h + 2) * (w + 2) * self.words, np.int64)
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
        wavefront: run the entry and runs of plain units as wavefronts over row bands (False:
            one kernel call per unit over the whole input, the reference order; None: where the
            run's residual has at least :data:`WAVEFRONT_BYTES`).
        band: rows per band of the wavefronts (0: the kernel's default).
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
        wavefront: bool | None = None,
        band: int = 0,
    ) -> None:
        self.keep = keep
        self._grids: dict[tuple[int, int], list[Grid]] = {}
        first = units[0]
        self.h, self.w = h, w
        self.in_grid = self._grid(h, w, first.cin, None)
        x = _buffer(h * w * first.cin, np.float32) if head_act is not None else None
        self.entry: kernels.EntryArgs | None = None
        if head_act is not None:
            self.entry = kernels.EntryArgs(h, w, first.cin, self.in_grid.words, head_act)
            self.entry.dst, self.entry.bnext = ptr(x), ptr(first.threshold)
            g = self.in_grid
            self.entry.pout, self.entry.mout, self.entry.zout = ptr(g.bits), ptr(g.mask), ptr(g.zero_rows)
        steps: list[kernels.UnitArgs] = []
        self._keep: list[np.ndarray] = [] if x is None else [x]
        grid = self.in_grid
        for i, unit in enumerate(units):
            nxt = units[i + 1] if i + 1 < len(units) else following
            x, grid, h, w = self._add_step(steps, unit, nxt, tail_act, x, grid, h, w)
        self._array = (kernels.UnitArgs * len(steps))(*steps)
        #: kernel arguments per unit (views into the array the wavefronts read)
        self.steps: list[kernels.UnitArgs] = list(self._array)
        self._calls = self._plan_calls(wavefront, band)
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
        self,
        steps: list[kernels.UnitArgs],
        u: PackedUnit,
        nxt: PackedUnit | None,
        tail_act: int,
        x: np.ndarray | None,
        grid: Grid,
        h: int,
        w: int,
    ) -> tuple[np.ndarray, Grid, int, int]:
        ho, wo = h * u.factor, w * u.factor
        if x is None or u.factor != 1:  # a new buffer (r > 1, or the chain's external input)
            y = _buffer(ho * wo * u.cin, np.float32)
        else:
            y = x  # r == 1: in place
        self._keep.append(y)
        a = _unit_args(u, h, w, grid, y if x is None else x, y)
        steps.append(a)
        if nxt is None:  # last unit: no packing, the tail activation applied in the epilogue
            a.post_act = tail_act
            return y, grid, ho, wo
        out = self._grid(ho, wo, u.cin, grid)
        a.bnext, a.pout, a.mout, a.zout = ptr(nxt.threshold), ptr(out.bits), ptr(out.mask), ptr(out.zero_rows)
        return y, out, ho, wo

    def _fused(self, step: kernels.UnitArgs, wavefront: bool | None) -> bool:
        """Whether a plain unit runs in a wavefront with its plain neighbours."""
        if wavefront is None:
            return step.H * step.W * step.cin * 4 >= WAVEFRONT_BYTES
        return wavefront

    def _plan_calls(self, wavefront: bool | None, band: int) -> list[tuple[str, object]]:
        """Kernel calls in order: ``("entry", args)``, ``("unit", args)`` or ``("chain", args)``
        (the entry and/or a run of plain units as one wavefront)."""
        runs: list[list[int]] = []
        for i, step in enumerate(self.steps):
            fused = step.r == 1 and self._fused(step, wavefront)
            if fused and runs and self.steps[runs[-1][-1]].r == 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        calls: list[tuple[str, object]] = []
        entry = self.entry
        if entry is not None and not (self.steps[0].r == 1 and self._fused(self.steps[0], wavefront)):
            calls.append(("entry", entry))
            entry = None
        for run in runs:
            if len(run) == 1 and entry is None:
                calls.append(("unit", self.steps[run[0]]))
                continue
            ref = None if entry is None else ctypes.pointer(entry)
            calls.append(("chain", kernels.ChainArgs(len(run), band, ref, ctypes.pointer(self.steps[run[0]]))))
            entry = None
        return calls

    def _execute(self, threads: int) -> None:
        run = {"entry": kernels.run_entry, "unit": kernels.run_unit, "chain": kernels.run_chain}
        for kind, args in self._calls:
            run[kind](args, threads)  # type: ignore[operator]

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
        self._execute(threads)
        return self.feature

    def run_loaded(self, residual: np.ndarray, threads: int) -> np.ndarray:
        """Run on :attr:`in_grid` (filled by the caller) with ``residual`` as the first unit's
        float input (NHWC, ``h * w * C`` contiguous float32, kept alive by the caller)."""
        if residual.dtype != np.float32 or not residual.flags.c_contiguous:
            raise ValueError("the residual input must be C-contiguous float32 NHWC")
        self.steps[0].xres = ptr(residual)
        self._execute(threads)
        return self.feature
