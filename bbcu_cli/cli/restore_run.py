"""Run a restore command: plan, load the model, restore every item, report.

:func:`run` is what ``bbcu upscale | denoise | deblock`` call with their :class:`RunArgs`.
Outputs that exist already are skipped unless ``--overwrite`` (see :mod:`.restore_cmd`).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import typer

from ..batch.plan import BatchItem
from ..errors import UsageError
from ..imagefiles._png import set_encode_threads
from .report import RunTotals, TileBar, print_interrupted, progress_bar, stderr_console
from .restore_plan import RunArgs, model_scale, plan_items
from .restore_report import header, isa_label, location, note_left_out, per_file_line, protocol, report

if TYPE_CHECKING:  # torch, numpy and the codecs are imported when a command runs (fast --help)
    from rich.progress import Progress

    from ..batch.item import ItemResult, RestoreOptions
    from ..batch.run import BatchRun, Work
    from ..lite import LiteModel
    from ..loading import LoadedModel
    from .runview import RunView

__all__ = ["run"]

log = logging.getLogger(__name__)


def run(args: RunArgs) -> None:
    """Plan, load, restore every item, report; exits 1 if any item failed (130 if interrupted)."""
    totals = RunTotals()
    want = model_scale(args)
    plan = plan_items(args, want or 4)  # usage errors come before torch is imported
    note_left_out(plan.left_out, args.report.quiet)
    loaded, name = _load(args, want)
    log.debug("model %s loaded in %.2f s", name, totals.seconds())
    if args.task == "sr" and loaded.spec.scale != (want or 4):
        plan = plan_items(args, loaded.spec.scale)
    if args.sigma is not None and not loaded.spec.noise_channel:
        stderr_console.print(
            f"warning: model {name} has no noise-level input; --sigma {args.sigma:g} is ignored", markup=False
        )
    view = _start_view(name, loaded, args, len(plan.items))
    set_encode_threads(args.engine.threads)  # the PNG writer's filter and deflate threads
    totals.batch_start = time.perf_counter()
    batch = _run_items(view, plan.items, _options(args, view.inner.scale), args)
    totals.pixels_out, totals.location = view.pixels_out, location(plan.items)
    totals.protocol = protocol(args.task, view.scale) if args.inputs.ref else None
    report(name, view, batch, args, plan, totals)
    if batch.interrupted:
        print_interrupted(len(batch.results), len(plan.items))
        raise typer.Exit(130)
    if any(r.status == "failed" for r in batch.results):
        raise typer.Exit(1)


def _start_view(name: str, loaded: LoadedModel | LiteModel, args: RunArgs, count: int) -> RunView:
    """The engine for the run, with its backend choice logged and the header line shown."""
    view = _view(loaded, args, count == 1)
    if view.choice.reason:
        log.info("packed backend off: %s", view.choice.reason)
    log.debug(
        "backend %s chosen (kernel %s)%s",
        view.backend_name,
        isa_label(view.backend_name, view.choice.torch_free),
        f": {view.choice.reason}" if view.choice.reason else "",
    )
    if args.report.shows_progress:
        stderr_console.print(header(args.task, name, view, count), markup=False, soft_wrap=True)
    return view


def _load(args: RunArgs, scale: int | None) -> tuple[LoadedModel | LiteModel, str]:
    """The model from the factory (``-m``, ``-s``, ``--k``, ``--offline``), checked against
    ``--outscale``; with the name it is reported under. Torch-free (:mod:`bbcu_cli.lite`) when
    the engine settings and the file allow it (``-v`` says why not)."""
    from ..factory import resolve_model

    choice = args.model
    blocker = args.engine.lite_blocker()
    chosen = resolve_model(
        choice.model,
        task=args.task,
        scale=scale,
        k=choice.k,
        offline=choice.offline,
        lite=not blocker,
        route=choice.route,
    )
    why = blocker or chosen.lite_reason
    log.debug("runtime: %s", f"torch ({why})" if why else "torch-free packed kernels (bbcu_cli.lite)")
    loaded = chosen.model
    if args.task == "sr" and args.outscale is not None and loaded.spec.scale < args.outscale:
        raise UsageError(
            f"--outscale {args.outscale:g} is larger than model {chosen.name}'s scale x{loaded.spec.scale}",
            "pick a model of a larger scale, or a smaller --outscale",
        )
    return loaded, chosen.name


def _stdin() -> object:
    """The binary stdin an input named ``-`` is read from (looked up when the item runs)."""
    return sys.stdin.buffer


def _exists(path: Path) -> bool:
    """An existing output that the skip rule applies to (devices and FIFOs are written into)."""
    from ..imagefiles._write import special_target

    return str(path) != "-" and path.exists() and not special_target(path) and not path.is_dir()  # a folder fails


def _work(items: list[BatchItem], overwrite: bool) -> tuple[list[Work], dict[int, ItemResult]]:
    """Runnable items, and results known before running (by position in ``items``): failures,
    and outputs that exist already (skipped unless ``overwrite``)."""
    from ..batch.item import ItemResult
    from ..batch.run import Work

    work: list[Work] = []
    known: dict[int, ItemResult] = {}
    for i, item in enumerate(items):
        if item.error is not None or item.output is None:
            error = item.error or f"{item.source}: no output planned"
            known[i] = ItemResult(str(item.source), None, "failed", error=error, error_cli=item.error_cli or error)
        elif not overwrite and _exists(item.output):
            known[i] = ItemResult(str(item.source), str(item.output), "skipped")
        else:
            work.append(Work(item.source, item.output, item.reference, _stdin if str(item.source) == "-" else None))
    return work, known


def _ticker(
    bar: Progress | None, total: int, already: int, line: Callable[[ItemResult], None] | None
) -> Callable[[ItemResult], None] | None:
    """The per-result hook: advance the progress bar (if any), then print the file's line."""
    if bar is None:
        return line
    task_id = bar.add_task("restoring", total=total, completed=already)

    def tick(result: ItemResult) -> None:
        bar.advance(task_id)
        if line is not None:
            line(result)

    return tick


