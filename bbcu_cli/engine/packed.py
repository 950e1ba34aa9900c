"""The ``packed`` backend: BBCU binary units on bit-packed activations (XNOR/popcount, CPU).

The head's input is made by the float model itself (torch), and the head conv runs in the
``bc_head`` kernel in float64, rounded to float32: the same values as the float model's
:func:`bbcu_cli.models.head.head_conv` (two float64 sums round alike; see that module), so the
tensor entering the binary part is the float model's (a sign decided differently would change
the result). The binary units then run in the C kernels on NHWC float
+ packed sign bits, with the epilogue (alpha, bias, RPReLU, residual) and the next unit's sign
packing fused in one pass; the epilogue rounds op by op like PyTorch, so every binary unit
reproduces the float model bit for bit.

After the last binary unit everything is fused into one kernel call (:mod:`.finish`): the
tail conv (BBCU's ``conv_last``, BBCU-P's sub-pixel ``conv_tail``, the DnCNN tail), pixel
shuffle, bilinear base, ``/ k``, clamping and quantisation straight into the caller's output
array. Its rounding may differ from the float path in the last bits (at most one 8-bit level),
nothing is binarised after it; every output pixel is computed with the same arithmetic wherever
it lies in a tile, so tiling never changes a byte.

Models with high-resolution stages (BBCU-M's binary upsampler, BBCU-L's float one) run them in
tiles of the body's output with a 2-pixel halo (:data:`HR_HALO`), every tile of an image the
same shape (edge tiles are shifted inwards, not shrunk), sized so that one high-resolution
feature map stays near :data:`HR_TILE_BYTES` (4x that for binary upsamplers): the cost per
pixel is then the same at any image size (on a 2-core AVX2 machine torch's two-thread convs ran
at half speed once a map passed ~30 MB), and halo work stays near 10% or less. Buffers are planned once per
input size and reused (:class:`.chain.UnitChain`, :class:`.packed_runner.PackedRunner`,
shared with the torch-free runtime :mod:`bbcu_cli.lite`).

``BBCU_DISABLE_PACKED=1`` turns the backend off (for testing the fallback).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from .. import kernels
from ..errors import KernelUnavailable
from ..lite.backend import HeadKernel
from ..loading import LoadedModel
from .chain import UnitChain
from .finish import ConvArrays, Finisher, Window
from .packed_plan import InferencePlan, build_plan, check_exact
from .packed_runner import PackedRunner

__all__ = ["PackedBackend", "PackedStatus", "packed_status", "supports", "PackedProgram", "HR_HALO", "conv_arrays"]

PackedStatus = kernels.KernelStatus
"""Whether the packed backend can run here and, if not, why (the kernel status record)."""

#: halo of a high-resolution tile in input pixels: exact, as the stages after the body see 2 input
#: pixels further (x4: 1 at 1x, 1/2 at 2x, 1/4 at 4x for conv_hr and 1/4 for conv_last)
HR_HALO = 2
#: target size of one high-resolution feature map of a tile (bytes): torch's float upsampler
#: (BBCU-L) slows down past ~30 MB; the C kernels of a binary upsampler (BBCU-M) stream rows and
#: take 4x larger tiles (fewer halo pixels)
HR_TILE_BYTES = 24 << 20
BINARY_TILE_FACTOR = 4
#: smallest tile side (input pixels, halo included)
MIN_TILE = 24


def tile_size(n: int, size: int) -> int:
    """The tile size (halo included) used along a dimension of ``n`` for at most ``size``: as
    many tiles as ``size`` needs, with their cores made equal (the last tile no larger)."""
    if size >= n:
        return n
    count = -(-n // max(1, size - 2 * HR_HALO))
    return min(n, -(-n // count) + 2 * HR_HALO)


def _spans(lo: int, hi: int, n: int, size: int) -> Iterator[tuple[int, int, int]]:
    """Cover input positions ``[lo, hi)`` of a dimension of ``n`` with tiles of ``size`` (halo
    included, from :func:`tile_size`): yields ``(a, b, start)``, the core ``[a, b)`` and the tile
    ``[start, start + size)``, which holds the core plus :data:`HR_HALO` on each side except at
    the image border (a tile there is shifted inwards, keeping every tile the same shape)."""
    step = n if size >= n else size - 2 * HR_HALO
    for a in range(lo, hi, step):
        yield a, min(a + step, hi), min(max(0, a - HR_HALO), n - min(size, n))


def packed_status() -> PackedStatus:
    """Kernel availability on this machine (extension built, ISA usable, not disabled)."""
    return kernels.backend_status()


def supports(loaded: LoadedModel) -> tuple[bool, str]:
    """Whether the packed path reproduces this model exactly (independent of the machine)."""
    return check_exact(loaded)


class PackedProgram(UnitChain):
    """Every unit of ``plan`` from the head output on, for one input size (kept for tools)."""

    def __init__(self, plan: InferencePlan, h: int, w: int) -> None:
        super().__init__(plan.units, h, w, plan.head_act, plan.tail_act, keep=plan)
        self.plan = plan  # the kernel arguments point into its arrays: keep them alive


def conv_arrays(conv: nn.Module) -> ConvArrays:
    """A conv's float32 weight (cout, cin, 3, 3) and bias as numpy arrays (for the finisher)."""
    w = conv.weight.detach().float().cpu().numpy()  # type: ignore[union-attr, operator]
    b = None if conv.bias is None else conv.bias.detach().float().cpu().numpy()  # type: ignore[union-attr, operator]
    return w, b


