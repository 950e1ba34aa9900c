"""``bbcu upscale | denoise | deblock``: one command per task over shared options.

One rule for existing outputs everywhere: an output that is already there is *skipped*
(status ``skipped``, exit 0) unless ``--overwrite`` is given, so rerunning a command finishes
what is missing and never redoes or replaces finished work. Listing a folder leaves out files
this tool wrote (see :func:`bbcu_cli.batch.list_inputs`), and a folder input goes by default to
a sibling folder (``photos/`` -> ``photos_denoised/``), so no output of a run is an input of
the next.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Optional

import typer

from ..batch import BatchItem, check_suffix, default_suffix, list_inputs, match_reference, outscale_suffix, plan_outputs, select_shard
from ..errors import UsageError
from . import options as opt
from .helptext import default_sr_scales
from .report import RunTotals, TileBar, emit_json, is_verbose, item_line, print_interrupted, print_summary, progress_bar, protocol_label, stderr_console

if TYPE_CHECKING:  # torch, numpy and the codecs are imported when a command runs (fast --help)
    from rich.progress import Progress

    from ..jobs import BatchRun, Work
    from ..loading import LoadedModel
    from ..pipeline import ItemResult, RestoreOptions
    from .runview import RunView

__all__ = ["upscale", "denoise", "deblock"]

log = logging.getLogger(__name__)
_COMMANDS = {"sr": "upscale", "denoise": "denoise", "deblock": "deblock"}
_SUPPORTED_FORMATS = "png, jpg, webp, bmp, tiff"


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
    outscale: float | None = None
    verbose: bool = False
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class Plan:
    """The items of a run and what the listing left out (earlier outputs of this tool)."""

    items: list[BatchItem]
    left_out: list[Path] = field(default_factory=list)


def _format_name(fmt: str) -> str:
    """``--format`` checked: the canonical format name, or a usage error naming the choices."""
    from ..errors import OutputError
    from ..imageio import format_for_path

    try:
        return format_for_path(Path(f"x.{fmt.lower().lstrip('.')}"), None)
    except OutputError:
        raise UsageError(f"--format {fmt} is not supported", f"use one of {_SUPPORTED_FORMATS}") from None


def _ext(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    name = _format_name(fmt)
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(name, f".{name}")


def _check_output_format(output: str | None, fmt: str | None) -> None:
    """``-o x.jpg --format png`` and ``-o x.gif`` are usage errors, not silent surprises."""
    from ..batch import _IMAGE_EXTENSIONS
    from ..imageio import SUPPORTED_EXTENSIONS

    if output is None or output == "-" or Path(output).is_dir() or output.endswith(("/", os.sep)):
        return
    ext = Path(output).suffix.lower()
    if ext not in _IMAGE_EXTENSIONS:
        return
    named = SUPPORTED_EXTENSIONS.get(ext.lstrip("."))
    if named is None:
        raise UsageError(f"-o {output}: cannot write {ext} files", "name the output .png, .jpg, .webp, .bmp or .tif")
    if fmt is not None and _format_name(fmt) != named:
        want = _ext(fmt)
        raise UsageError(f"-o {output} is a {named.upper()} name but --format is {fmt}", f"pass -o {Path(output).with_suffix(want or '')}, or drop --format")


def _check_usage(args: RunArgs) -> None:
    """Conflicts found from the arguments alone (before any file is read)."""
    if args.skip_existing and args.overwrite:
        raise UsageError("--skip-existing and --overwrite exclude each other", "existing outputs are skipped by default; pass --overwrite alone to replace them")
    if args.json_out and args.output == "-":
        raise UsageError("--json and '-o -' would both write to stdout", "write the image to a file, or drop --json")
    if args.suffix is not None:
        check_suffix(args.suffix)
    if args.fmt is not None:
        _format_name(args.fmt)
    _check_output_format(args.output, args.fmt)


def _suffix(args: RunArgs, task: str, scale: int) -> str:
    if args.suffix is not None:
        return args.suffix
    if task == "sr" and args.outscale is not None:
        return outscale_suffix(args.outscale)
    return default_suffix(task, scale)


def _plan(args: RunArgs, task: str, scale: int) -> Plan:
    """List the inputs (leaving out earlier outputs), plan each output, match references."""
    _check_usage(args)
    suffix = _suffix(args, task, scale)
    if args.inputs == ["-"]:
        plan = Plan([BatchItem(Path("-"), None)])
    else:
        listing = list_inputs(args.inputs, args.recursive, suffix=suffix, output=args.output)
        plan = Plan(select_shard(listing.items, args.shard), listing.left_out)
    if plan.items and str(plan.items[0].source) == "-" and args.output is None:
        if args.json_out:
            raise UsageError("--json and stdout output would both write to stdout", "pass -o FILE")
        args.output = "-"
    plan.left_out += [i.source for i in plan_outputs(plan.items, args.output, suffix, _ext(args.fmt))]
    match_reference(plan.items, args.ref)
    return plan


def _model_scale(task: str, args: RunArgs, scale: int | None) -> int | None:
    """The SR model scale to load: ``-s``, else the smallest default covering ``--outscale``.

    ``None`` lets ``-m`` decide (or, without ``-m``, the x4 default). Raises a usage error for
    a scale no shipped model has (with ``--outscale`` as the way) or an ``--outscale`` above it.
    """
    if task != "sr":
        return None
    shipped = default_sr_scales()
    if args.outscale is not None:
        return _scale_for_outscale(args.outscale, scale, shipped, args.model is not None)
    if scale is not None and args.model is None and shipped and scale not in shipped:
        above = [s for s in shipped if s > scale]
        hint = f"pass --outscale {scale} (runs the x{above[0]} model, then resizes to exactly {scale}x)" if above else f"shipped scales: {', '.join(map(str, shipped))}"
        raise UsageError(f"-s {scale}: no x{scale} model is shipped (bbcu models)", hint)
    return scale


def _scale_for_outscale(outscale: float, scale: int | None, shipped: list[int], has_model: bool) -> int | None:
    if outscale < 1:
        raise UsageError(f"--outscale {outscale:g}: must be at least 1", "downscale with an image editor; bbcu only enlarges")
    if scale is not None:
        if scale < outscale:
            raise UsageError(f"--outscale {outscale:g} is larger than the model scale -s {scale}", f"drop -s, or pass -s {min([s for s in shipped if s >= outscale] or [4])}")
        return scale
    if has_model:
        return None
    fits = [s for s in shipped if s >= outscale]
    if not fits:
        raise UsageError(f"--outscale {outscale:g}: the largest shipped model is x{max(shipped or [4])}", "run twice (e.g. --outscale 2.5, then again), or pick a smaller --outscale")
    return fits[0]


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
    if task == "sr" and args.outscale is not None and loaded.spec.scale < args.outscale:
        raise UsageError(f"--outscale {args.outscale:g} is larger than model {resolved.name}'s scale x{loaded.spec.scale}", "pick a model of a larger scale, or a smaller --outscale")
    return loaded, resolved.name


def _stdin() -> object:
    return sys.stdin.buffer


def _exists(path: Path) -> bool:
    """An existing output that the skip rule applies to (devices and FIFOs are written into)."""
    from ..imageio._write import special_target

    return str(path) != "-" and path.exists() and not special_target(path)


def _work(items: list[BatchItem], overwrite: bool) -> tuple[list[Work], dict[int, ItemResult]]:
    """Runnable items, and results known before running (by position in ``items``): failures,
    and outputs that exist already (skipped unless ``overwrite``)."""
    from ..jobs import Work
    from ..pipeline import ItemResult

    work: list[Work] = []
    known: dict[int, ItemResult] = {}
    for i, item in enumerate(items):
        if item.error is not None or item.output is None:
            known[i] = ItemResult(str(item.source), None, "failed", error=item.error or f"{item.source}: no output planned")
        elif not overwrite and _exists(item.output):
            known[i] = ItemResult(str(item.source), str(item.output), "skipped")
        else:
            work.append(Work(item.source, item.output, item.reference, _stdin if str(item.source) == "-" else None))
    return work, known


def _ticker(bar: Progress | None, total: int, already: int, line: Callable[[ItemResult], None] | None) -> Callable[[ItemResult], None] | None:
    if bar is None:
        return line
    task_id = bar.add_task("restoring", total=total, completed=already)

    def tick(result: ItemResult) -> None:
        bar.advance(task_id)
        if line is not None:
            line(result)

    return tick


def _per_file(args: RunArgs) -> Callable[[ItemResult], None] | None:
    """One line per finished file when stderr is not a terminal (logs, CI), with ``--ref``, or ``-v``."""
    if args.quiet or args.json_out:
        return None
    if stderr_console.is_terminal and args.ref is None and not (args.verbose or is_verbose()):
        return None
    return lambda result: stderr_console.print(item_line(result), soft_wrap=True)


def _run_items(view: RunView, items: list[BatchItem], ropts: RestoreOptions, args: RunArgs) -> BatchRun:
    from ..jobs import BatchRun, run_batch

    work, known = _work(items, args.overwrite)
    line = _per_file(args)
    if line is not None:
        for result in known.values():
            line(result)
    if not work:
        return BatchRun(_merge(len(items), known, []))
    show = not args.quiet and not args.json_out
    with progress_bar(show and len(work) > 1 and stderr_console.is_terminal) as bar:
        outcome = run_batch(view, work, ropts, args.jobs, _ticker(bar, len(items), len(known), line))  # type: ignore[arg-type]
    outcome.results = _merge(len(items), known, outcome.results)
    return outcome


def _merge(count: int, known: dict[int, ItemResult], done: list[ItemResult]) -> list[ItemResult]:
    """Known results at their input positions, the run's results (in order) in between."""
    ordered = iter(done)
    merged: list[ItemResult] = []
    for i in range(count):
        result = known.get(i) or next(ordered, None)
        if result is not None:
            merged.append(result)
    return merged


