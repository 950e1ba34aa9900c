"""The ``packed`` backend: BBCU binary units on bit-packed activations (XNOR/popcount, CPU).

The full-precision head runs with torch exactly as the float model runs it (same module, NCHW),
so the tensor entering the binary part is bit-identical to the float model's (a sign decided
differently would change the result). The binary units then run in the C kernels on NHWC float
+ packed sign bits, with the epilogue (alpha, bias, RPReLU, residual) and the next unit's sign
packing fused in one pass; the epilogue rounds op by op like PyTorch, so every binary unit
reproduces the float model bit for bit. The float tail (conv_last, BBCU-L upsampler, DnCNN tail)
runs with torch on the channels-last result: its rounding may differ from the NCHW float path
in the last bits (about 1e-7 on the output), nothing is binarised after it.

``BBCU_DISABLE_PACKED=1`` turns the backend off (for testing the fallback).
"""

from __future__ import annotations

import os
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import kernels
from ..errors import KernelUnavailable
from ..loading import LoadedModel
from .fold import InferencePlan, PackedUnit, check_exact, fold_model

__all__ = ["PackedBackend", "PackedStatus", "packed_status", "supports", "PackedProgram"]


PackedStatus = kernels.KernelStatus
"""Whether the packed backend can run here and, if not, why (the kernel status record)."""


def packed_status() -> PackedStatus:
    """Kernel availability on this machine (extension built, ISA usable, not disabled)."""
    ks = kernels.status()
    disabled = os.environ.get("BBCU_DISABLE_PACKED", "").strip()
    if disabled not in ("", "0"):
        return PackedStatus(False, f"disabled by BBCU_DISABLE_PACKED={disabled}", ks.isa, ks.features)
    return ks


def supports(loaded: LoadedModel) -> tuple[bool, str]:
    """Whether the packed path reproduces this model exactly (independent of the machine)."""
    return check_exact(loaded)


def _ptr(a: Tensor | np.ndarray | None) -> int | None:
    if a is None:
        return None
    return int(a.ctypes.data) if isinstance(a, np.ndarray) else int(a.data_ptr())


class _Grid:
    """Packed sign bits, non-zero mask (zero-bordered) and zero-row flags of one activation."""

    def __init__(self, h: int, w: int, c: int) -> None:
        nw = (c + 63) // 64
        self.bits = torch.zeros((h + 2) * (w + 2) * nw, dtype=torch.int64)
        self.mask = torch.zeros_like(self.bits)
        self.zero_rows = torch.zeros(h, dtype=torch.uint8)
        self.words = nw


def _unit_args(u: PackedUnit, h: int, w: int, grid: _Grid, x: Tensor, y: Tensor) -> kernels.UnitArgs:
    """Kernel arguments of one unit without output packing (see ``bc_unit`` in bitconv.h)."""
    a = kernels.UnitArgs(h, w, u.cin, u.words, u.cout, u.co8, u.factor, u.cin, u.words)
    a.post_act, a.has_bias = kernels.ACT_NONE, int(u.bias is not None)
    a.pin, a.min, a.zin = _ptr(grid.bits), _ptr(grid.mask), _ptr(grid.zero_rows)
    a.wt, a.ecorr, a.alpha, a.bias = _ptr(u.weights), _ptr(u.ecorr), _ptr(u.alpha), _ptr(u.bias)
    a.b0, a.pa, a.b1, a.xres, a.yout = _ptr(u.b0), _ptr(u.slope), _ptr(u.b1), _ptr(x), _ptr(y)
    return a


