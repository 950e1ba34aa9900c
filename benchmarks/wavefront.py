"""Binary units one by one against the wavefront over row bands (``bc_chain``), same process.

    python benchmarks/wavefront.py [--model bbcu-fast-x4] [--sizes 640x360,1280x720]
                                   [--bands 4,8,16] [--threads 2] [--rounds 7] [--no-amx]

Builds the model's low-resolution chain (entry + plain units, ``UnitChain``) at each size,
once in the reference order and once per band height, runs them in rounds (each round every
variant once, after a warm-up run), checks that every variant's features equal the reference
bit for bit, and prints the median and minimum nanoseconds per pixel. ``--model paper`` is
the random 64 x 16 BBCU-M x4 of ``bbcu bench``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bbcu_cli import kernels  # noqa: E402
from bbcu_cli.engine.chain import UnitChain  # noqa: E402
from bbcu_cli.engine.packed_plan import InferencePlan, build_plan  # noqa: E402
from bbcu_cli.loading import LoadedModel, ModelSpec  # noqa: E402


def load(name: str) -> LoadedModel:
    if name == "paper":
        from bbcu_cli.bench import random_model

        return random_model(ModelSpec("bbcu-m", "sr", 4, 3, 64, 16, 130.0))
    from bbcu_cli.factory import resolve_model
    from bbcu_cli.weights.cache import get_manifest

    entry = get_manifest().get(name)
    return resolve_model(name, task=entry.task, scale=entry.scale).model


def chains(plan: InferencePlan, h: int, w: int, bands: list[int]) -> dict[str, UnitChain]:
    cut = next((i for i, u in enumerate(plan.units) if u.factor > 1), len(plan.units))
    units, nxt = plan.units[:cut], (plan.units[cut] if cut < len(plan.units) else None)
    tail = plan.tail_act if nxt is None else kernels.ACT_NONE
    out = {"one by one": UnitChain(units, h, w, plan.head_act, tail, nxt, wavefront=False)}
    for b in bands:
        out[f"band {b}"] = UnitChain(units, h, w, plan.head_act, tail, nxt, wavefront=True, band=b)
    return out


def measure(plan: InferencePlan, h: int, w: int, args: argparse.Namespace) -> dict[str, list[float]]:
    head = np.random.default_rng(0).standard_normal((plan.units[0].cin, h, w)).astype(np.float32)
    variants = chains(plan, h, w, args.bands)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, chain in variants.items():
            chain.run(head, args.threads)
            start = time.perf_counter()
            chain.run(head, args.threads)
            times[name].append((time.perf_counter() - start) * 1e9 / (h * w))
    ref = variants["one by one"].feature
    for name, chain in variants.items():
        assert np.array_equal(chain.feature, ref), f"{name}: features differ"
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bbcu-fast-x4")
    ap.add_argument("--sizes", default="320x180,640x360,1280x720")
    ap.add_argument("--bands", default="4,8,16", type=lambda s: [int(b) for b in s.split(",")])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-amx", action="store_true", help="units on VPOPCNTQ even where AMX is usable")
    args = ap.parse_args()
    if args.no_amx:
        kernels.use_amx(False)
    plan = build_plan(load(args.model))
    print(f"{args.model}, {args.threads} threads, kernel {kernels.status().label}; ns per pixel, median / min\n")
    print("| size | " + " | ".join(["one by one"] + [f"band {b}" for b in args.bands]) + " |")
    print("|---" * (len(args.bands) + 2) + "|")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        t = measure(plan, h, w, args)
        print(
            f"| {size} | " + " | ".join(f"{statistics.median(v):.0f} / {min(v):.0f}" for v in t.values()) + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