def _view(loaded: LoadedModel, args: RunArgs, single: bool) -> RunView:
    """The engine for this run (backend, device, threads, tile, ensemble), seen through a
    :class:`RunView` that resizes to ``--outscale`` and shows tile progress for one image."""
    from ..engine.restore import Restorer
    from .runview import RunView

    restorer = Restorer(loaded, args.backend, args.device, args.threads or None, args.tile, args.ensemble)
    bar = TileBar(single and not args.quiet and not args.json_out)
    outscale = args.outscale if loaded.spec.task == "sr" else None
    return RunView(restorer, outscale, bar)


def _options(args: RunArgs, sigma: float | None, scale: int) -> RestoreOptions:
    """Per-item settings. ``--max-pixels`` counts output pixels at the model's scale (0: no
    limit; the pipeline checks ``W * H * scale**2`` from the header).

    Existing outputs are skipped unless ``--overwrite`` (also when another process writes one
    while this run works)."""
    from ..pipeline import RestoreOptions

    return RestoreOptions(sigma, args.fmt, args.overwrite, not args.overwrite, args.max_pixels, scale)


def _isa(backend: str) -> str:
    if "packed" not in backend:
        return backend
    from .. import kernels

    return f"{backend} ({kernels.backend_status().isa})"


def _scale_text(view: RunView) -> str:
    if view.spec.task != "sr":
        return ""
    if view.resizes:
        return f", x{view.inner.scale} model resized to x{view.scale:g}"
    return f", x{view.inner.scale}"


