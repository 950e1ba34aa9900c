"""What a restore run shows: the header line, one line per file, notes, the summary, ``--json``.

The JSON object is :func:`bbcu_cli.cli.report.emit_json`'s schema plus the run's engine facts
(backend, ensemble and copies, interruption, ``--ref`` protocol, and for SR the model scale and outscale).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import printable, short_names
from .item_text import item_line, weight_text
from .report import (
    RunTotals,
    emit_json,
    is_verbose,
    print_summary,
    protocol_label,
    stderr_console,
)

if TYPE_CHECKING:  # these import torch and numpy: only when a command runs
    from ..batch.item import ItemResult
    from ..batch.plan import BatchItem
    from ..batch.run import BatchRun
    from .restore_plan import Plan, RunArgs
    from .runview import RunView

__all__ = ["COMMANDS", "per_file_line", "isa_label", "header", "protocol", "note_left_out", "location", "report"]

COMMANDS = {"sr": "upscale", "denoise": "denoise", "deblock": "deblock"}
"""The command name of each task."""


def per_file_line(args: RunArgs) -> Callable[[ItemResult], None] | None:
    """One line per finished file when stderr is not a terminal (logs, CI), with ``--ref``, or ``-v``."""
    if not args.report.shows_progress:
        return None
    if stderr_console.is_terminal and args.inputs.ref is None and not (args.report.verbose or is_verbose()):
        return None
    return lambda result: stderr_console.print(item_line(result), soft_wrap=True)


def isa_label(backend: str, torch_free: bool = False) -> str:
    """The backend name, with the packed kernel's instruction set for a packed backend (and
    ``no torch`` when the torch-free runtime runs it)."""
    if "packed" not in backend:
        return backend
    from .. import kernels

    return f"{backend} ({kernels.backend_status().label}{', no torch' if torch_free else ''})"


def _scale_text(view: RunView) -> str:
    """The header's scale part for SR (the model scale, and the resize to ``--outscale``)."""
    if view.spec.task != "sr":
        return ""
    if view.resizes:
        return f", x{view.inner.scale} model resized to x{view.scale:g}"
    return f", x{view.inner.scale}"


def header(task: str, name: str, view: RunView, count: int) -> str:
    """The one line saying what runs: model, backend and ISA, device, threads, tile plan."""
    tiles = f"tile {view.inner.tile} px" if view.inner.tile else "tiles auto (full-width stripes from free memory)"
    ens = _copies_text(view.copies)
    return f"{COMMANDS[task]}: {count} image(s) with {name}{_scale_text(view)}{ens} | backend {isa_label(view.backend_name, view.choice.torch_free)} | device {view.device} | {view.threads} thread(s) | {tiles}"


def _copies_text(copies: int) -> str:
    """The header's self-ensemble part: ``, ensemble x8``, ``, 2 copies``, or "" for one copy."""
    if copies == 1:
        return ""
    return ", ensemble x8" if copies == 8 else f", {copies} copies"


def protocol(task: str, scale: float) -> str:
    """How ``--ref`` metrics are measured for this task (see :func:`bbcu_cli.metrics.metrics_for_task`)."""
    import math

    from ..metrics import metrics_for_task

    space, crop = metrics_for_task(task, math.ceil(scale))
    label = protocol_label(space, crop)
    return f"{label} (RGB for colour images)" if space == "gray" else label


def note_left_out(left_out: list[Path], quiet: bool) -> None:
    """Say which listed files were left out as earlier outputs of this tool (unless ``quiet``)."""
    if not left_out or quiet:
        return
    names = short_names(left_out)
    stderr_console.print(
        f"note: left out {len(left_out)} file(s) named like outputs of bbcu ({names}); to process them, name them in a run of their own",
        markup=False,
        soft_wrap=True,
    )


def location(items: list[BatchItem]) -> str | None:
    """Where the outputs went: the file, or the folder holding all of them."""
    outs = [str(i.output) for i in items if i.output is not None and str(i.output) != "-"]
    if not outs:
        return None
    if len(outs) == 1:
        return outs[0]
    # commonpath drops "." parts: outputs in the current folder share "", which is not "/"
    return (os.path.commonpath([os.path.dirname(o) or "." for o in outs]) or ".") + os.sep


def _json_extra(view: RunView, batch: BatchRun, totals: RunTotals) -> dict[str, object]:
    """The run's fields of the ``--json`` object beyond the shared schema."""
    extra: dict[str, object] = {
        "backend": view.backend_name,
        "ensemble": view.ensemble,
        "copies": view.copies,
        "interrupted": batch.interrupted,
        "protocol": totals.protocol,
    }
    if view.spec.task == "sr":
        extra.update({"model_scale": view.inner.scale, "outscale": view.scale})
    return extra


def report(name: str, view: RunView, batch: BatchRun, args: RunArgs, plan: Plan, totals: RunTotals) -> None:
    """The ``--json`` object, or the failures (``--quiet``), or the noise levels and summary."""
    results = batch.results
    if args.report.json_out:
        refs = {str(i.source): str(i.reference) if i.reference else None for i in plan.items}
        emit_json(COMMANDS[args.task], name, results, _json_extra(view, batch, totals), refs)
    if not args.report.shows_progress:
        for r in results:
            if r.status == "failed":
                stderr_console.print(f"failed: {r.error_for_cli()}", markup=False, soft_wrap=True)
        return
    if per_file_line(args) is None:
        for r in results:
            line = _level_line(r)
            if line:
                stderr_console.print(line, markup=False, soft_wrap=True)
    routed = _variant_line(results)
    if routed:
        stderr_console.print(routed, markup=False, soft_wrap=True)
    print_summary(results, totals=totals)


def _variant_line(results: list[ItemResult]) -> str:
    """How many restored inputs looked cleanly downscaled and went to the clean variant, and how
    many looked aliased and went to the alias variant (when any did) ("" for a model without
    variants): one line for the whole run (:mod:`bbcu_cli.routing`)."""
    routed = [r for r in results if r.variant is not None]
    if not routed:
        return ""
    clean = sum(r.variant in ("clean", "mixed") for r in routed)
    alias = sum(r.variant == "alias" for r in routed)
    text = f"looked cleanly downscaled (restored with the clean variant): {clean} of {len(routed)}"
    return text + (f"; looked aliased (restored with the alias variant): {alias} of {len(routed)}" if alias else "")


def _level_line(item: ItemResult) -> str:
    """An ok item's noise level and how much of the change it kept ("" when nothing to say):
    what a terminal shows instead of the per-file lines."""
    note = weight_text(item)
    if item.status != "ok" or (item.sigma is None and not note):
        return ""
    level = f"noise level sigma = {item.sigma:.1f}" if item.sigma is not None else ""
    return f"{printable(str(item.input))}: {'; '.join(t for t in (level, note) if t)}"
