"""``bbcu upscale | denoise | deblock``: one command per task over shared options."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Optional

import typer

from ..batch import BatchItem, default_suffix, expand_inputs, match_reference, plan_outputs, select_shard
from ..errors import UsageError
from . import options as opt
from .report import emit_json, print_interrupted, print_summary, progress_bar, stderr_console

if TYPE_CHECKING:  # torch, numpy and the codecs are imported when a command runs (fast --help)
    from rich.progress import Progress

    from ..engine.restore import Restorer
    from ..jobs import BatchRun, Work
    from ..loading import LoadedModel
    from ..pipeline import ItemResult, RestoreOptions

__all__ = ["upscale", "denoise", "deblock"]

log = logging.getLogger(__name__)


@dataclass
class RunArgs:
    """Everything the three restore commands share."""

    inputs: list[str]
    output: str | None = None
    model: str | None = None
    ref: str | None = None
    tile: int = 0
    device: str = "auto"
    threads: int = 0
    backend: str = "auto"
    suffix: str | None = None
    fmt: str | None = None
    skip_existing: bool = False
    overwrite: bool = False
    recursive: bool = False
    json_out: bool = False
    quiet: bool = False
    offline: bool = False
    k: float | None = None
    max_pixels: int = 0
    shard: str | None = None
    jobs: int = 1
    ensemble: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def _ext(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    from ..imageio import format_for_path

    name = format_for_path(Path(f"x.{fmt.lower().lstrip('.')}"), None)
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(name, f".{name}")


def _plan(args: RunArgs, task: str, scale: int) -> list[BatchItem]:
    if args.skip_existing and args.overwrite:
        raise UsageError("--skip-existing and --overwrite exclude each other", "pick one")
    if args.json_out and args.output == "-":
        raise UsageError("--json and '-o -' would both write to stdout", "write the image to a file, or drop --json")
    if args.inputs == ["-"]:
        items = [BatchItem(Path("-"), None)]
    else:
        items = select_shard(expand_inputs(args.inputs, args.recursive), args.shard)
    suffix = default_suffix(task, scale) if args.suffix is None else args.suffix
    if items and str(items[0].source) == "-" and args.output is None:
        if args.json_out:
            raise UsageError("--json and stdout output would both write to stdout", "pass -o FILE")
        args.output = "-"
    plan_outputs(items, args.output, suffix, _ext(args.fmt))
    match_reference(items, args.ref)
    return items


def _load(args: RunArgs, task: str, scale: int | None) -> tuple[LoadedModel, str]:
    from ..loading import load_model
    from ..weights.resolve import resolve

    offline = args.offline or os.environ.get("BBCU_OFFLINE", "") not in ("", "0")
    want = (scale if args.model else scale or 4) if task == "sr" else None
    resolved = resolve(args.model, task, want, offline=offline)
    k = args.k if args.k is not None else resolved.k
    loaded = load_model(resolved.path, k=k, task=task)  # type: ignore[arg-type]
    if loaded.spec.task != task:
        raise UsageError(f"model {resolved.name} is a {loaded.spec.task} model, not {task}", "pick a model for this task (bbcu models)")
    if task == "sr" and scale is not None and loaded.spec.scale != scale:
        raise UsageError(f"model {resolved.name} upscales x{loaded.spec.scale}, not x{scale}", f"pass -s {loaded.spec.scale} or another model")
    return loaded, resolved.name


def _stdin() -> object:
    return sys.stdin.buffer


def _work(items: list[BatchItem]) -> tuple[list[Work], dict[int, ItemResult]]:
    """Runnable items, and failures known before running (by position in ``items``)."""
    from ..jobs import Work
    from ..pipeline import ItemResult

    work: list[Work] = []
    known: dict[int, ItemResult] = {}
    for i, item in enumerate(items):
        if item.error is not None or item.output is None:
            known[i] = ItemResult(str(item.source), None, "failed", error=item.error or f"{item.source}: no output planned")
        else:
            work.append(Work(item.source, item.output, item.reference, _stdin if str(item.source) == "-" else None))
    return work, known


def _ticker(bar: Progress | None, total: int, already: int) -> Callable[[ItemResult], None] | None:
    if bar is None:
        return None
    task_id = bar.add_task("restoring", total=total, completed=already)
    return lambda _result: bar.advance(task_id)


def _run_items(restorer: Restorer, items: list[BatchItem], ropts: RestoreOptions, show: bool, jobs: int) -> BatchRun:
    from ..jobs import run_batch

    work, known = _work(items)
    with progress_bar(show and len(items) > 1) as bar:
        outcome = run_batch(restorer, work, ropts, jobs, _ticker(bar, len(items), len(known)))
    outcome.results = _merge(len(items), known, outcome.results)
    return outcome


def _merge(count: int, known: dict[int, ItemResult], done: list[ItemResult]) -> list[ItemResult]:
    """Known failures at their input positions, the run's results (in order) in between."""
    ordered = iter(done)
    merged: list[ItemResult] = []
    for i in range(count):
        result = known.get(i) or next(ordered, None)
        if result is not None:
            merged.append(result)
    return merged


def _restorer(loaded: LoadedModel, args: RunArgs) -> Restorer:
    """The engine for this run, with the command's backend, device, threads, tile, ensemble."""
    from ..engine.restore import Restorer

    return Restorer(loaded, args.backend, args.device, args.threads or None, args.tile, args.ensemble)


def _options(args: RunArgs, sigma: float | None, scale: int) -> RestoreOptions:
    """Per-item settings; ``--max-pixels`` (an output size) becomes an input pixel limit."""
    from ..pipeline import RestoreOptions

    limit = args.max_pixels // (scale**2) if args.max_pixels else None
    return RestoreOptions(sigma, args.fmt, args.overwrite, args.skip_existing, limit)


