"""Timing of every available backend on the same input, in one process (``bbcu bench``).

Each backend gets a warm-up run, then ``repeat`` timed runs; the median is reported, with
megapixels per second (input pixels), the speed-up over ``float``, the peak resident memory
seen while it ran (sampled from /proc every 5 ms, above the level before it started), and the
largest absolute difference between its output and the float output.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .engine.restore import Restorer
from .loading import LoadedModel, ModelSpec, build_model

__all__ = ["BackendTiming", "BenchResult", "random_model", "run_bench", "rss_bytes"]


@dataclass
class BackendTiming:
    median_s: float
    mpix_s: float
    times_s: list[float]
    peak_rss_mb: float
    max_abs_diff: float = 0.0


@dataclass
class BenchResult:
    model: str
    size: tuple[int, int]
    threads: int
    backends: dict[str, BackendTiming] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    isa: str = ""

    def speedup(self) -> dict[str, float]:
        base = self.backends.get("float")
        if base is None:
            return {}
        return {k: base.median_s / v.median_s for k, v in self.backends.items() if k != "float"}

    def to_json(self) -> dict[str, object]:
        diffs = [b.max_abs_diff for b in self.backends.values()]
        return {
            "model": self.model,
            "size": f"{self.size[0]}x{self.size[1]}",
            "threads": self.threads,
            "backends": {
                k: {"median_s": v.median_s, "mpix_s": v.mpix_s, "peak_rss_mb": v.peak_rss_mb}
                for k, v in self.backends.items()
            },
            "speedup": self.speedup(),
            "max_abs_diff": max(diffs) if diffs else 0.0,
            "skipped": self.skipped,
            "cpu_features": self.features,
            "isa": self.isa,
        }


def random_model(spec: ModelSpec, seed: int = 0) -> LoadedModel:
    """A model with random but BBCU-like weights (nontrivial signs, biases and slopes)."""
    gen = torch.Generator().manual_seed(seed)
    model = build_model(spec)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.25 if name.endswith("pr_prelu.weight") else 0.1
            p.copy_(torch.randn(p.shape, generator=gen) * scale + (0.25 if name.endswith("pr_prelu.weight") else 0.0))
    return LoadedModel(model.eval(), spec, f"random:{spec.describe()}")


def rss_bytes() -> int:
    """Current resident set size of this process (Linux), else 0."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * 4096
    except (OSError, IndexError, ValueError):
        return 0


class _PeakSampler:
    def __init__(self) -> None:
        self.base = rss_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> "_PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def _time(fn: Callable[[], np.ndarray], repeat: int) -> tuple[list[float], np.ndarray, float]:
    out = fn()
    times = []
    with _PeakSampler() as sampler:
        for _ in range(repeat):
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
    return times, out, (sampler.peak - sampler.base) / 2**20


def run_bench(
    restorers: dict[str, Restorer], size: tuple[int, int], repeat: int, threads: int, model_name: str, seed: int = 0
) -> BenchResult:
    """Time each restorer on the same random ``size`` (W, H) image; compare with ``float``."""
    width, height = size
    channels = next(iter(restorers.values())).spec.in_channels
    pixels = np.random.default_rng(seed).random((height, width, channels), dtype=np.float32)
    result = BenchResult(model_name, size, threads)
    reference: np.ndarray | None = None
    for name, restorer in restorers.items():
        sigma = 25.0 if restorer.spec.noise_channel else None
        times, out, peak = _time(lambda r=restorer, s=sigma: r.restore(pixels, sigma=s), repeat)
        if reference is None:
            reference = out
        median = statistics.median(times)
        diff = float(np.abs(out - reference).max())
        result.backends[name] = BackendTiming(median, width * height / median / 1e6, times, peak, diff)
    return result
