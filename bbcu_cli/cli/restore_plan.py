"""The arguments of one restore run (``RunArgs``), checked, and the plan of its items.

Everything here works from the arguments and the file listing alone, before any model is
loaded (so usage errors come before torch is imported): option conflicts, ``--format`` and
``-o`` names, the output suffix, the input listing and output planning, ``--ref`` matching,
and which SR model scale ``-s``/``--outscale`` ask for.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..batch.plan import (
    BatchItem,
    check_suffix,
    default_suffix,
    is_folder_target,
    list_inputs,
    outscale_suffix,
    plan_outputs,
)
from ..batch.refs import match_reference, select_shard
from ..errors import UsageError
from .helptext import default_sr_scales
from .settings import EngineSettings, InputSettings, ModelChoice, OutputSettings, ReportSettings

__all__ = ["RunArgs", "Plan", "plan_items", "model_scale", "format_ext"]

_SUPPORTED_FORMATS = "png, jpg, webp, bmp, tiff, gif"


@dataclass(frozen=True)
class RunArgs:
    """One restore run, as the option objects its command built (see :mod:`.settings`)."""

    task: str
    inputs: InputSettings
    model: ModelChoice = ModelChoice()
    engine: EngineSettings = EngineSettings()
    output: OutputSettings = OutputSettings()
    report: ReportSettings = ReportSettings()
    outscale: float | None = None
    """``--outscale`` (SR): resize the model's output to this scale."""
    sigma: float | None = None
    """``--sigma`` (denoise): the noise level; None: estimated from each image."""


@dataclass
class Plan:
    """The items of a run and what the listing left out (earlier outputs of this tool)."""

    items: list[BatchItem]
    left_out: list[Path] = field(default_factory=list)


def _format_name(out_format: str) -> str:
    """``--format`` checked: the canonical format name, or a usage error naming the choices."""
    from ..errors import OutputError
    from ..imagefiles import format_for_path

    try:
        return format_for_path(Path(f"x.{out_format.lower().lstrip('.')}"), None)
    except OutputError:
        raise UsageError(f"--format {out_format} is not supported", f"use one of {_SUPPORTED_FORMATS}") from None


def format_ext(out_format: str | None) -> str | None:
    """The file extension ``--format`` writes (``None``: keep each input's)."""
    if out_format is None:
        return None
    name = _format_name(out_format)
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(name, f".{name}")


def _check_output_format(output: str | None, out_format: str | None) -> None:
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
        raise UsageError(
            f"-o {output}: cannot write {ext} files", "name the output .png, .jpg, .webp, .bmp, .tif or .gif"
        )
    if out_format is not None and _format_name(out_format) != named:
        want = format_ext(out_format)
        raise UsageError(
            f"-o {output} is a {named.upper()} name but --format is {out_format}",
            f"pass -o {Path(output).with_suffix(want or '')}, or drop --format",
        )


def _check_usage(args: RunArgs) -> None:
    """Conflicts found from the arguments alone (before any file is read)."""
    out = args.output
    if out.skip_existing and out.overwrite:
        raise UsageError(
            "--skip-existing and --overwrite exclude each other",
            "existing outputs are skipped by default; pass --overwrite alone to replace them",
        )
    if args.sigma is not None and not math.isfinite(args.sigma):  # click's 0..255 range lets NaN through
        raise UsageError(f"--sigma {args.sigma} is not a number", "pass a noise level from 0 to 255, e.g. --sigma 25")
    if args.report.json_out and out.output == "-":
        raise UsageError("--json and '-o -' would both write to stdout", "write the image to a file, or drop --json")
    if out.suffix is not None:
        check_suffix(out.suffix)
    if out.out_format is not None:
        _format_name(out.out_format)
    _check_output_format(out.output, out.out_format)


def _suffix(args: RunArgs, scale: int) -> str:
    """The output name suffix: ``--suffix``, else one for ``--outscale`` or the task and scale."""
    if args.output.suffix is not None:
        return args.output.suffix
    if args.task == "sr" and args.outscale is not None:
        return outscale_suffix(args.outscale)
    return default_suffix(args.task, scale)


def _listed(args: RunArgs, suffix: str) -> Plan:
    """The input items (``-`` alone: stdin), this shard of them, and the outputs left out."""
    inputs = args.inputs
    if list(inputs.inputs) == ["-"]:
        return Plan([BatchItem(Path("-"), None)])
    listing = list_inputs(list(inputs.inputs), inputs.recursive, suffix=suffix, output=args.output.output)
    return Plan(select_shard(listing.items, inputs.shard), listing.left_out)


