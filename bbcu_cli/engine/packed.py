"""The ``packed`` backend: BBCU binary units on bit-packed activations (XNOR/popcount, CPU).

The full-precision head runs with torch exactly as the float model runs it (same module, NCHW),
so the tensor entering the binary part is bit-identical to the float model's (a sign decided
differently would change the result). The binary units then run in the C kernels on NHWC float
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
once per input size and reused (:class:`.chain.UnitChain`).

``BBCU_DISABLE_PACKED=1`` turns the backend off (for testing the fallback).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from .. import kernels
from ..errors import KernelUnavailable
from ..loading import LoadedModel
from .chain import UnitChain
from .finish import Finisher, Window
from .packed_plan import InferencePlan, check_exact, build_plan

__all__ = ["PackedBackend", "PackedStatus", "packed_status", "supports", "PackedProgram", "BAND_HALO"]

PackedStatus = kernels.KernelStatus
"""Whether the packed backend can run here and, if not, why (the kernel status record)."""

#: halo of a high-resolution band in input rows (the HR stages see at most 2 rows further)
BAND_HALO = 3
#: working memory of one high-resolution band (bytes); bands are at least MIN_BAND rows
BAND_BUDGET = 192 << 20
MIN_BAND = 60
_CACHED_CHAINS = 4


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


def _nchw(block: np.ndarray) -> Tensor:
    """(h, w, C) float32 -> contiguous (1, C, h, w), as the float path receives it."""
    return torch.from_numpy(np.ascontiguousarray(block.transpose(2, 0, 1)))[None]


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
        self.plan = build_plan(loaded)
        assert self.plan.layout is not None
        self.layout = self.plan.layout
        self.threads = max(1, int(threads) if threads else torch.get_num_threads())
        self._chains: OrderedDict[tuple[str, int, int], UnitChain] = OrderedDict()
        self._lock = threading.Lock()
        self._split = next((i for i, u in enumerate(self.plan.units) if u.factor > 1), len(self.plan.units))
        self._finisher = self._make_finisher()
        #: seconds per stage, accumulated while :attr:`profile` is on (benchmarks/stages.py)
        self.profile = False
        self.stage_seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        if not self.profile:
            yield
            return
        start = time.perf_counter()
        yield
        self.stage_seconds[name] += time.perf_counter() - start

    # ------------------------------------------------------------------ planning

    def _make_finisher(self) -> Finisher:
        tail = self.layout.finish(self.model, self.spec)
        mode = kernels.FIN_DN if tail.kind == "denoise" else kernels.FIN_SR
        return Finisher(mode, self.model.k, self.spec.in_channels, tail.shuffle, tail.base_scale, tail.conv)  # type: ignore[arg-type]

    def _chain(self, kind: str, h: int, w: int) -> UnitChain:
        key = (kind, h, w)
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = self._build(kind, h, w)
            while len(self._chains) > _CACHED_CHAINS:
                self._chains.popitem(last=False)
        self._chains.move_to_end(key)
        return chain

    def _build(self, kind: str, h: int, w: int) -> UnitChain:
        plan, cut = self.plan, self._split
        if kind == "lr":
            following = plan.units[cut] if cut < len(plan.units) else None
            tail = plan.tail_act if following is None else kernels.ACT_NONE  # else the next unit packs it
            return UnitChain(plan.units[:cut], h, w, plan.head_act, tail, following, keep=plan)
        return UnitChain(plan.units[cut:], h, w, None, plan.tail_act, keep=plan)

    def bytes_per_pixel(self) -> int:
        """Working memory per input pixel of a tile (bytes), high-resolution bands excluded."""
        return self.layout.bytes_per_pixel(self.spec)

    def band_rows(self, h: int, w: int) -> int:
        """Core rows of a high-resolution band for an ``h x w`` tile."""
        per_row = w * self.spec.scale**2 * 4 * (2 * self.spec.num_feat + 8)
        return max(MIN_BAND, min(h, BAND_BUDGET // max(1, per_row)))

    # ------------------------------------------------------------------ running

    def _head(self, conv: Callable[[Tensor], Tensor], inp: Tensor) -> Tensor:
        with self._stage("head (torch)"):
            return conv(inp)

    def _lr(self, head_out: Tensor) -> UnitChain:
        chain = self._chain("lr", head_out.shape[2], head_out.shape[3])
        with self._stage("binary units"):
            chain.run(head_out, self.threads)
        return chain

    def _finish(self, block: np.ndarray, dst: np.ndarray, win: Window, **kw: object) -> None:
        with self._stage("fused tail + output (C)"):
            self._finisher.run(block, dst, win, self.threads, **kw)  # type: ignore[arg-type]

    def _planes(self, block: np.ndarray, sigma: float | None, dst: np.ndarray, win: Window) -> None:
        """DnCNN-style: head on the (unshuffled) planes [+ noise map], units, fused tail."""
        m = self.model
        layers = m.model
        inp = m.to_planes(_nchw(block))
        if m.noise_channel:
            inp = torch.cat([inp, m.noise_map(inp, sigma)], dim=1)
        self._finish(block, dst, win, feat=self._lr(self._head(layers[0], inp * m.k)).feature)

    def _subpixel(self, block: np.ndarray, dst: np.ndarray, win: Window) -> None:
        m = self.model
        feat = self._lr(self._head(m.conv_first, _nchw(block) * m.k)).feature  # lrelu fused in the last unit
        self._finish(block, dst, win, feat=feat)

    def _banded(self, block: np.ndarray, dst: np.ndarray, win: Window) -> None:
        m, s = self.model, self.spec.scale
        lr = self._lr(self._head(m.conv_first, _nchw(block) * m.k))
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

    def _high_res(self, lr: UnitChain, a0: int, b0: int) -> Tensor:
        """High-resolution features of input rows ``[a0, b0)`` (channels-last, LReLU applied)."""
        band = lr.feature[:, :, a0:b0]
        if self.layout.float_upsampler:
            out = self.model.high_res_features(band)
            return out.contiguous(memory_format=torch.channels_last)
        chain = self._chain("hr", b0 - a0, lr.out_w)
        assert lr.out_grid is not None
        chain.in_grid.copy_rows(lr.out_grid, a0)
        residual = band.permute(0, 2, 3, 1)  # NHWC rows a0..b0 of the body output: contiguous
        return chain.run_loaded(residual, self.threads)

    def restore_into(self, block: np.ndarray, sigma: float | None, dst: np.ndarray, window: Window) -> None:
        """Restore one (h, w, C) float32 block; write ``window`` of its output into ``dst``.

        ``dst`` has the window's shape ``(y1 - y0, x1 - x0, C)`` and dtype float32 (unclamped
        output), uint8 or uint16 (clipped, rounded); its pixels must be contiguous.
        """
        block = np.ascontiguousarray(block, dtype=np.float32)
        stages = self.layout.stages
        with self._lock, torch.inference_mode():
            if stages == "planes":
                self._planes(block, sigma, dst, window)
            elif stages == "subpixel":
                self._subpixel(block, dst, window)
            else:
                self._banded(block, dst, window)

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
            self.restore_into(block, float(level) if level is not None else None, out, Window(0, out.shape[0], 0, out.shape[1]))
            outs.append(torch.from_numpy(out).permute(2, 0, 1)[None])
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)