def _nchw(block: np.ndarray) -> Tensor:
    """(h, w, C) float32 -> contiguous (1, C, h, w), as the float path receives it."""
    return torch.from_numpy(np.ascontiguousarray(block.transpose(2, 0, 1)))[None]


class PackedBackend(PackedRunner):
    """Run a loaded BBCU model with the packed kernels; same outputs as ``loaded.model``."""

    name = "packed"

    def __init__(self, loaded: LoadedModel, threads: int | None = None) -> None:
        state = packed_status()
        if not state.available:
            raise KernelUnavailable(f"packed backend unavailable: {state.reason}", "use the float backend")
        ok, why = supports(loaded)
        if not ok:
            raise KernelUnavailable(why, "use the float backend")
        self.loaded = loaded
        self.model = loaded.model.eval()
        plan = build_plan(loaded)
        assert plan.layout is not None
        tail = plan.layout.finish(self.model, loaded.spec)
        mode = kernels.FIN_DN if tail.kind == "denoise" else kernels.FIN_SR
        finisher = Finisher(
            mode, self.model.k, loaded.spec.in_channels, tail.shuffle, tail.base_scale, conv_arrays(tail.conv)
        )  # type: ignore[arg-type]
        super().__init__(plan, loaded.spec, finisher, int(threads) if threads else torch.get_num_threads())
        conv = self._head_conv()
        weight, bias = conv.weight.detach().float().cpu().numpy(), conv.bias
        self._head_kernel = HeadKernel(weight, None if bias is None else bias.detach().float().cpu().numpy())

    def _head_conv(self) -> nn.Conv2d:
        return self.model.model[0] if self.layout.stages == "planes" else self.model.conv_first

    def hr_tile(self, h: int, w: int) -> tuple[int, int]:
        """(rows, cols) of the high-resolution tiles of an ``h x w`` input, halo included: near
        square, one feature map near :data:`HR_TILE_BYTES`, the whole input where it fits."""
        per_pixel = self.spec.scale**2 * self.spec.num_feat * 4
        budget = HR_TILE_BYTES * (1 if self.layout.float_upsampler else BINARY_TILE_FACTOR)
        pixels = max(MIN_TILE * MIN_TILE, budget // per_pixel)
        side = max(MIN_TILE, math.isqrt(pixels))
        if w <= side:
            rows, cols = max(MIN_TILE, pixels // w), w
        elif h <= side:
            rows, cols = h, max(MIN_TILE, pixels // h)
        else:
            rows, cols = side, side
        return tile_size(h, rows), tile_size(w, cols)

    # ------------------------------------------------------------------ running

    def head(self, block: np.ndarray, sigma: float | None) -> np.ndarray:
        """The float model's head input (torch, so every float32 value is the float model's) through
        the ``bc_head`` kernel: the float64 head conv whose rounded values equal
        :func:`~bbcu_cli.models.head.head_conv`'s (see that module), at a fraction of the cost of
        torch's float64 convolution. Returns (F, h', w') float32."""
        m = self.model
        if self.layout.stages == "planes":
            inp = m.to_planes(_nchw(block))
            if m.noise_channel:
                inp = torch.cat([inp, m.noise_map(inp, sigma)], dim=1)
        else:
            inp = _nchw(block)
        nhwc = np.ascontiguousarray((inp * m.k)[0].permute(1, 2, 0).numpy(), dtype=np.float32)
        return self._head_kernel(nhwc, self.threads)

    def _run(self, block: np.ndarray, sigma: float | None, dst: np.ndarray, win: Window) -> None:
        with torch.inference_mode():
            if self.layout.stages == "banded":
                self._tiled(block, dst, win)
            else:
                self._low_res(block, sigma, dst, win)

    def _tiled(self, block: np.ndarray, dst: np.ndarray, win: Window) -> None:
        s = self.spec.scale
        lr = self._lr(block, None)
        h, w = block.shape[0], block.shape[1]
        rows, cols = self.hr_tile(h, w)
        for a, b, a0 in _spans(win.y0 // s, -(-win.y1 // s), h, rows):
            for c, d, c0 in _spans(win.x0 // s, -(-win.x1 // s), w, cols):
                with self._stage("high-resolution stages"):
                    hr = self._high_res(lr, a0, c0, rows, cols)
                out = Window(max(win.y0, a * s), min(win.y1, b * s), max(win.x0, c * s), min(win.x1, d * s))
                sub = dst[out.y0 - win.y0 : out.y1 - win.y0, out.x0 - win.x0 : out.x1 - win.x0]
                self._finish(block, sub, out, feat=hr, origin=(a0 * s, c0 * s))

    def _high_res(self, lr: UnitChain, a0: int, c0: int, rows: int, cols: int) -> np.ndarray:
        """High-resolution features of the body output's ``rows x cols`` pixels from ``(a0, c0)``,
        (rows * s, cols * s, F) NHWC, LReLU applied."""
        tile = np.ascontiguousarray(lr.feature[a0 : a0 + rows, c0 : c0 + cols])
        if self.layout.float_upsampler:
            # NHWC viewed as a channels-last NCHW tensor: oneDNN keeps that layout, no copies
            out = self.model.high_res_features(torch.from_numpy(tile)[None].permute(0, 3, 1, 2))
            return out[0].permute(1, 2, 0).contiguous().numpy()
        chain = self._chain("hr", rows, cols)
        assert lr.out_grid is not None
        chain.in_grid.copy_block(lr.out_grid, a0, c0)
        return chain.run_loaded(tile, self.threads)

    def __call__(self, x: Tensor, sigma: float | Tensor | None = None) -> Tensor:
        """(N, C, H, W) float32 in [0, 1] -> what ``loaded.model`` returns (N = 1 typical)."""
        if x.dim() != 4 or x.shape[1] != self.spec.in_channels:
            raise ValueError(f"expected (N, {self.spec.in_channels}, H, W), got {tuple(x.shape)}")
        s = self.spec.scale if self.spec.task == "sr" else 1
        outs = []
        for i in range(x.shape[0]):
            block = x[i].detach().to("cpu", torch.float32).permute(1, 2, 0).numpy()
            level = sigma[i].item() if isinstance(sigma, Tensor) and sigma.numel() > 1 else sigma
            out = np.empty((block.shape[0] * s, block.shape[1] * s, block.shape[2]), dtype=np.float32)
            self.restore_into(
                block, float(level) if level is not None else None, out, Window(0, out.shape[0], 0, out.shape[1])
            )
            outs.append(torch.from_numpy(out).permute(2, 0, 1)[None])
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)
