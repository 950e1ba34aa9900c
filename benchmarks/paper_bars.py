"""Issue 16's paper-size bars, measured back to back in rounds on one input.

    python benchmarks/paper_bars.py [--rounds 3] [--repeat 5] [--threads 2] [--size 320x180]

The model is ``bbcu bench``'s: a paper-size BBCU-M x4 (64 channels, 16 blocks) with random
weights. Each round times, one right after the other on the same 320x180 photo mosaic: FSRCNN
x4 through OpenCV ``dnn_superres`` (in the peers venv that ``benchmarks/peers.py`` builds),
the packed path and the float path (both in this process, as ``Restorer`` runs them into a uint8
output). Prints per round and as the median of the rounds: packed / float speed-up (bar: at
least 25x) and packed time / FSRCNN time (bar: at most 3.5x). Every time is the median of
``--repeat`` runs after one warm-up (float: at most 3 runs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import peers  # noqa: E402

from bbcu_cli.bench import random_model  # noqa: E402
from bbcu_cli.engine.restore import Restorer  # noqa: E402
from bbcu_cli.loading import ModelSpec  # noqa: E402

SPEC = ModelSpec("bbcu-m", "sr", 4, 3, 64, 16, 130.0)


def timer(restorer: Restorer, rgb: np.ndarray, repeat: int) -> float:
    """Median seconds of ``repeat`` restores into a uint8 output, after one warm-up."""
    return statistics.median(peers.time_calls(lambda: restorer.restore(rgb, out_dtype=np.uint8), repeat))


def one_round(
    fsrcnn: peers.PeerMethod, item: peers.TimingInput, backends: dict[str, Restorer], repeat: int
) -> dict[str, float]:
    """FSRCNN, packed, float: seconds of each, measured one after the other."""
    times = {"FSRCNN": statistics.median(fsrcnn.time(item, repeat))}
    times["packed"] = timer(backends["packed"], item.rgb, repeat)
    times["float"] = timer(backends["float"], item.rgb, min(repeat, 3))
    return times


def line(label: str, t: dict[str, float]) -> str:
    return (
        f"| {label} | {t['FSRCNN']:.4f} | {t['packed']:.4f} | {t['float']:.3f} | "
        f"{t['float'] / t['packed']:.1f}x | {t['packed'] / t['FSRCNN']:.2f}x |"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Paper-size BBCU-M x4: packed vs float vs FSRCNN, back to back.")
    ap.add_argument("--rounds", type=peers.positive_int, default=3)
    ap.add_argument("--repeat", type=peers.positive_int, default=5)
    ap.add_argument("--threads", type=peers.positive_int, default=2)
    ap.add_argument("--size", type=peers.parse_size, default=(320, 180), metavar="WxH")
    ap.add_argument("--venv", type=Path, default=None, help="peers venv (default: as benchmarks/peers.py)")
    ap.add_argument("--peers-dir", type=Path, default=peers.SHARED / "peers")
    ap.add_argument("--bench-dir", type=Path, default=peers.SHARED / "datasets" / "bench")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    from bbcu_cli import kernels

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = random_model(SPEC)
    backends = {b: Restorer(loaded, backend=b, device="cpu", threads=args.threads, tile=0) for b in ("packed", "float")}
    with tempfile.TemporaryDirectory(prefix="bbcu-paper-") as tmp:
        scratch = Path(tmp)
        worker = peers.PeerWorker(peers.ensure_venv(args.venv or peers.default_venv()), args.threads, scratch)
        try:
            fsrcnn = peers.PeerMethod(worker, "FSRCNN", "fsrcnn", 4, args.peers_dir)
            fsrcnn.prepare()
            item = peers.timing_inputs([args.size], args.bench_dir, scratch)[0]
            rounds = [one_round(fsrcnn, item, backends, args.repeat) for _ in range(args.rounds)]
        finally:
            worker.close()
    print(
        f"paper-size BBCU-M x4 (random weights) at {item.label}, {args.threads} threads, kernel {kernels.status().label}"
    )
    print("| round | FSRCNN s | packed s | float s | packed vs float | packed / FSRCNN |")
    print("|---|---|---|---|---|---|")
    for i, t in enumerate(rounds, 1):
        print(line(str(i), t))
    print(line("median", {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
