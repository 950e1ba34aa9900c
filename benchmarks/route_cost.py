"""What routing to a clean variant costs in process: each routed model against itself alone.

    python benchmarks/route_cost.py [--repeat 15] [--threads 2]

A B100 photo (as ``benchmarks/cli_e2e.py`` makes it, x4 of 320x180) made small by MATLAB
bicubic (routed to the clean variant) and by ``cv2.resize`` INTER_CUBIC (kept on the model) is
restored by each x4 model with a clean variant, alone and routed, interleaved; prints the
medians, their ratio and the detector's own time. Ratios, not seconds, carry across machines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cli_e2e  # noqa: E402

from bbcu_cli.aliasing import detector_for  # noqa: E402
from bbcu_cli.degradations import degrade_sr  # noqa: E402
from bbcu_cli.engine.restore import Restorer  # noqa: E402
from bbcu_cli.factory import resolve_model  # noqa: E402


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    hr = cli_e2e.photo(1, (320, 180))
    inputs = {way: degrade_sr(hr, 4, way) for way in ("matlab", "cv2-cubic")}
    print("| model | input made by | restored by | alone ms | routed ms | ratio |\n|---|---|---|---|---|---|")
    for name in ("bbcu-fast-x4", "bbcu-p-x4"):
        alone, routed = (
            Restorer(resolve_model(name, task="sr", lite=True, route=r).model, backend="packed", threads=args.threads)
            for r in (False, None)
        )
        for way, lr in inputs.items():
            alone.restore(lr)  # warm-up: plans and buffers
            routed.restore(lr)  # and the lazy clean restorer
            pairs = [(_ms(lambda: alone.restore(lr)), _ms(lambda: routed.restore(lr))) for _ in range(args.repeat)]
            a, r = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
            variant = routed.last_choice.variant if routed.last_choice else "-"
            print(f"| {name} | {way} | {variant} | {a:.1f} | {r:.1f} | {r / a:.2f}x |")
    detector = detector_for(4)
    assert detector is not None
    for way, lr in inputs.items():
        ms = statistics.median(_ms(lambda: detector.decide(lr)) for _ in range(20))
        print(
            f"\ndetector alone at 320x180, {way} input: {ms:.1f} ms (median of 20; quadrants asked only when the whole looks clean)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