class PackedProgram:
    """Buffers and kernel arguments of a plan for one input size (reused across calls)."""

    def __init__(self, plan: InferencePlan, h: int, w: int) -> None:
        self.plan = plan  # the kernel arguments point into its arrays: keep them alive
        self._grids: dict[tuple[int, int], list[_Grid]] = {}
        first = plan.units[0]
        grid = self._grid(h, w, first.cin, None)
        x = torch.empty(h * w * first.cin, dtype=torch.float32)
        self.entry = kernels.EntryArgs(h, w, first.cin, grid.words, plan.head_act)
        self.entry.dst, self.entry.bnext = _ptr(x), _ptr(first.threshold)
        self.entry.pout, self.entry.mout, self.entry.zout = _ptr(grid.bits), _ptr(grid.mask), _ptr(grid.zero_rows)
        self.steps: list[kernels.UnitArgs] = []
        self._keep: list[Tensor] = [x]
        for i, unit in enumerate(plan.units):
            nxt = plan.units[i + 1] if i + 1 < len(plan.units) else None
            x, grid, h, w = self._add_step(unit, nxt, plan.tail_act, x, grid, h, w)
        # channels-last view of the NHWC result: torch runs the float tail on it directly
        self.feature = x.view(1, h, w, -1).permute(0, 3, 1, 2)

    def _grid(self, h: int, w: int, c: int, avoid: _Grid | None) -> _Grid:
        pool = self._grids.setdefault((h, w), [])
        for g in pool:
            if g is not avoid:
                return g
        pool.append(_Grid(h, w, c))
        return pool[-1]

    def _add_step(self, u: PackedUnit, nxt: PackedUnit | None, tail_act: int, x: Tensor, grid: _Grid,
                  h: int, w: int) -> tuple[Tensor, _Grid, int, int]:
        ho, wo = h * u.factor, w * u.factor
        y = x if u.factor == 1 else torch.empty(ho * wo * u.cin, dtype=torch.float32)  # r == 1: in place
        self._keep.append(y)
        a = _unit_args(u, h, w, grid, x, y)
        self.steps.append(a)
        if nxt is None:  # last unit: no packing, the tail activation applied in the epilogue
            a.post_act = tail_act
            return y, grid, ho, wo
        out = self._grid(ho, wo, u.cin, grid)
        a.bnext, a.pout, a.mout, a.zout = _ptr(nxt.threshold), _ptr(out.bits), _ptr(out.mask), _ptr(out.zero_rows)
        return y, out, ho, wo

    def run(self, head_out: Tensor, threads: int) -> Tensor:
        """(1, C, H, W) head conv output -> last unit's output (1, C, sH, sW), channels-last."""
        z = head_out.contiguous()
        self.entry.src = z.data_ptr()
        kernels.run_entry(self.entry, threads)
        for step in self.steps:
            kernels.run_unit(step, threads)
        return self.feature


class PackedBackend:
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
        self.spec = loaded.spec
        self.plan = fold_model(loaded)
        self.threads = max(1, int(threads) if threads else torch.get_num_threads())
        self._program: PackedProgram | None = None
        self._lock = threading.Lock()

    def _program_for(self, h: int, w: int) -> PackedProgram:
        prog = self._program
        if prog is None or prog.entry.H != h or prog.entry.W != w:
            self._program = None  # free the old buffers first
            prog = self._program = PackedProgram(self.plan, h, w)
        return prog

    def _binary(self, head_out: Tensor) -> Tensor:
        return self._program_for(head_out.shape[2], head_out.shape[3]).run(head_out, self.threads)

    def _sr(self, x: Tensor) -> Tensor:
        m = self.model
        xk = x * m.k
        feat = self._binary(m.conv_first(xk))
        if self.spec.arch == "bbcu-m":
            out = m.conv_last(feat)  # feat = lrelu(conv_hr(...)), fused in the last unit
        else:
            out = m.conv_last(m.lrelu(m.conv_hr(m._upsample(feat))))
        base = F.interpolate(xk, scale_factor=m.upscale, mode="bilinear", align_corners=False)
        return (out + base) / m.k

    def _dncnn(self, x: Tensor, sigma: float | Tensor | None) -> Tensor:
        layers = self.model.model
        head, tail = layers[0], layers[len(layers) - 1]
        return x - self.model.predict_noise(x, sigma, lambda inp: tail(self._binary(head(inp))))

    def _one(self, x: Tensor, sigma: float | Tensor | None) -> Tensor:
        return self._dncnn(x, sigma) if self.spec.arch == "dncnn" else self._sr(x)

    @torch.inference_mode()
    def __call__(self, x: Tensor, sigma: float | None = None) -> Tensor:
        """(N, C, H, W) float32 in [0, 1] -> what ``loaded.model`` returns (N = 1 typical)."""
        if x.dim() != 4 or x.shape[1] != self.spec.in_channels:
            raise ValueError(f"expected (N, {self.spec.in_channels}, H, W), got {tuple(x.shape)}")
        x = x.detach().to("cpu", torch.float32).contiguous()
        with self._lock:
            outs = []
            for i in range(x.shape[0]):
                s = sigma[i : i + 1] if isinstance(sigma, Tensor) and sigma.dim() > 0 and sigma.numel() > 1 else sigma
                outs.append(self._one(x[i : i + 1], s))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)
