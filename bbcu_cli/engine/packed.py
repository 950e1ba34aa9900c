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
bands of low-resolution rows with a 3-row halo (:data:`BAND_HALO`) over the body's output for
the whole tile, so their buffers stay bounded and halo work stays small. Buffers are planned
once per input size and reused (:class:`.chain.UnitChain`, :class:`.packed_runner.PackedRunner`,
shared with the torch-free runtime :mod:`bbcu_cli.lite`).

``BBCU_DISABLE_PACKED=1`` turns the backend off (for testing the fallback).
"""

from __future__ import annotations

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

__all__ = ["PackedBackend", "PackedStatus", "packed_status", "supports", "PackedProgram", "BAND_HALO", "conv_arrays"]

PackedStatus = kernels.KernelStatus
"""Whether the packed backend can run here and, if not, why (the kernel status record)."""

#: halo of a high-resolution band in input rows (the HR stages see at most 2 rows further)
BAND_HALO = 3
#: working memory of one high-resolution band (bytes); bands are at least MIN_BAND rows
BAND_BUDGET = 192 << 20
MIN_BAND = 60


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

    def band_rows(self, h: int, w: int) -> int:
        """Core rows of a high-resolution band for an ``h x w`` tile."""
        per_row = w * self.spec.scale**2 * 4 * (2 * self.spec.num_feat + 8)
        return max(MIN_BAND, min(h, BAND_BUDGET // max(1, per_row)))

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
                self._banded(block, dst, win)
            else:
                self._low_res(block, sigma, dst, win)

    def _banded(self, block: np.ndarray, dst: np.ndarray, win: Window) -> None:
        s = self.spec.scale
        lr = self._lr(block, None)
        h, w = block.shape[0], block.shape[1]
        rows = self.band_rows(h, w)
        for a in range(win.y0 // s, -(-win.y1 // s), rows):
            b = min(a + rows, -(-win.y1 // s), h)
            a0, b0 = max(0, a - BAND_HALO), min(h, b + BAND_HALO)
            with self._stage("high-resolution stages"):
                hr = self._high_res(lr, a0, b0)
            y0, y1 = max(win.y0, a * s), min(win.y1, b * s)
            sub = dst[y0 - win.y0 : y1 - win.y0]
            self._finish(block, sub, Window(y0, y1, win.x0, win.x1), feat=hr, origin=(a0 * s, 0))

    def _high_res(self, lr: UnitChain, a0: int, b0: int) -> np.ndarray:
        """High-resolution features of input rows ``[a0, b0)``, (rows, cols, F) NHWC, LReLU applied."""
        band = lr.feature[a0:b0]  # NHWC rows of the body output: contiguous
        if self.layout.float_upsampler:
            out = self.model.high_res_features(torch.from_numpy(band)[None].permute(0, 3, 1, 2))
            return out[0].permute(1, 2, 0).contiguous().numpy()
        chain = self._chain("hr", b0 - a0, lr.out_w)
        assert lr.out_grid is not None
        chain.in_grid.copy_rows(lr.out_grid, a0)
        return chain.run_loaded(band, self.threads)

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
