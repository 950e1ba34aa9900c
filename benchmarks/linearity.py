"""Does time grow in proportion to pixels? Every shipped model at three sizes, interleaved.

    python benchmarks/linearity.py [--sizes 320x180 640x360 1280x720] [--rounds 5] [--threads 2]
                                   [--models NAME ...]

Issue #16's bar: for any shipped model, the time at 640x360 is at most 4.6x its time at
320x180, and at 1280x720 at most 4.6x its time at 640x360. ``benchmarks/peers.py`` times all
methods at one size, then the next size, so a machine that slows down or speeds up between
phases (shared 2-core hosts do) biases its ratios. Here every round times each model at every
size back to back (after one warm-up per size), so drift hits all sizes alike; the ratios use
the fastest run per size (the least disturbed) and the median.

Each model runs as a user's command does (``Restorer`` with ``--backend auto``, the torch-free
runtime where the model allows it, uint8 out, ``tile=0``: automatic tiles); denoisers get
sigma 25. Prints one markdown table; exit status 1 when a fastest-run ratio exceeds the bar.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bbcu_cli.engine.restore import Restorer  # noqa: E402
from bbcu_cli.factory import resolve_model  # noqa: E402
from bbcu_cli.weights.cache import get_manifest  # noqa: E402

BAR = 4.6


def parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def timed(run: Restorer, pixels: np.ndarray, sigma: float | None) -> float:
    start = time.perf_counter()
    run.restore(pixels, sigma=sigma, out_dtype=np.uint8)
    return time.perf_counter() - start


def measure(name: str, sizes: list[tuple[int, int]], rounds: int, threads: int) -> tuple[str, list[list[float]]]:
    """(backend name, seconds per size per round) of one manifest model."""
    loaded = resolve_model(name, lite=True).model
    model = Restorer(loaded, backend="auto", device="cpu", threads=threads, tile=0)
    entry = get_manifest().find(name)
    sigma = 25.0 if entry is not None and entry.task == "denoise" else None
    rng = np.random.default_rng(0)
    images = [(rng.random((h, w, 3)) * 255).astype(np.uint8) for w, h in sizes]
    for img in images:  # warm-up: plans, buffers and chains of every size
        timed(model, img, sigma)
    runs: list[list[float]] = [[] for _ in sizes]
    for _ in range(rounds):
        for i, img in enumerate(images):
            runs[i].append(timed(model, img, sigma))
    return model.backend_name, runs


def row(name: str, backend: str, runs: list[list[float]], sizes: list[tuple[int, int]]) -> tuple[str, bool]:
    cells = [name, backend] + [f"{min(r):.3f}" for r in runs]
    over = False
    for i in range(1, len(runs)):
        pixel_ratio = sizes[i][0] * sizes[i][1] / (sizes[i - 1][0] * sizes[i - 1][1])
        fast = min(runs[i]) / min(runs[i - 1])
        med = statistics.median(runs[i]) / statistics.median(runs[i - 1])
        bad = fast > BAR * pixel_ratio / 4
        over |= bad
        cells.append(f"{fast:.2f}x ({med:.2f}x){' over' if bad else ''}")
    return "| " + " | ".join(cells) + " |", over


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["320x180", "640x360", "1280x720"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="*", help="manifest names (default: every bundled model)")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes]
    names = args.models or [m.name for m in get_manifest().models if m.bundled]
    head = ["model", "backend"] + [f"{w}x{h} s (fastest)" for w, h in sizes]
    head += [f"{args.sizes[i]} / {args.sizes[i - 1]}" for i in range(1, len(sizes))]
    print(f"fastest of {args.rounds} interleaved rounds, {args.threads} threads; ratios: fastest (medians)\n")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head), flush=True)
    failed = False
    for name in names:
        backend, runs = measure(name, sizes, args.rounds, args.threads)
        line, over = row(name, backend, runs, sizes)
        failed |= over
        print(line, flush=True)
    print(f"\nbar: each ratio at most {BAR}x for 4x the pixels: {'NOT met' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