def _header(task: str, name: str, view: RunView, count: int) -> str:
    """The one line saying what runs: model, backend and ISA, device, threads, tile plan."""
    tiles = f"tile {view.inner.tile} px" if view.inner.tile else "tiles auto (full-width stripes from free memory)"
    ens = ", ensemble x8" if view.ensemble else ""
    return f"{_COMMANDS[task]}: {count} image(s) with {name}{_scale_text(view)}{ens} | backend {_isa(view.backend_name)} | device {view.device} | {view.threads} thread(s) | {tiles}"


def _protocol(task: str, scale: float) -> str:
    """How ``--ref`` metrics are measured for this task (see :func:`bbcu_cli.metrics.metrics_for_task`)."""
    import math

    from ..metrics import metrics_for_task

    space, crop = metrics_for_task(task, math.ceil(scale))
    label = protocol_label(space, crop)
    return f"{label} (RGB for colour images)" if space == "gray" else label


def _note_left_out(left_out: list[Path], quiet: bool) -> None:
    if not left_out or quiet:
        return
    names = ", ".join(p.name for p in left_out[:3]) + (", ..." if len(left_out) > 3 else "")
    stderr_console.print(f"note: left out {len(left_out)} file(s) named like outputs of bbcu ({names}); name them explicitly to process them", markup=False, soft_wrap=True)


