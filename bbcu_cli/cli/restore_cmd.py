"""``bbcu upscale | denoise | deblock``: the command signatures, one per task over shared options.

One rule for existing outputs everywhere: an output that is already there is *skipped*
(status ``skipped``, exit 0) unless ``--overwrite`` is given, so rerunning a command finishes
what is missing and never redoes or replaces finished work. Listing a folder leaves out files
this tool wrote (see :func:`bbcu_cli.batch.list_inputs`), and a folder input goes by default to
a sibling folder (``photos/`` -> ``photos_denoised/``), so no output of a run is an input of
the next.

This module declares the options and builds the :class:`~.restore_plan.RunArgs` of a run;
:mod:`.restore_plan` checks them and plans the items, :mod:`.restore_run` runs them and
:mod:`.restore_report` shows the outcome.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..errors import UsageError
from . import options as opt
from .restore_plan import RunArgs
from .restore_run import run

__all__ = ["upscale", "denoise", "deblock", "RunArgs", "run"]

Scale = Annotated[Optional[int], typer.Option("-s", "--scale", help="Model scale: 2, 3 or 4 where a model of that scale is shipped (default 4, or the model's); see --outscale for any other factor.")]
OutScale = Annotated[Optional[float], typer.Option("--outscale", min=1.0, help="Any output scale (1.5, 3, 3.5, ...): runs the smallest shipped model of at least that scale, then resizes with an antialiased (area) filter to exactly round(outscale * size).")]
Jobs = Annotated[int, typer.Option("-j", "--jobs", min=1, help="Decode and encode up to N images ahead of and behind the model on threads (many small images); results keep input order.")]
Sigma = Annotated[Optional[float], typer.Option("--sigma", min=0, max=255, help="Noise level on the 0-255 scale (default: estimated from each image and reported).")]


def upscale(
    inputs: opt.Inputs,
    scale: Scale = None,
    outscale: OutScale = None,
    output: opt.Output = None,
    model: opt.Model = None,
    ref: opt.Ref = None,
    tile: opt.Tile = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = 0,
    backend: opt.Backend = "auto",
    suffix: opt.SuffixSR = None,
    format_: opt.Format = None,
    quality: opt.Quality = None,
    first_frame: opt.FirstFrame = False,
    strip_metadata: opt.StripMetadata = False,
    skip_existing: opt.SkipExisting = False,
    overwrite: opt.Overwrite = False,
    recursive: opt.Recursive = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    offline: opt.Offline = False,
    k: opt.K = None,
    max_pixels: opt.MaxPixels = 500_000_000,
    shard: opt.Shard = None,
    jobs: Jobs = 1,
    ensemble: opt.EnsembleSR = False,
) -> None:
    """Upscale images with a BBCU super-resolution model: -s 2/3/4, or --outscale for any factor.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    if scale is not None and scale not in (2, 3, 4):
        raise UsageError(f"-s {scale}: scale must be 2, 3 or 4", f"pass -s 2, -s 3 or -s 4, or --outscale {scale} for another factor")
    args = RunArgs(
        inputs=inputs,
        output=output,
        model=model,
        ref=ref,
        tile=tile,
        device=device,
        threads=threads,
        backend=backend,
        suffix=suffix,
        fmt=format_,
        quality=quality,
        first_frame=first_frame,
        strip_metadata=strip_metadata,
        skip_existing=skip_existing,
        overwrite=overwrite,
        recursive=recursive,
        json_out=json_out,
        quiet=quiet,
        offline=offline,
        k=k,
        max_pixels=max_pixels,
        shard=shard,
        jobs=jobs,
        ensemble=ensemble,
        outscale=outscale,
        verbose=verbose,
    )
    run("sr", args, scale=scale)


def denoise(
    inputs: opt.Inputs,
    sigma: Sigma = None,
    output: opt.Output = None,
    model: opt.Model = None,
    ref: opt.Ref = None,
    tile: opt.Tile = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = 0,
    backend: opt.Backend = "auto",
    suffix: opt.SuffixDenoise = None,
    format_: opt.Format = None,
    quality: opt.Quality = None,
    first_frame: opt.FirstFrame = False,
    strip_metadata: opt.StripMetadata = False,
    skip_existing: opt.SkipExisting = False,
    overwrite: opt.Overwrite = False,
    recursive: opt.Recursive = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    offline: opt.Offline = False,
    k: opt.K = None,
    max_pixels: opt.MaxPixels = 500_000_000,
    shard: opt.Shard = None,
    jobs: Jobs = 1,
    ensemble: opt.EnsembleDenoise = False,
) -> None:
    """Remove Gaussian noise; --sigma steers models with a noise-level input.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    args = RunArgs(
        inputs=inputs,
        output=output,
        model=model,
        ref=ref,
        tile=tile,
        device=device,
        threads=threads,
        backend=backend,
        suffix=suffix,
        fmt=format_,
        quality=quality,
        first_frame=first_frame,
        strip_metadata=strip_metadata,
        skip_existing=skip_existing,
        overwrite=overwrite,
        recursive=recursive,
        json_out=json_out,
        quiet=quiet,
        offline=offline,
        k=k,
        max_pixels=max_pixels,
        shard=shard,
        jobs=jobs,
        ensemble=ensemble,
        verbose=verbose,
    )
    run("denoise", args, sigma=sigma)


def deblock(
    inputs: opt.Inputs,
    output: opt.Output = None,
    model: opt.Model = None,
    ref: opt.Ref = None,
    tile: opt.Tile = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = 0,
    backend: opt.Backend = "auto",
    suffix: opt.SuffixDeblock = None,
    format_: opt.Format = None,
    quality: opt.Quality = None,
    first_frame: opt.FirstFrame = False,
    strip_metadata: opt.StripMetadata = False,
    skip_existing: opt.SkipExisting = False,
    overwrite: opt.Overwrite = False,
    recursive: opt.Recursive = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    offline: opt.Offline = False,
    k: opt.K = None,
    max_pixels: opt.MaxPixels = 500_000_000,
    shard: opt.Shard = None,
    jobs: Jobs = 1,
    ensemble: opt.EnsembleDeblock = False,
) -> None:
    """Remove JPEG blocking and ringing artifacts.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    args = RunArgs(
        inputs=inputs,
        output=output,
        model=model,
        ref=ref,
        tile=tile,
        device=device,
        threads=threads,
        backend=backend,
        suffix=suffix,
        fmt=format_,
        quality=quality,
        first_frame=first_frame,
        strip_metadata=strip_metadata,
        skip_existing=skip_existing,
        overwrite=overwrite,
        recursive=recursive,
        json_out=json_out,
        quiet=quiet,
        offline=offline,
        k=k,
        max_pixels=max_pixels,
        shard=shard,
        jobs=jobs,
        ensemble=ensemble,
        verbose=verbose,
    )
    run("deblock", args)