def _output_target(args: RunArgs, plan: Plan) -> str | None:
    """``-o``, or stdout (``-``) for a stdin input without ``-o``."""
    if not (plan.items and str(plan.items[0].source) == "-" and args.output.output is None):
        return args.output.output
    if args.report.json_out:
        raise UsageError("--json and stdout output would both write to stdout", "pass -o FILE")
    return "-"


def plan_items(args: RunArgs, scale: int) -> Plan:
    """List the inputs (leaving out earlier outputs), plan each output, match references."""
    _check_usage(args)
    suffix = _suffix(args, scale)
    plan = _listed(args, suffix)
    target = _output_target(args, plan)
    _check_file_target_has_format(target, args.output.out_format, plan.items)
    dropped = plan_outputs(plan.items, target, suffix, format_ext(args.output.out_format))
    if dropped and args.output.overwrite:
        _refuse_replacing_inputs(dropped, plan.items)
    plan.left_out += [i.source for i in dropped]
    match_reference(plan.items, args.inputs.ref)
    return plan


def _check_file_target_has_format(target: str | None, out_format: str | None, items: list[BatchItem]) -> None:
    """``-o name`` (one input, no extension, no ``--format``): refused before any compute."""
    if target is None or target == "-" or out_format is not None or Path(target).suffix or not items:
        return
    if is_folder_target(target, items):
        return
    raise UsageError(
        f"-o {target} has no extension to pick the image format from",
        f"name it e.g. -o {target}.png, pass --format png, or end it with / for a folder",
    )


def _refuse_replacing_inputs(dropped: list[BatchItem], items: list[BatchItem]) -> None:
    """``--overwrite`` never replaces a file named as an input, even one named like an earlier
    output (``bbcu denoise a.png a_denoised.png``: the second may be an original)."""
    named = dropped[0].source.resolve()
    writer = next(i.source for i in items if i.output is not None and i.output.resolve() == named)
    raise UsageError(
        f"{dropped[0].source} is an input, and --overwrite would replace it with the output of {writer}",
        "inputs are never overwritten: leave that name out, quote the pattern so that bbcu expands it "
        "and leaves earlier outputs out, or choose another -o or --suffix",
    )


def model_scale(args: RunArgs) -> int | None:
    """The SR model scale to load: ``-s``, else the smallest default covering ``--outscale``.

    ``None`` lets ``-m`` decide (or, without ``-m``, the x4 default). Raises a usage error for
    a scale no shipped model has (with ``--outscale`` as the way) or an ``--outscale`` above it.
    """
    if args.task != "sr":
        return None
    shipped = default_sr_scales()
    scale, named = args.model.scale, args.model.model is not None
    if args.outscale is not None:
        return _scale_for_outscale(args.outscale, scale, shipped, named)
    if scale is not None and not named and shipped and scale not in shipped:
        above = [s for s in shipped if s > scale]
        hint = (
            f"pass --outscale {scale} (runs the x{above[0]} model, then resizes to exactly {scale}x)"
            if above
            else f"shipped scales: {', '.join(map(str, shipped))}"
        )
        raise UsageError(f"-s {scale}: no x{scale} model is shipped (bbcu models)", hint)
    return scale


def _scale_for_outscale(outscale: float, scale: int | None, shipped: list[int], has_model: bool) -> int | None:
    """The model scale for ``--outscale``: ``-s`` if it covers it, the model's own with ``-m``,
    else the smallest shipped scale of at least ``outscale``."""
    if not math.isfinite(outscale):
        raise UsageError(f"--outscale {outscale}: not a number", "pass a factor of at least 1, e.g. --outscale 1.5")
    if outscale < 1:
        raise UsageError(
            f"--outscale {outscale:g}: must be at least 1", "downscale with an image editor; bbcu only enlarges"
        )
    if scale is not None:
        if scale < outscale:
            raise UsageError(
                f"--outscale {outscale:g} is larger than the model scale -s {scale}",
                f"drop -s, or pass -s {min([s for s in shipped if s >= outscale] or [4])}",
            )
        return scale
    if has_model:
        return None
    fits = [s for s in shipped if s >= outscale]
    if not fits:
        raise UsageError(
            f"--outscale {outscale:g}: the largest shipped model is x{max(shipped or [4])}",
            "run twice (e.g. --outscale 2.5, then again), or pick a smaller --outscale",
        )
    return fits[0]