def _location(items: list[BatchItem]) -> str | None:
    """Where the outputs went: the file, or the folder holding all of them."""
    outs = [str(i.output) for i in items if i.output is not None and str(i.output) != "-"]
    if not outs:
        return None
    if len(outs) == 1:
        return outs[0]
    return os.path.commonpath([os.path.dirname(o) or "." for o in outs]) + os.sep


def run(task: str, args: RunArgs, scale: int | None = None, sigma: float | None = None) -> None:
    """Plan, load, restore every item, report; exits 1 if any item failed."""
    totals = RunTotals()
    model_scale = _model_scale(task, args, scale)
    plan = _plan(args, task, model_scale or 4)  # usage errors come before torch is imported
    _note_left_out(plan.left_out, args.quiet)
    loaded, name = _load(args, task, model_scale)
    log.debug("model %s loaded in %.2f s", name, totals.seconds())
    if task == "sr" and loaded.spec.scale != (model_scale or 4):
        plan = _plan(args, task, loaded.spec.scale)
    if sigma is not None and not loaded.spec.noise_channel:
        stderr_console.print(f"warning: model {name} has no noise-level input; --sigma {sigma:g} is ignored", markup=False)
    view = _view(loaded, args, len(plan.items) == 1)
    if view.choice.reason:
        log.info("packed backend off: %s", view.choice.reason)
    log.debug("backend %s chosen (kernel %s)%s", view.backend_name, _isa(view.backend_name), f": {view.choice.reason}" if view.choice.reason else "")
    if not args.quiet and not args.json_out:
        stderr_console.print(_header(task, name, view, len(plan.items)), markup=False, soft_wrap=True)
    totals.batch_start = time.perf_counter()
    batch = _run_items(view, plan.items, _options(args, sigma, view.inner.scale), args)
    totals.pixels_out, totals.location = view.pixels_out, _location(plan.items)
    totals.protocol = _protocol(task, view.scale) if args.ref else None
    _report(task, name, view, batch, args, plan, totals)
    if batch.interrupted:
        print_interrupted(len(batch.results), len(plan.items))
        raise typer.Exit(130)
    if any(r.status == "failed" for r in batch.results):
        raise typer.Exit(1)


def _json_extra(view: RunView, batch: BatchRun, totals: RunTotals) -> dict[str, object]:
    extra: dict[str, object] = {"backend": view.backend_name, "ensemble": view.ensemble, "interrupted": batch.interrupted, "protocol": totals.protocol}
    if view.spec.task == "sr":
        extra.update({"model_scale": view.inner.scale, "outscale": view.scale})
    return extra


def _report(task: str, name: str, view: RunView, batch: BatchRun, args: RunArgs, plan: Plan, totals: RunTotals) -> None:
    results = batch.results
    if args.json_out:
        refs = {str(i.source): str(i.reference) if i.reference else None for i in plan.items}
        emit_json(_COMMANDS[task], name, results, _json_extra(view, batch, totals), refs)
    if args.json_out or args.quiet:
        for r in results:
            if r.status == "failed":
                stderr_console.print(f"failed: {r.error}", markup=False, soft_wrap=True)
        return
    if _per_file(args) is None:
        for r in results:
            if r.status == "ok" and r.sigma is not None:
                stderr_console.print(f"{r.input}: noise level sigma = {r.sigma:.1f}", markup=False)
    print_summary(results, totals=totals)


