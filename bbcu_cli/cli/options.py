"""Options shared by several commands, declared once (``Annotated`` aliases).

A command's parameter takes the internal name of its concept, which the option objects of
:mod:`.settings` carry on: ``--format`` is ``out_format``, ``--max-pixels`` is
``max_output_pixels`` (it limits *output* pixels, ``W * H * scale**2``), ``--json`` is
``json_out``. Defaults shared by the restore commands are the ``DEFAULT_*`` constants.

Importing this module also drops Typer's ``<bool>`` type label from on/off flags in help
(:func:`hide_flag_metavars`): a flag takes no value, so none is shown.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Optional

import typer

from ..archs.spec import TASKS


def spoken_list(words: tuple[str, ...] | list[str], last: str = "or") -> str:
    """``a, b or c`` (``a`` alone, ``a or b``)."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


TASK_HELP = spoken_list(TASKS) + "."
"""``--task`` help: the tasks (:data:`bbcu_cli.archs.spec.TASKS`)."""


def arch_help() -> str:
    """``--arch`` help from the registered families: ``bbcu-m, bbcu-l or bbcu-p (sr); dncnn (denoise, deblock).``"""
    from .. import archs

    groups: dict[tuple[str, ...], list[str]] = {}
    for task in TASKS:
        for name in archs.archs_for_task(task):
            names = groups.setdefault(archs.family(name).tasks, [])
            names.extend([name] if name not in names else [])
    return "; ".join(f"{spoken_list(names)} ({', '.join(tasks)})" for tasks, names in groups.items()) + "."


def hide_flag_metavars() -> None:
    """Show no ``<bool>`` for flags (``--overwrite``, ``--help``) in the Rich help panels."""
    from typer.core import TyperOption

    original: Callable[..., Any] | None = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_bbcu_flags_hidden", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else original(self, ctx)

    display_type_rich._bbcu_flags_hidden = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


hide_flag_metavars()


DEFAULT_MAX_OUTPUT_PIXELS = 500_000_000
"""``--max-pixels`` default of the restore commands: 500 MP of output."""


