"""``bbcu upscale | denoise | deblock``: the command signatures, one per task over shared options.

One rule for existing outputs everywhere: an output that is already there is *skipped*
(status ``skipped``, exit 0) unless ``--overwrite`` is given, so rerunning a command finishes
what is missing and never redoes or replaces finished work. Listing a folder leaves out files
this tool wrote (see :func:`bbcu_cli.batch.list_inputs`), and a folder input goes by default to
a sibling folder (``photos/`` -> ``photos_denoised/``), so no output of a run is an input of
the next.

Each command is thin: its options (declared once in :mod:`.options`) become the typed option
objects of :mod:`.settings`, gathered in one :class:`~.restore_plan.RunArgs`;
:mod:`.restore_plan` checks them and plans the items, :mod:`.restore_run` runs them and
:mod:`.restore_report` shows the outcome.
"""

from __future__ import annotations

from ..errors import UsageError
from . import options as opt
from .restore_plan import RunArgs
from .restore_run import run
from .settings import EngineSettings, InputSettings, ModelChoice, OutputSettings, ReportSettings

__all__ = ["upscale", "denoise", "deblock", "RunArgs", "run"]


def upscale(
    inputs: opt.Inputs,
    scale: opt.ModelScale = None,
    outscale: opt.OutScale = None,
    output: opt.Output = None,
    model: opt.Model = None,
    ref: opt.Ref = None,
    tile: opt.Tile = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = 0,
    backend: opt.Backend = "auto",
    suffix: opt.SuffixSR = None,
    out_format: opt.OutFormat = None,
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
    max_output_pixels: opt.MaxOutputPixels = opt.DEFAULT_MAX_OUTPUT_PIXELS,
    shard: opt.Shard = None,
    jobs: opt.Jobs = 1,
    ensemble: opt.EnsembleSR = False,
    copies: opt.Copies = None,
    route: opt.Route = None,
) -> None:
    """Upscale images with a BBCU super-resolution model: -s 2/3/4, or --outscale for any factor.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    if scale is not None and scale not in (2, 3, 4):
        raise UsageError(  # an example that works: -s 0, -s 1 and -s 5 have no --outscale twin
            f"-s {scale}: scale must be 2, 3 or 4", "pass -s 2, -s 3 or -s 4, or e.g. --outscale 1.5 for another factor"
        )
    run(
        RunArgs(
            task="sr",
            inputs=InputSettings(
                tuple(inputs), recursive=recursive, ref=ref, shard=shard, jobs=jobs, max_output_pixels=max_output_pixels
            ),
            model=ModelChoice(model, scale, k=k, offline=offline, route=route),
            engine=EngineSettings(
                backend=backend, device=device, threads=threads, tile=tile, ensemble=ensemble, copies=copies
            ),
            output=OutputSettings(
                output,
                suffix,
                out_format,
                quality,
                first_frame=first_frame,
                strip_metadata=strip_metadata,
                skip_existing=skip_existing,
                overwrite=overwrite,
            ),
            report=ReportSettings(json_out=json_out, quiet=quiet, verbose=verbose),
            outscale=outscale,
        )
    )


def denoise(
    inputs: opt.Inputs,
    sigma: opt.Sigma = None,
    output: opt.Output = None,
    model: opt.Model = None,
    ref: opt.Ref = None,
    tile: opt.Tile = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = 0,
    backend: opt.Backend = "auto",
    suffix: opt.SuffixDenoise = None,
    out_format: opt.OutFormat = None,
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
    max_output_pixels: opt.MaxOutputPixels = opt.DEFAULT_MAX_OUTPUT_PIXELS,
    shard: opt.Shard = None,
    jobs: opt.Jobs = 1,
    ensemble: opt.EnsembleDenoise = False,
    copies: opt.Copies = None,
) -> None:
    """Remove Gaussian noise; --sigma steers models with a noise-level input.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    run(
        RunArgs(
            task="denoise",
            inputs=InputSettings(
                tuple(inputs), recursive=recursive, ref=ref, shard=shard, jobs=jobs, max_output_pixels=max_output_pixels
            ),
            model=ModelChoice(model, k=k, offline=offline),
            engine=EngineSettings(
                backend=backend, device=device, threads=threads, tile=tile, ensemble=ensemble, copies=copies
            ),
            output=OutputSettings(
                output,
                suffix,
                out_format,
                quality,
                first_frame=first_frame,
                strip_metadata=strip_metadata,
                skip_existing=skip_existing,
                overwrite=overwrite,
            ),
            report=ReportSettings(json_out=json_out, quiet=quiet, verbose=verbose),
            sigma=sigma,
        )
    )


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
    out_format: opt.OutFormat = None,
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
    max_output_pixels: opt.MaxOutputPixels = opt.DEFAULT_MAX_OUTPUT_PIXELS,
    shard: opt.Shard = None,
    jobs: opt.Jobs = 1,
    ensemble: opt.EnsembleDeblock = False,
    copies: opt.Copies = None,
) -> None:
    """Remove JPEG blocking and ringing artifacts.

    Existing outputs are skipped (rerun to finish a batch); --overwrite replaces them.
    """
    run(
        RunArgs(
            task="deblock",
            inputs=InputSettings(
                tuple(inputs), recursive=recursive, ref=ref, shard=shard, jobs=jobs, max_output_pixels=max_output_pixels
            ),
            model=ModelChoice(model, k=k, offline=offline),
            engine=EngineSettings(
                backend=backend, device=device, threads=threads, tile=tile, ensemble=ensemble, copies=copies
            ),
            output=OutputSettings(
                output,
                suffix,
                out_format,
                quality,
                first_frame=first_frame,
                strip_metadata=strip_metadata,
                skip_existing=skip_existing,
                overwrite=overwrite,
            ),
            report=ReportSettings(json_out=json_out, quiet=quiet, verbose=verbose),
        )
    )
