"""Per-layer timings of one 64-channel 3x3 BBCU unit at 180x320 (and optionally a whole model).

    python benchmarks/bench_unit.py [--threads 2] [--repeat 15] [--e2e]

Prints the median and the minimum of ``--repeat`` runs (after warm-up) for: torch fp32 conv (NCHW and
channels-last), the packed binary conv alone (raw counts, no epilogue) and a whole packed unit
(binary conv + alpha/RPReLU epilogue + residual + packing for the next unit). ``--e2e`` also
times a random BBCU-M x4 (64 ch, 16 blocks) on a 320x180 input, float vs packed.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bbcu_cli import kernels  # noqa: E402
from bbcu_cli.engine.packed import PackedBackend, PackedProgram, packed_status  # noqa: E402
from bbcu_cli.engine.packed_plan import InferencePlan, fold_unit  # noqa: E402
from bbcu_cli.loading import LoadedModel, ModelSpec, build_model  # noqa: E402
from bbcu_cli.models.binary import BinaryUnit  # noqa: E402


def timed_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> tuple[float, float]:
    """(median, min) wall time in ms; the min is the better estimate on a shared machine."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def randomize(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = 0.05 if "binary_conv" in name else (1.0 / (p[0].numel()) ** 0.5 if p.dim() == 4 else 0.3)
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def unit_program(c: int, h: int, w: int) -> PackedProgram:
    units = [BinaryUnit(c), BinaryUnit(c)]
    for i, u in enumerate(units):
        randomize(u, i)
    plan = InferencePlan("dncnn", [fold_unit(u) for u in units], kernels.ACT_LRELU, kernels.ACT_NONE, units[0])
    return PackedProgram(plan, h, w)


def bench_layer(c: int, h: int, w: int, threads: int, repeat: int) -> dict[str, tuple[float, float]]:
    torch.set_num_threads(threads)
    x = torch.randn(1, c, h, w)
    weight = torch.randn(c, c, 3, 3)
    x_cl, w_cl = x.contiguous(memory_format=torch.channels_last), weight.contiguous(memory_format=torch.channels_last)
    res = {}
    with torch.inference_mode():
        res["torch fp32 conv NCHW"] = timed_ms(lambda: F.conv2d(x, weight, padding=1), repeat)
        res["torch fp32 conv channels-last"] = timed_ms(lambda: F.conv2d(x_cl, w_cl, padding=1), repeat)
    prog = unit_program(c, h, w)
    prog.entry.src = x.data_ptr()
    kernels.run_entry(prog.entry, threads)
    step = prog.steps[0]
    counts = torch.empty(h * w * c, dtype=torch.int32)
    conv_only = kernels.UnitArgs.from_buffer_copy(step)
    conv_only.counts = ctypes.c_void_p(counts.data_ptr())
    res["packed binary conv (counts only)"] = timed_ms(lambda: kernels.run_unit(conv_only, threads), repeat)
    res["packed unit (conv+epilogue+residual+pack)"] = timed_ms(lambda: kernels.run_unit(step, threads), repeat)
    res["packed entry (act+NCHW->NHWC+pack)"] = timed_ms(lambda: kernels.run_entry(prog.entry, threads), repeat)
    return res


def bench_e2e(threads: int, repeat: int) -> dict[str, tuple[float, float]]:
    torch.set_num_threads(threads)
    spec = ModelSpec("bbcu-m", "sr", 4, 3, 64, 16, 130.0)
    model = build_model(spec).eval()
    randomize(model)
    loaded = LoadedModel(model, spec, "random")
    x = torch.rand(1, 3, 180, 320)
    packed = PackedBackend(loaded, threads=threads)
    with torch.inference_mode():
        t_float = timed_ms(lambda: model(x), repeat, warmup=1)
        ref = model(x)
    t_packed = timed_ms(lambda: packed(x), repeat, warmup=1)
    diff = float((packed(x) - ref).abs().max())
    return {"float model": t_float, "packed model": t_packed, "max abs diff": (diff, diff)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--e2e", action="store_true", help="also time a BBCU-M x4 64ch/16 blocks model")
    args = ap.parse_args()
    st = packed_status()
    if not st.available:
        sys.exit(f"packed kernels unavailable: {st.reason}")
    print(f"isa={st.isa} features={','.join(st.features)} threads={args.threads}")
    res = bench_layer(args.channels, 180, 320, args.threads, args.repeat)
    ref_med, ref_min = res["torch fp32 conv NCHW"]
    print(f"{args.channels}-channel 3x3 layer at 180x320 (median / min of {args.repeat}):")
    for name, (med, low) in res.items():
        print(f"  {name:45s} {med:8.2f} / {low:8.2f} ms   x{ref_med / med:5.1f} / x{ref_min / low:5.1f} vs fp32 NCHW")
    if args.e2e:
        e2e = bench_e2e(args.threads, max(3, args.repeat // 5))
        (fm, fl), (pm, pl) = e2e["float model"], e2e["packed model"]
        print("BBCU-M x4, 64 ch, 16 blocks, 320x180 -> 1280x720 (median / min):")
        print(
            f"  float {fm:.0f} / {fl:.0f} ms, packed {pm:.0f} / {pl:.0f} ms, "
            f"ratio x{fm / pm:.1f} / x{fl / pl:.1f}, max abs diff {e2e['max abs diff'][0]:.1e}"
        )


if __name__ == "__main__":
    main()
