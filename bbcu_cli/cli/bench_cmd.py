"""``bbcu bench``: time every available backend on the same input and check they agree."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..archs import default_arch
from ..archs import names as arch_names
from ..errors import BbcuError, UsageError, option
from . import options as opt
from .report import stderr_console

if TYPE_CHECKING:  # these import torch: only when the command runs
    from rich.table import Table

    from ..bench import BenchResult
    from ..engine.restore import Restorer
    from ..loading import LoadedModel, ModelSpec

__all__ = ["bench_command"]

MAX_BENCH_INPUT_PIXELS = 16_777_216  # 4096 x 4096 input pixels
MAX_FEAT = 512
MAX_DEPTH = 128


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size '{text}' is not WxH", "for example --size 320x180") from None
    if w < 1 or h < 1:
        raise UsageError(f"--size {text} must be positive", "for example --size 320x180")
    if w * h > MAX_BENCH_INPUT_PIXELS:
        raise UsageError(
            f"--size {text} is {w * h / 1e6:,.0f} MP; bench takes at most {MAX_BENCH_INPUT_PIXELS / 1e6:.0f} MP",
            "time a smaller input, e.g. --size 3840x2160 (speed is per pixel)",
        )
    return w, h


def _random_spec(arch: str, scale: int, feat: int, depth: int) -> ModelSpec:
    """The spec of a random ``arch`` model for timing: its family's first task, 3 channels."""
    from .. import archs

    family = archs.find(arch)
    if family is None:
        known = archs.names()
        raise UsageError(f"--arch {arch} unknown", f"use {', '.join(known[:-1])} or {known[-1]}")
    _in_range("--feat", feat, 1, MAX_FEAT)
    _in_range("--depth", depth, 1, MAX_DEPTH)
    task = family.tasks[0]
    if task == "sr" and scale not in (2, 3, 4):
        raise UsageError(f"-s {scale}: scale must be 2, 3 or 4", "pass -s 2, -s 3 or -s 4")
    return archs.ModelSpec(arch, task, scale if task == "sr" else 1, 3, feat, depth, 130.0 * feat / 64)  # type: ignore[arg-type]


def _in_range(option: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UsageError(f"{option} {value} is out of range", f"pass {low} to {high}")


def _load(model: str | None, spec: ModelSpec) -> LoadedModel:
    """A random model (no ``-m``), a checkpoint path, or a manifest name of any task."""
    from ..bench import random_model
    from ..factory import resolve_model

    if model is None:
        try:
            return random_model(spec)
        except (ValueError, RuntimeError) as exc:  # the architecture's own limits
            raise UsageError(
                f"cannot build a random {spec.arch} with --feat {spec.num_feat} --depth {spec.depth}: {exc}",
                "pick other --feat/--depth values",
            ) from None
    chosen = resolve_model(model, task=None)
    chosen.model.source = chosen.name
    return chosen.model


def _restorers(loaded: LoadedModel, backends: list[str], threads: int) -> tuple[dict[str, Restorer], dict[str, str]]:
    from ..engine.backends import BACKEND_NAMES
    from ..engine.restore import Restorer

    unknown = [name for name in backends if name not in BACKEND_NAMES]
    if unknown:
        raise UsageError(f"unknown backend '{unknown[0]}'", f"use {option('backend')} {', '.join(BACKEND_NAMES)}")
    restorers: dict[str, Restorer] = {}
    skipped: dict[str, str] = {}
    for name in backends:
        try:
            # one forward pass: the backends' speed, not a model's self-ensemble copies
            restorers[name] = Restorer(loaded, backend=name, device="cpu", threads=threads, tile=0, copies=1)
        except BbcuError as exc:
            skipped[name] = exc.message_for_cli()
    return restorers, skipped


def _table(result: BenchResult) -> Table:
    from rich.table import Table

    table = Table(title=f"{result.model} at {result.size[0]}x{result.size[1]}, {result.threads} threads")
    for col in ("backend", "median s", "MP/s", "speed-up", "peak MB", "max |diff|"):
        table.add_column(col, justify="right")
    speed = result.speedup()
    for name, t in result.backends.items():
        table.add_row(
            name,
            f"{t.median_s:.4f}",
            f"{t.mpix_s:.3f}",
            f"{speed.get(name, 1.0):.1f}x",
            f"{t.peak_rss_mb:.0f}",
            f"{t.max_abs_diff:.2e}",
        )
    return table


def bench_command(
    model: opt.Model = None,
    size: Annotated[str, typer.Option("--size", help="Input size WxH.")] = "320x180",
    backend: Annotated[
        Optional[list[str]], typer.Option("--backend", help="Backends to time (repeatable); default: float and packed.")
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=0, max=opt.MAX_THREADS, help="CPU threads (0: torch default).")
    ] = 0,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Timed runs per backend (after one warm-up).")] = 5,
    arch: Annotated[
        str, typer.Option("--arch", help=f"Without -m: random model of this architecture ({', '.join(arch_names())}).")
    ] = default_arch("sr"),
    scale: Annotated[int, typer.Option("-s", "--scale", help="Without -m: SR scale of the random model.")] = 4,
    feat: Annotated[int, typer.Option("--feat", help="Without -m: feature channels.")] = 64,
    depth: Annotated[int, typer.Option("--depth", help="Without -m: blocks (SR) or layers (dncnn).")] = 16,
    json_out: opt.JsonOut = False,
) -> None:
    """Time the float and packed backends on the same input (median of --repeat runs).

    Prints seconds, megapixels/s (input pixels), speed-up over float, peak memory, the largest
    output difference, and which CPU features the packed kernel uses (or why it is off).
    """
    from ..bench import run_bench
    from ..engine.devices import resolve_device, set_threads

    width, height = _size(size)  # usage errors before anything loads
    resolve_device("cpu")
    used = set_threads(threads or None)
    loaded = _load(model, _random_spec(arch, scale, feat, depth))
    restorers, skipped = _restorers(loaded, backend or ["float", "packed"], threads or used)
    if "float" not in restorers:
        raise UsageError("the float backend is the baseline and must be included", "add --backend float")
    try:
        result = run_bench(restorers, (width, height), repeat, used, loaded.source)
    except MemoryError:
        raise UsageError(f"not enough memory to time --size {size}", "pass a smaller --size") from None
    result.skipped = skipped
    _kernel_info(result)
    if json_out:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return
    stderr_console.print(_table(result))
    for name, why in skipped.items():
        stderr_console.print(f"{name}: off: {why}", markup=False)
    if result.isa:
        stderr_console.print(f"packed kernel ISA: {result.isa} ({', '.join(result.features)})", markup=False)


def _kernel_info(result: BenchResult) -> None:
    try:
        from ..engine.packed import packed_status
    except ImportError:
        return
    status = packed_status()
    result.isa = status.label if status.available else ""
    result.features = list(status.features)