def run(task: str, args: RunArgs, scale: int | None = None, sigma: float | None = None) -> None:
    """Plan, load, restore every item, report; exits 1 if any item failed."""
    items = _plan(args, task, scale or 4)  # usage errors come before torch is imported
    loaded, name = _load(args, task, scale)
    if task == "sr":
        scale = loaded.spec.scale
        if args.suffix is None:
            plan_outputs(items, args.output, default_suffix(task, scale), _ext(args.fmt))
    if sigma is not None and not loaded.spec.noise_channel:
        stderr_console.print(f"warning: model {name} has no noise-level input; --sigma {sigma:g} is ignored", markup=False)
    restorer = _restorer(loaded, args)
    if restorer.choice.reason and not args.quiet:
        log.info("packed backend off: %s", restorer.choice.reason)
    ropts = _options(args, sigma, restorer.scale)
    batch = _run_items(restorer, items, ropts, not args.quiet and not args.json_out, args.jobs)
    _report(task, name, restorer, batch, args)
    if batch.interrupted:
        print_interrupted(len(batch.results), len(items))
        raise typer.Exit(130)
    if any(r.status == "failed" for r in batch.results):
        raise typer.Exit(1)


def _report(task: str, name: str, restorer: Restorer, batch: BatchRun, args: RunArgs) -> None:
    command = {"sr": "upscale", "denoise": "denoise", "deblock": "deblock"}[task]
    results = batch.results
    if args.json_out:
        emit_json(command, name, results, {"backend": restorer.backend_name, "ensemble": restorer.ensemble, "interrupted": batch.interrupted})
    if args.json_out or args.quiet:
        for r in results:
            if r.status == "failed":
                stderr_console.print(f"failed: {r.error}", markup=False, soft_wrap=True)
        return
    for r in results:
        if r.status == "ok" and r.sigma is not None:
            stderr_console.print(f"{r.input}: noise level sigma = {r.sigma:.1f}", markup=False)
    print_summary(results)


def _args(**kw: object) -> RunArgs:
    kw["fmt"] = kw.pop("format_")
    return RunArgs(**kw)  # type: ignore[arg-type]


Scale = Annotated[Optional[int], typer.Option("-s", "--scale", help="Upscaling factor: 2, 3 or 4 (default 4, or the model's).")]
Jobs = Annotated[int, typer.Option("-j", "--jobs", min=1, help="Decode and encode up to N images ahead of and behind the model on threads (many small images); results keep input order.")]
Sigma = Annotated[Optional[float], typer.Option("--sigma", min=0, max=255, help="Noise level on the 0-255 scale (default: estimated from each image).")]


def upscale(inputs: opt.Inputs, scale: Scale = None, output: opt.Output = None, model: opt.Model = None, ref: opt.Ref = None, tile: opt.Tile = 0, device: opt.Device = "auto", threads: opt.Threads = 0, backend: opt.Backend = "auto", suffix: opt.Suffix = None, format_: opt.Format = None, skip_existing: opt.SkipExisting = False, overwrite: opt.Overwrite = False, recursive: opt.Recursive = False, json_out: opt.JsonOut = False, quiet: opt.Quiet = False, offline: opt.Offline = False, k: opt.K = None, max_pixels: opt.MaxPixels = 500_000_000, shard: opt.Shard = None, jobs: Jobs = 1, ensemble: opt.Ensemble = False) -> None:
    """Upscale images x2, x3 or x4 with a BBCU super-resolution model."""
    if scale is not None and scale not in (2, 3, 4):
        raise UsageError(f"-s {scale}: scale must be 2, 3 or 4", "pass -s 2, -s 3 or -s 4")
    kw = dict(locals())
    kw.pop("scale")
    run("sr", _args(**kw), scale=scale)


def denoise(inputs: opt.Inputs, sigma: Sigma = None, output: opt.Output = None, model: opt.Model = None, ref: opt.Ref = None, tile: opt.Tile = 0, device: opt.Device = "auto", threads: opt.Threads = 0, backend: opt.Backend = "auto", suffix: opt.Suffix = None, format_: opt.Format = None, skip_existing: opt.SkipExisting = False, overwrite: opt.Overwrite = False, recursive: opt.Recursive = False, json_out: opt.JsonOut = False, quiet: opt.Quiet = False, offline: opt.Offline = False, k: opt.K = None, max_pixels: opt.MaxPixels = 500_000_000, shard: opt.Shard = None, jobs: Jobs = 1, ensemble: opt.Ensemble = False) -> None:
    """Remove Gaussian noise; --sigma steers models with a noise-level input."""
    kw = dict(locals())
    kw.pop("sigma")
    run("denoise", _args(**kw), sigma=sigma)


def deblock(inputs: opt.Inputs, output: opt.Output = None, model: opt.Model = None, ref: opt.Ref = None, tile: opt.Tile = 0, device: opt.Device = "auto", threads: opt.Threads = 0, backend: opt.Backend = "auto", suffix: opt.Suffix = None, format_: opt.Format = None, skip_existing: opt.SkipExisting = False, overwrite: opt.Overwrite = False, recursive: opt.Recursive = False, json_out: opt.JsonOut = False, quiet: opt.Quiet = False, offline: opt.Offline = False, k: opt.K = None, max_pixels: opt.MaxPixels = 500_000_000, shard: opt.Shard = None, jobs: Jobs = 1, ensemble: opt.Ensemble = False) -> None:
    """Remove JPEG blocking and ringing artifacts."""
    run("deblock", _args(**locals()))