def _run_items(view: RunView, items: list[BatchItem], ropts: RestoreOptions, args: RunArgs) -> BatchRun:
    """Restore the runnable items (with ``--jobs`` I/O threads) and merge in the known results."""
    from ..batch.run import BatchRun, run_batch

    work, known = _work(items, args.output.overwrite)
    line = per_file_line(args)
    if line is not None:
        for result in known.values():
            line(result)
    if not work:
        return BatchRun(_merge(len(items), known, []))
    with progress_bar(args.report.shows_progress and len(work) > 1 and stderr_console.is_terminal) as bar:
        tick = _ticker(bar, len(items), len(known), line)
        outcome = run_batch(view, work, opts=ropts, jobs=args.inputs.jobs, on_result=tick)  # type: ignore[arg-type]
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


def _view(loaded: LoadedModel | LiteModel, args: RunArgs, single: bool) -> RunView:
    """The engine for this run (backend, device, threads, tile, ensemble), seen through a
    :class:`RunView` that resizes to ``--outscale`` and shows tile progress for one image."""
    from .runview import RunView

    restorer = args.engine.restorer(loaded)
    bar = TileBar(single and args.report.shows_progress)
    outscale = args.outscale if loaded.spec.task == "sr" else None
    return RunView(restorer, outscale=outscale, tile_progress=bar)


def _options(args: RunArgs, scale: int) -> RestoreOptions:
    """Per-item settings. ``--max-pixels`` counts output pixels at the model's scale (0: no
    limit; the pipeline checks ``W * H * scale**2`` from the header)."""
    return args.output.restore_options(args.sigma, scale, args.inputs.max_output_pixels)
