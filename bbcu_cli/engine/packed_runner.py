"""What both packed runtimes share: chains cached per input size, stage timing, the fused tail.

:class:`PackedRunner` runs an :class:`~.packed_units.InferencePlan` on one (h, w, C) float32
block: the runtime's head (:meth:`PackedRunner.head`: the model input times ``k``, the float64
head conv) -> entry + binary units (:class:`.chain.UnitChain`) -> fused tail
(:class:`.finish.Finisher`) straight into the caller's output. The torch backend
(:class:`.packed.PackedBackend`, which adds BBCU-L/M's high-resolution bands) and the torch-free
runtime (:class:`bbcu_cli.lite.LiteBackend`) subclass it and differ only in how they compute the
head, whose float32 values are the same in both (:mod:`bbcu_cli.models.head`). Torch-free.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .. import kernels
from ..archs.spec import ModelSpec
from .chain import UnitChain
from .finish import Finisher, Window
from .packed_units import InferencePlan

__all__ = ["PackedRunner", "HEAD_STAGE"]

_CACHED_CHAINS = 4
#: stage name of the head conv in :attr:`PackedRunner.stage_seconds`
HEAD_STAGE = "head (float64)"


class PackedRunner:
    """Chains, finisher and the low-resolution run of one plan (see the module docstring).

    Args:
        plan: the packed units and activations (``plan.layout`` set).
        spec: the model's spec.
        finisher: the fused tail.
        threads: kernel threads (>= 1).
    """

    def __init__(self, plan: InferencePlan, spec: ModelSpec, finisher: Finisher, threads: int) -> None:
        assert plan.layout is not None
        self.plan, self.spec, self.layout = plan, spec, plan.layout
        self.threads = max(1, int(threads))
        self._finisher = finisher
        self._chains: OrderedDict[tuple[str, int, int], UnitChain] = OrderedDict()
        self._lock = threading.Lock()
        self._split = next((i for i, u in enumerate(plan.units) if u.factor > 1), len(plan.units))
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

    # ------------------------------------------------------------------ running

    def head(self, block: np.ndarray, sigma: float | None) -> np.ndarray:
        """(h, w, C) float32 block -> head conv output (F, h', w') float32 C-contiguous (the
        model input: planes [+ noise map] for ``planes`` layouts, times ``k``)."""
        raise NotImplementedError

    def _lr(self, block: np.ndarray, sigma: float | None) -> UnitChain:
        with self._stage(HEAD_STAGE):
            head_out = self.head(block, sigma)
        chain = self._chain("lr", head_out.shape[1], head_out.shape[2])
        with self._stage("binary units"):
            chain.run(head_out, self.threads)
        return chain

    def _finish(self, block: np.ndarray, dst: np.ndarray, win: Window, **kw: object) -> None:
        with self._stage("fused tail + output (C)"):
            self._finisher.run(block, dst, win, self.threads, **kw)  # type: ignore[arg-type]

    def _low_res(self, block: np.ndarray, sigma: float | None, dst: np.ndarray, win: Window) -> None:
        """``planes`` and ``subpixel`` layouts: head, units (tail activation fused), fused tail."""
        self._finish(block, dst, win, feat=self._lr(block, sigma).feature)

    def _run(self, block: np.ndarray, sigma: float | None, dst: np.ndarray, win: Window) -> None:
        if self.layout.stages == "banded":
            raise NotImplementedError("this runtime has no high-resolution stages")
        self._low_res(block, sigma, dst, win)

    def restore_into(self, block: np.ndarray, sigma: float | None, dst: np.ndarray, window: Window) -> None:
        """Restore one (h, w, C) float32 block; write ``window`` of its output into ``dst``.

        ``dst`` has the window's shape ``(y1 - y0, x1 - x0, C)`` and dtype float32 (unclamped
        output), uint8 or uint16 (clipped, rounded); its pixels must be contiguous.
        """
        block = np.ascontiguousarray(block, dtype=np.float32)
        with self._lock:
            self._run(block, sigma, dst, window)