def _args(**kw: object) -> RunArgs:
    kw["fmt"] = kw.pop("format_")
    return RunArgs(**kw)  # type: ignore[arg-type]


Scale = Annotated[Optional[int], typer.Option("-s", "--scale", help="Model scale: 2, 3 or 4 where a model of that scale is shipped (default 4, or the model's); see --outscale for any other factor.")]
OutScale = Annotated[Optional[float], typer.Option("--outscale", min=1.0, help="Any output scale (1.5, 3, 3.5, ...): runs the smallest shipped model of at least that scale, then resizes with an antialiased (area) filter to exactly round(outscale * size).")]
Jobs = Annotated[int, typer.Option("-j", "--jobs", min=1, help="Decode and encode up to N images ahead of and behind the model on threads (many small images); results keep input order.")]
Sigma = Annotated[Optional[float], typer.Option("--sigma", min=0, max=255, help="Noise level on the 0-255 scale (default: estimated from each image and reported).")]


def upscale(inputs: opt.Inputs, scale: Scale = None, outscale: OutScale = None, output: opt.Output = None, model: opt.Model = None, ref: opt.Ref = None, tile: opt.Tile = 0, device: opt.Device = "auto", threads: opt.Threads = 0, backend: opt.Backend = "auto", suffix: opt.SuffixSR = None, format_: opt.Format = None, skip_existing: opt.SkipExisting = False, overwrite: opt.Overwrite = False, recursive: opt.Recursive = False, json_out: opt.JsonOut = False, quiet: opt.Quiet = False, verbose: opt.Verbose = False, offline: opt.Offline = False, k: opt.K = None, max_pixels: opt.MaxPixels = 500_000_000, shard: opt.Shard = None, jobs: Jobs = 1, ensemble: opt.EnsembleSR = False) -> None:
    """Upscale images with a BBCU super-resolution model: -s 2/3/4, or --outscale for any factor.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    if scale is not None and scale not in (2, 3, 4):
        raise UsageError(f"-s {scale}: scale must be 2, 3 or 4", f"pass -s 2, -s 3 or -s 4, or --outscale {scale} for another factor")
    kw = dict(locals())
    kw.pop("scale")
    run("sr", _args(**kw), scale=scale)


def denoise(inputs: opt.Inputs, sigma: Sigma = None, output: opt.Output = None, model: opt.Model = None, ref: opt.Ref = None, tile: opt.Tile = 0, device: opt.Device = "auto", threads: opt.Threads = 0, backend: opt.Backend = "auto", suffix: opt.SuffixDenoise = None, format_: opt.Format = None, skip_existing: opt.SkipExisting = False, overwrite: opt.Overwrite = False, recursive: opt.Recursive = False, json_out: opt.JsonOut = False, quiet: opt.Quiet = False, verbose: opt.Verbose = False, offline: opt.Offline = False, k: opt.K = None, max_pixels: opt.MaxPixels = 500_000_000, shard: opt.Shard = None, jobs: Jobs = 1, ensemble: opt.EnsembleDenoise = False) -> None:
    """Remove Gaussian noise; --sigma steers models with a noise-level input.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    kw = dict(locals())
    kw.pop("sigma")
    run("denoise", _args(**kw), sigma=sigma)


def deblock(inputs: opt.Inputs, output: opt.Output = None, model: opt.Model = None, ref: opt.Ref = None, tile: opt.Tile = 0, device: opt.Device = "auto", threads: opt.Threads = 0, backend: opt.Backend = "auto", suffix: opt.SuffixDeblock = None, format_: opt.Format = None, skip_existing: opt.SkipExisting = False, overwrite: opt.Overwrite = False, recursive: opt.Recursive = False, json_out: opt.JsonOut = False, quiet: opt.Quiet = False, verbose: opt.Verbose = False, offline: opt.Offline = False, k: opt.K = None, max_pixels: opt.MaxPixels = 500_000_000, shard: opt.Shard = None, jobs: Jobs = 1, ensemble: opt.EnsembleDeblock = False) -> None:
    """Remove JPEG blocking and ringing artifacts.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    run("deblock", _args(**locals()))
