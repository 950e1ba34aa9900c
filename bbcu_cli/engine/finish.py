"""The fused full-precision tail: conv (optional), pixel shuffle, base, ``/ k`` and the output store.

:class:`Finisher` prepares one tail (weights in kernel layout) and writes straight into the
caller's output array: ``bc_finish`` in ``kernels/bitconv.h`` describes the arithmetic. It runs
after the last binary unit, so its float rounding may differ from PyTorch's in the last bits
(the tests bound it at one 8-bit level); no binary decision depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .. import kernels
from .chain import ptr

__all__ = ["Window", "Finisher", "conv_weights"]


@dataclass(frozen=True)
class Window:
    """Output rows ``[y0, y1)`` and columns ``[x0, x1)`` (of the block's output) to write."""

    y0: int
    y1: int
    x0: int
    x1: int


def conv_weights(conv: nn.Conv2d) -> tuple[Tensor, Tensor | None]:
    """``(cout, 9, cin)`` float32 weights (tap = 3*ky + kx) and the bias of a 3x3 conv."""
    w = conv.weight.detach().float().cpu()
    wt = w.permute(0, 2, 3, 1).reshape(w.shape[0], 9, w.shape[1]).contiguous()
    bias = None if conv.bias is None else conv.bias.detach().float().cpu().contiguous()
    return wt, bias


class Finisher:
    """One fused tail. ``mode``: ``kernels.FIN_SR`` or ``FIN_DN``; ``r``: shuffle factor of the
    tail grid; ``sb``: output / input resolution (SR base); ``conv``: the tail conv, computed in
    the kernel (vectorised over input channels, the same arithmetic for every pixel), or None
    (z computed by the caller and passed as ``z``)."""

    def __init__(self, mode: int, k: float, channels: int, r: int, sb: int, conv: nn.Conv2d | None = None) -> None:
        self.mode, self.k, self.channels, self.r, self.sb = mode, float(k), channels, r, sb
        self.wt, self.bias = conv_weights(conv) if conv is not None else (None, None)

    def run(self, x: np.ndarray, dst: np.ndarray, window: Window, threads: int, *, feat: Tensor | None = None,
            z: Tensor | None = None, origin: tuple[int, int] = (0, 0)) -> None:
        """Write the window of the output into ``dst`` (shape ``(y1 - y0, x1 - x0, C)``).

        Args:
            x: the block's model input, ``(Hx, Wx, C)`` float32 C-contiguous.
            dst: output view, pixels contiguous (rows may be strided); float32, uint8 or uint16.
            feat: the tail conv's input ``(1, cin, Hc, Wc)`` channels-last (with ``conv``).
            z: the tail conv's output ``(1, cz, Hc, Wc)`` channels-last (without ``conv``).
            origin: output pixel of grid pixel (0, 0), in grid units (``Y = (gy + oy) * r + i``).
        """
        grid = feat if self.wt is not None else z
        assert grid is not None and x.flags.c_contiguous and x.dtype == np.float32
        a = kernels.FinishArgs()
        a.Hc, a.Wc, a.cz, a.r, a.C = grid.shape[2], grid.shape[3], self.channels * self.r**2, self.r, self.channels
        a.Hx, a.Wx, a.sb, a.mode, a.k = x.shape[0], x.shape[1], self.sb, self.mode, self.k
        a.y0, a.y1, a.x0, a.x1 = window.y0, window.y1, window.x0, window.x1
        a.gy0, a.gx0 = origin
        a.dtype = kernels.OUT_DTYPES[dst.dtype.name]
        if dst.strides[1] != dst.shape[2] * dst.itemsize or dst.strides[2] != dst.itemsize:
            raise ValueError("dst pixels must be contiguous")
        a.dst_row = dst.strides[0] // dst.itemsize
        a.x, a.dst = ptr(x), ptr(dst)
        if self.wt is not None:
            a.cin, a.feat, a.wt, a.bias = grid.shape[1], ptr(_nhwc(grid)), ptr(self.wt), ptr(self.bias)
        else:
            a.zin = ptr(_nhwc(grid))
        kernels.run_finish(a, threads)


def _nhwc(t: Tensor) -> Tensor:
    """The (1, C, H, W) tensor's storage must be NHWC-contiguous (channels-last)."""
    if not t.is_contiguous(memory_format=torch.channels_last):
        raise ValueError("tail tensors must be channels-last")
    return t