def _verbose(value: bool) -> None:
    """``-v`` after the command: same as before it (bbcu's own debug log, tracebacks)."""
    if value:
        from .report import setup_logging

        setup_logging(True)


Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Image files, folders or glob patterns ('-' reads stdin). Listing a folder or pattern leaves out files named like this tool's outputs (*_x4, *_denoised, ...).",
        show_default=False,
        metavar="INPUT",
    ),
]
Output = Annotated[
    Optional[str],
    typer.Option(
        "-o",
        "--output",
        help="Output file (one input) or folder; '-' writes stdout. Default: beside each input file; for a folder input the sibling folder <folder><suffix> (photos/ -> photos_denoised/).",
    ),
]
Model = Annotated[
    Optional[str],
    typer.Option("-m", "--model", help="Model name (see 'bbcu models') or a checkpoint file (.pth/.pt/.safetensors)."),
]
Ref = Annotated[
    Optional[str],
    typer.Option(
        "--ref", help="Reference image, or folder of references matched by file stem: PSNR/SSIM are reported."
    ),
]
Tile = Annotated[
    int,
    typer.Option("--tile", min=0, help="Tile side in input pixels; 0 picks full-width stripes that fit free memory."),
]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
#: beyond any machine; larger values overflowed the C int of the thread settings
MAX_THREADS = 4096
Threads = Annotated[int, typer.Option("--threads", min=0, max=MAX_THREADS, help="CPU threads (0: all cores).")]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        help="auto (packed kernel on CPU when available, folded float16 path on CUDA), packed, float or folded.",
    ),
]
SuffixSR = Annotated[
    Optional[str],
    typer.Option(
        "--suffix", help="Output name suffix, no '/' or '..' (default _x<scale>: _x4, or _x1.5 with --outscale 1.5)."
    ),
]
SuffixDenoise = Annotated[
    Optional[str], typer.Option("--suffix", help="Output name suffix, no '/' or '..' (default _denoised).")
]
SuffixDeblock = Annotated[
    Optional[str], typer.Option("--suffix", help="Output name suffix, no '/' or '..' (default _deblocked).")
]
OutFormat = Annotated[
    Optional[str],
    typer.Option(
        "--format",
        help="Output format: png, jpg, webp, bmp, tiff, gif (default: from the output name, else the input's). Must agree with an -o file name.",
    ),
]
Quality = Annotated[
    Optional[int],
    typer.Option(
        "--quality",
        min=1,
        max=100,
        help="JPEG and WebP quality, 1-100 (default 95, and lossless WebP from a lossless input: PNG, GIF, BMP, lossless WebP, TIFF; WebP 100: lossless; JPEG >= 90 keeps full-resolution colour). PNG, TIFF and BMP are lossless.",
    ),
]
FirstFrame = Annotated[
    bool,
    typer.Option(
        "--first-frame",
        help="Restore only the first frame of an animated GIF / APNG / WebP or multi-page TIFF and write a still image (default: every frame, written back with its timing and loop count).",
    ),
]
StripMetadata = Annotated[
    bool,
    typer.Option(
        "--strip-metadata",
        help="Drop EXIF (camera, date, GPS), XMP and PNG text chunks from the outputs (kept by default where the format holds them; the ICC colour profile is kept wherever the output format holds it and it fits the pixels written).",
    ),
]
SkipExisting = Annotated[
    bool,
    typer.Option("--skip-existing", help="Keep outputs that already exist (the default; kept as an explicit alias)."),
]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Replace outputs that already exist (by default they are skipped).")
]
Recursive = Annotated[bool, typer.Option("-r", "--recursive", help="Search input folders recursively.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON object with every item and a summary on stdout.")]
Quiet = Annotated[
    bool,
    typer.Option("-q", "--quiet", help="No header, progress, per-file lines or summary on stderr (errors still show)."),
]
Verbose = Annotated[
    bool,
    typer.Option(
        "-v",
        "--verbose",
        callback=_verbose,
        is_eager=True,
        help="bbcu's debug log (tiles, kernel choice, timings) and tracebacks; also before the command.",
    ),
]
Offline = Annotated[bool, typer.Option("--offline", help="Never use the network (same as BBCU_OFFLINE=1).")]
Route = Annotated[
    Optional[bool],
    typer.Option(
        "--route/--no-route",
        show_default="on for models with variants",
        help="SR models with variants (the defaults and the fast tier bbcu-fast-x2/x3/x4): restore an input that looks cleanly (antialiased) downscaled with the clean variant (bbcu-clean-xS), one that looks aliased (shrunk without antialiasing) with the alias variant (bbcu-alias-xS), anything else (JPEG, noisy, unsure) with the model itself. --no-route: the model alone.",
    ),
]
K = Annotated[
    Optional[float], typer.Option("--k", help="Override the residual-alignment factor k (default 130 * features / 64).")
]
#: ``--max-pixels`` sets :attr:`.settings.InputSettings.max_output_pixels` (output pixels)
MaxOutputPixels = Annotated[
    int,
    typer.Option(
        "--max-pixels",
        min=0,
        help="Refuse inputs whose output would exceed this many pixels: input width x height x scale^2 (scale 1 for denoise and deblock), read from the header before decoding. 0: no limit.",
    ),
]
Shard = Annotated[
    Optional[str],
    typer.Option("--shard", help="I/N: process every N-th input of the sorted list, starting at the I-th."),
]
EnsembleSR = Annotated[
    bool,
    typer.Option(
        "--ensemble",
        help="x8 self-ensemble: average the outputs for the 8 flips/rotations (8x slower; a small PSNR gain, measure it with bbcu eval --ensemble).",
    ),
]
EnsembleDenoise = Annotated[
    bool,
    typer.Option(
        "--ensemble",
        help="x8 self-ensemble: average the outputs for the 8 flips/rotations (8x slower; bbcu-denoise-l22 on CBSD68: +0.45/+0.27/+0.18 dB at sigma 15/25/50).",
    ),
]
EnsembleDeblock = Annotated[
    bool,
    typer.Option(
        "--ensemble",
        help="x8 self-ensemble: average the outputs for the 8 flips/rotations (8x slower; bbcu-deblock-l22: +0.05 to +0.12 dB).",
    ),
]
#: the generic ``--ensemble`` (``bbcu eval``)
Ensemble = Annotated[
    bool,
    typer.Option("--ensemble", help="x8 self-ensemble: average the outputs for the 8 flips/rotations (8x slower)."),
]
#: ``--copies`` sets :attr:`.settings.EngineSettings.copies` (restoring commands and ``bbcu eval``)
Copies = Annotated[
    Optional[int],
    typer.Option(
        "--copies",
        show_default=False,
        help="Self-ensemble copies averaged (1, 2, 4 or 8; default: the model's own: 2 for the x4 default, else 1). 2 doubles the time for +0.03 to +0.15 dB (x4 default).",
    ),
]
ModelScale = Annotated[
    Optional[int],
    typer.Option(
        "-s",
        "--scale",
        help="Model scale: 2, 3 or 4 where a model of that scale is shipped (default 4, or the model's); see --outscale for any other factor.",
    ),
]
OutScale = Annotated[
    Optional[float],
    typer.Option(
        "--outscale",
        min=1.0,
        help="Any output scale (1.5, 3, 3.5, ...): runs the smallest shipped model of at least that scale, then resizes with an antialiased (area) filter to exactly outscale * size, halves rounded up.",
    ),
]
Jobs = Annotated[
    int,
    typer.Option(
        "-j",
        "--jobs",
        min=1,
        help="Decode and encode up to N images ahead of and behind the model on threads (many small images); results keep input order.",
    ),
]
Sigma = Annotated[
    Optional[float],
    typer.Option(
        "--sigma",
        min=0,
        max=255,
        help="Noise level on the 0-255 scale (default: estimated from each image and reported).",
    ),
]
