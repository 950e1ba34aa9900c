"""The arguments of one restore run (``RunArgs``), checked, and the plan of its items.

Everything here works from the arguments and the file listing alone, before any model is
loaded (so usage errors come before torch is imported): option conflicts, ``--format`` and
``-o`` names, the output suffix, the input listing and output planning, ``--ref`` matching,
and which SR model scale ``-s``/``--outscale`` ask for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..batch.plan import BatchItem, check_suffix, default_suffix, list_inputs, match_reference, outscale_suffix, plan_outputs, select_shard
from ..errors import UsageError
from .helptext import default_sr_scales

__all__ = ["RunArgs", "Plan", "plan_items", "model_scale", "format_ext"]

_SUPPORTED_FORMATS = "png, jpg, webp, bmp, tiff, gif"


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
    quality: int | None = None
    first_frame: bool = False
    strip_metadata: bool = False
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


@dataclass
class Plan:
    """The items of a run and what the listing left out (earlier outputs of this tool)."""

    items: list[BatchItem]
    left_out: list[Path] = field(default_factory=list)


def _format_name(fmt: str) -> str:
    """``--format`` checked: the canonical format name, or a usage error naming the choices."""
    from ..errors import OutputError
    from ..imagefiles import format_for_path

    try:
        return format_for_path(Path(f"x.{fmt.lower().lstrip('.')}"), None)
    except OutputError:
        raise UsageError(f"--format {fmt} is not supported", f"use one of {_SUPPORTED_FORMATS}") from None


def format_ext(fmt: str | None) -> str | None:
    """The file extension ``--format`` writes (``None``: keep each input's)."""
    if fmt is None:
        return None
    name = _format_name(fmt)
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(name, f".{name}")


def _check_output_format(output: str | None, fmt: str | None) -> None:
    """``-o x.jpg --format png`` and ``-o x.gif`` are usage errors, not silent surprises."""
    from ..batch.plan import _IMAGE_EXTENSIONS
    from ..imagefiles import SUPPORTED_EXTENSIONS

    if output is None or output == "-" or Path(output).is_dir() or output.endswith(("/", os.sep)):
        return
    ext = Path(output).suffix.lower()
    if ext not in _IMAGE_EXTENSIONS:
        return
    named = SUPPORTED_EXTENSIONS.get(ext.lstrip("."))
    if named is None:
        raise UsageError(f"-o {output}: cannot write {ext} files", "name the output .png, .jpg, .webp, .bmp, .tif or .gif")
    if fmt is not None and _format_name(fmt) != named:
        want = format_ext(fmt)
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
    """The output name suffix: ``--suffix``, else one for ``--outscale`` or the task and scale."""
    if args.suffix is not None:
        return args.suffix
    if task == "sr" and args.outscale is not None:
        return outscale_suffix(args.outscale)
    return default_suffix(task, scale)


def plan_items(args: RunArgs, task: str, scale: int) -> Plan:
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
    plan.left_out += [i.source for i in plan_outputs(plan.items, args.output, suffix, format_ext(args.fmt))]
    match_reference(plan.items, args.ref)
    return plan


def model_scale(task: str, args: RunArgs, scale: int | None) -> int | None:
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
    """The model scale for ``--outscale``: ``-s`` if it covers it, the model's own with ``-m``,
    else the smallest shipped scale of at least ``outscale``."""
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

