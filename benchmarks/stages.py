"""Stage-by-stage time of the packed path, per model, as a user runs it (``Restorer.restore``).

    python benchmarks/stages.py [--size 320x180] [--threads 2] [--repeat 5] [--models NAME ...]

Models: every bundled model (by manifest name) plus ``paper-bbcu-m-x4`` (random 64 x 16
BBCU-M x4, as ``bbcu bench`` builds it). For each: the median of ``--repeat`` restores of one
random uint8 image into a uint8 output (after a warm-up), split into the backend's stages:
head conv (torch), binary units (C), high-resolution stages (BBCU-L/M), fused tail conv +
output (C), and the rest (tiling, uint8 -> float, Python). Prints a markdown table.

``--layouts`` adds the measurement behind the torch configuration of the float convs that stay
in torch (head, sub-pixel / DnCNN tails): NCHW vs channels-last input, in the same process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bbcu_cli.bench import random_model  # noqa: E402
from bbcu_cli.engine.packed import PackedBackend  # noqa: E402
from bbcu_cli.engine.restore import Restorer  # noqa: E402
from bbcu_cli.loading import LoadedModel, ModelSpec, load_model  # noqa: E402
from bbcu_cli.weights.cache import get_manifest  # noqa: E402
from bbcu_cli.weights.resolve import resolve  # noqa: E402

STAGES = ("head (float64)", "binary units", "high-resolution stages", "fused tail + output (C)")
PAPER = "paper-bbcu-m-x4"


def load(name: str) -> LoadedModel:
    if name == PAPER:
        return random_model(ModelSpec("bbcu-m", "sr", 4, 3, 64, 16, 130.0))
    entry = get_manifest().find(name)
    if entry is None:
        raise SystemExit(f"error: unknown model {name!r}")
    r = resolve(name, entry.task, entry.scale)
    return load_model(r.path, k=r.k, task=entry.task)


def profile(loaded: LoadedModel, size: tuple[int, int], threads: int, repeat: int) -> tuple[float, dict[str, float]]:
    """Median wall seconds of one restore and the mean seconds per stage."""
    restorer = Restorer(loaded, backend="packed", device="cpu", threads=threads, tile=0)
    backend = restorer.choice.run
    assert isinstance(backend, PackedBackend)
    w, h = size
    pixels = (np.random.default_rng(0).random((h, w, loaded.spec.in_channels)) * 255).astype(np.uint8)
    sigma = 25.0 if loaded.spec.noise_channel else None
    restorer.restore(pixels, sigma=sigma, out_dtype=np.uint8)
    backend.profile = True
    backend.stage_seconds.clear()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        restorer.restore(pixels, sigma=sigma, out_dtype=np.uint8)
        times.append(time.perf_counter() - start)
    return statistics.median(times), {k: v / repeat for k, v in backend.stage_seconds.items()}


def _median_ms(fn: Callable[[], object], repeat: int = 9) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def layouts(size: tuple[int, int]) -> list[str]:
    """NCHW vs channels-last time of the float convs the packed path leaves to torch."""
    w, h = size
    rows = ["| conv (3x3, at the input size) | NCHW ms | channels-last ms |", "|---|---|---|"]
    cases = [
        ("head 3 -> 64", 3, 64),
        ("sub-pixel tail 64 -> 48 (x4)", 64, 48),
        ("sub-pixel tail 32 -> 48 (x4)", 32, 48),
        ("sub-pixel tail 64 -> 12 (x2)", 64, 12),
        ("conv_last 64 -> 3 at 4x the size", 64, 3),
    ]
    with torch.inference_mode():
        for name, cin, cout in cases:
            scale = 4 if "4x the size" in name else 1
            x = torch.randn(1, cin, h * scale, w * scale)
            conv = torch.nn.Conv2d(cin, cout, 3, 1, 1)
            xc = x.contiguous(memory_format=torch.channels_last)
            rows.append(f"| {name} | {_median_ms(lambda: conv(x)):.1f} | {_median_ms(lambda: conv(xc)):.1f} |")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--models", nargs="*")
    ap.add_argument("--layouts", action="store_true", help="also time NCHW vs channels-last torch convs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split("x"))
    names = args.models or [e.name for e in get_manifest().models if e.bundled] + [PAPER]
    print(f"packed path, {args.size} input, {args.threads} threads, ms (median of {args.repeat}; stages are means)\n")
    print("| model | " + " | ".join(STAGES) + " | rest | total |")
    print("|---" * (len(STAGES) + 3) + "|")
    for name in names:
        total, stages = profile(load(name), size, args.threads, args.repeat)  # type: ignore[arg-type]
        rest = total - sum(stages.values())
        cells = [f"{stages[s] * 1e3:.1f}" if s in stages else "-" for s in STAGES]
        print(f"| {name} | " + " | ".join(cells) + f" | {rest * 1e3:.1f} | {total * 1e3:.1f} |", flush=True)
    if args.layouts:
        print("\n" + "\n".join(layouts(size)))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
