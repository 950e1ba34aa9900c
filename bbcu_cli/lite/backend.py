"""The torch-free packed runtime: head (C, float64) -> entry -> binary units -> fused tail.

:class:`LiteBackend` runs a :class:`~.model.LiteModel` exactly as
:class:`bbcu_cli.engine.packed.PackedBackend` runs the torch model (both are
:class:`~bbcu_cli.engine.packed_runner.PackedRunner`), for the ``subpixel`` (BBCU-P) and
``planes`` (DnCNN) layouts. Only the head differs: here the model input is built with numpy
(DnCNN: edge padding to the unshuffle factor, pixel unshuffle, the ``sigma / 255`` noise plane;
then ``* k``, all in float32 as torch rounds them) and the head conv runs in the ``bc_head``
kernel in float64, rounded to float32 once. The torch path runs the same conv in float64 too
(:func:`bbcu_cli.models.head.head_conv`); the two float64 results round to the same float32
except when the exact value lies within ~1e-16 (relative) of a float32 rounding midpoint
(about 1e-9 per value; the tests compare every head value of every bundled model). Every later
step is the same C code on the same arrays, so the outputs are byte-identical.
"""

from __future__ import annotations

import os

import numpy as np

from .. import kernels
from ..engine.chain import ptr
from ..engine.finish import Finisher
from ..engine.packed_runner import PackedRunner
from ..errors import KernelUnavailable
from .families import lite_family
from .model import LiteModel

__all__ = ["LiteBackend", "HeadKernel", "default_threads", "to_planes"]


def default_threads() -> int:
    """CPU cores this process may use (the kernels' default thread count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class HeadKernel:
    """The head conv (3x3, zero padding) in the ``bc_head`` kernel.

    ``weight``: (cout, cin, 3, 3) float32; ``bias``: (cout,) or None.
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None) -> None:
        self.cout, self.cin = int(weight.shape[0]), int(weight.shape[1])
        w = np.asarray(weight, dtype=np.float32).astype(np.float64)
        self.wt = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(9, self.cin, self.cout))  # [tap][cin][cout]
        self.bias = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32).astype(np.float64)
        self._out = np.empty((0, 0, 0), dtype=np.float32)

    def __call__(self, inp: np.ndarray, threads: int) -> np.ndarray:
        """(h, w, cin) float32 C-contiguous -> (cout, h, w) float32 C-contiguous.

        The result is overwritten by the next call with the same shape (callers hand it to a unit
        chain at once): a fresh map each call took the paper-size x4 head stage at 320x180 from 5.4
        to 10.1 ms (page faults; benchmarks/stages.py, 2 threads)."""
        if inp.dtype != np.float32 or not inp.flags.c_contiguous or inp.ndim != 3 or inp.shape[2] != self.cin:
            raise ValueError(f"head input must be C-contiguous float32 (h, w, {self.cin})")
        if self._out.shape != (self.cout, inp.shape[0], inp.shape[1]):
            self._out = np.empty((self.cout, inp.shape[0], inp.shape[1]), dtype=np.float32)
        out = self._out
        a = kernels.HeadArgs(inp.shape[0], inp.shape[1], self.cin, self.cout)
        a.src, a.wt, a.bias, a.dst = ptr(inp), ptr(self.wt), ptr(self.bias), ptr(out)
        kernels.run_head(a, threads)
        return out


def to_planes(block: np.ndarray, r: int) -> np.ndarray:
    """(h, w, C) -> (ceil(h/r), ceil(w/r), C*r*r): edge padding to a multiple of ``r``, then
    pixel unshuffle (channel c*r*r + i*r + j = pixel (r*y + i, r*x + j) of channel c), as torch."""
    if r == 1:
        return block
    h, w, c = block.shape
    padded = np.pad(block, ((0, -h % r), (0, -w % r), (0, 0)), mode="edge")
    hh, ww = padded.shape[0] // r, padded.shape[1] // r
    return padded.reshape(hh, r, ww, r, c).transpose(0, 2, 4, 1, 3).reshape(hh, ww, c * r * r)


class LiteBackend(PackedRunner):
    """Run a :class:`LiteModel` with the packed kernels, no torch (same bytes as ``packed``).

    Raises:
        KernelUnavailable: the kernels are not available here.
    """

    name = "packed"

    def __init__(self, model: LiteModel, threads: int | None = None) -> None:
        state = kernels.backend_status()
        if not state.available:
            raise KernelUnavailable(f"packed backend unavailable: {state.reason}", "use the float backend")
        fam = lite_family(model.spec.arch)
        assert fam is not None
        spec = model.spec
        r, sb = fam.tail_grid(spec)
        mode = kernels.FIN_DN if fam.denoise else kernels.FIN_SR
        finisher = Finisher(mode, spec.k, spec.in_channels, r, sb, model.tail)
        super().__init__(model.plan, spec, finisher, int(threads) if threads else default_threads())
        self.model = model
        self._head = HeadKernel(*model.head)
        self._k = np.float32(spec.k)

    def head(self, block: np.ndarray, sigma: float | None) -> np.ndarray:
        """The model input (float32, rounded as torch rounds it) through :class:`HeadKernel`."""
        spec = self.spec
        inp = block
        if self.layout.stages == "planes":
            inp = to_planes(block, spec.unshuffle)
            if spec.noise_channel:
                if sigma is None:
                    raise ValueError("this model has a noise-level input: sigma is required")
                level = np.full(inp.shape[:2] + (1,), np.float32(sigma) / np.float32(255.0), dtype=np.float32)
                inp = np.concatenate([inp, level], axis=2)
        return self._head(np.ascontiguousarray(inp * self._k, dtype=np.float32), self.threads)
