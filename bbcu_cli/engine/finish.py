"""The fused full-precision tail: conv (optional), pixel shuffle, base, ``/ k`` and the output store.

:class:`Finisher` prepares one tail (weights in kernel layout) and writes straight into the
caller's output array: ``bc_finish`` in ``kernels/bitconv.h`` describes the arithmetic. It runs
after the last binary unit, so its float rounding may differ from PyTorch's in the last bits
(the tests bound it at one 8-bit level); no binary decision depends on it. Torch-free: the
weights and every buffer are numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels
from .chain import ptr

__all__ = ["Window", "Finisher", "ConvArrays", "conv_weights"]


@dataclass(frozen=True)
class Window:
    """Output rows ``[y0, y1)`` and columns ``[x0, x1)`` (of the block's output) to write."""

    y0: int
    y1: int
    x0: int
    x1: int


ConvArrays = tuple[np.ndarray, "np.ndarray | None"]
"""A 3x3 conv's weight ``(cout, cin, 3, 3)`` and bias ``(cout,)`` (or None), float32."""


def conv_weights(conv: ConvArrays) -> tuple[np.ndarray, np.ndarray | None]:
    """``(cout, 9, cin)`` float32 weights (tap = 3*ky + kx) and the bias of a 3x3 conv."""
    w, b = conv
    wt = np.ascontiguousarray(np.asarray(w, dtype=np.float32).transpose(0, 2, 3, 1).reshape(w.shape[0], 9, w.shape[1]))
    bias = None if b is None else np.ascontiguousarray(b, dtype=np.float32).reshape(-1)
    return wt, bias


class Finisher:
    """One fused tail. ``mode``: ``kernels.FIN_SR`` or ``FIN_DN``; ``r``: shuffle factor of the
    tail grid; ``sb``: output / input resolution (SR base); ``conv``: the tail conv, computed in
    the kernel (vectorised over input channels, the same arithmetic for every pixel), or None
    (z computed by the caller and passed as ``z``), as :data:`ConvArrays`."""

    def __init__(self, mode: int, k: float, channels: int, r: int, sb: int, conv: ConvArrays | None = None) -> None:
        self.mode, self.k, self.channels, self.r, self.sb = mode, float(k), channels, r, sb
        self.wt, self.bias = conv_weights(conv) if conv is not None else (None, None)

    def run(
        self,
        x: np.ndarray,
        dst: np.ndarray,
        window: Window,
        threads: int,
        *,
        feat: np.ndarray | None = None,
        z: np.ndarray | None = None,
        origin: tuple[int, int] = (0, 0),
    ) -> None:
        """Write the window of the output into ``dst`` (shape ``(y1 - y0, x1 - x0, C)``).

        Args:
            x: the block's model input, ``(Hx, Wx, C)`` float32 C-contiguous.
            dst: output view, pixels contiguous (rows may be strided); float32, uint8 or uint16.
            feat: the tail conv's input ``(Hc, Wc, cin)`` float32 C-contiguous (with ``conv``).
            z: the tail conv's output ``(Hc, Wc, cz)`` float32 C-contiguous (without ``conv``).
            origin: output pixel of grid pixel (0, 0), in grid units (``Y = (gy + oy) * r + i``).
        """
        grid = feat if self.wt is not None else z
        assert grid is not None and x.flags.c_contiguous and x.dtype == np.float32
        a = kernels.FinishArgs()
        a.Hc, a.Wc, a.cz, a.r, a.C = grid.shape[0], grid.shape[1], self.channels * self.r**2, self.r, self.channels
        a.Hx, a.Wx, a.sb, a.mode, a.k = x.shape[0], x.shape[1], self.sb, self.mode, self.k
        a.y0, a.y1, a.x0, a.x1 = window.y0, window.y1, window.x0, window.x1
        a.gy0, a.gx0 = origin
        a.dtype = kernels.OUT_DTYPES[dst.dtype.name]
        if dst.strides[1] != dst.shape[2] * dst.itemsize or dst.strides[2] != dst.itemsize:
            raise ValueError("dst pixels must be contiguous")
        a.dst_row = dst.strides[0] // dst.itemsize
        a.x, a.dst = ptr(x), ptr(dst)
        if self.wt is not None:
            a.cin, a.feat, a.wt, a.bias = grid.shape[2], ptr(_nhwc(grid)), ptr(self.wt), ptr(self.bias)
        else:
            a.zin = ptr(_nhwc(grid))
        kernels.run_finish(a, threads)


def _nhwc(a: np.ndarray) -> np.ndarray:
    """The (H, W, C) array must be float32 and C-contiguous (NHWC)."""
    if a.ndim != 3 or a.dtype != np.float32 or not a.flags.c_contiguous:
        raise ValueError("tail inputs must be C-contiguous float32 (H, W, C) arrays")
    return a
