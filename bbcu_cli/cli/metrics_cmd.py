"""``bbcu metrics OUTPUT REF``: PSNR/SSIM of files or folders.

Folders are paired by file stem after removing this tool's own suffixes (``ARMS_x4.png`` is
measured against ``ARMS.png``, ``b00_denoised.png`` against ``b00.png``). The protocol used
("Y, crop 4", "RGB", ...) is printed, and ``--json`` has the schema of the restore commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import BbcuError, InputError, UsageError, short_names
from . import options as opt
from .report import emit_json, protocol_label, stderr_console

__all__ = ["metrics"]


def _pairs(output: Path, ref: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """The (output, reference) pairs, and the outputs of a folder that have no reference."""
    from ..batch.refs import references_by_stem
    from ..imagefiles import list_images

    if output.is_file() and ref.is_file():
        return [(output, ref)], []
    for path in (output, ref):
        if not path.exists():
            raise InputError(f"{path} does not exist", "check the path")
    if not (output.is_dir() and ref.is_dir()):
        raise UsageError(
            f"{output} and {ref} must both be files or both folders",
            "compare a file with a file, or a folder with a folder",
        )
    refs = references_by_stem(ref)
    found = [(p, _reference_for(p, refs)) for p in list_images([str(output)], True)]
    pairs = [(p, r) for p, r in found if r is not None]
    if not pairs:
        raise InputError(
            f"no file in {output} has a reference of the same stem in {ref} (after removing _x4, _denoised, ... suffixes)",
            "name outputs and references alike",
        )
    return pairs, [p for p, r in found if r is None]


def _reference_for(output: Path, refs: dict[str, Path]) -> Path | None:
    """The reference of the same stem, or of the stem without bbcu's suffixes (``ARMS_x4`` -> ``ARMS``)."""
    from ..batch.plan import strip_own_suffixes

    return refs.get(output.stem) or refs.get(strip_own_suffixes(output.stem))


def _space(y: bool, rgb: bool, channels: int) -> str:
    if y and rgb:
        raise UsageError("--y and --rgb exclude each other", "pick one")
    if y:
        return "y"
    return "gray" if channels == 1 and not rgb else "rgb"


def _one(out_path: Path, ref_path: Path, crop: int, y: bool, rgb: bool) -> tuple[float, float, str]:
    """PSNR, SSIM and the colour space measured for one pair."""
    import numpy as np

    from ..imagefiles import read_image
    from ..metrics import MetricsError, image_metrics

    out, ref = read_image(out_path), read_image(ref_path)
    a, b = out.pixels, ref.pixels
    if a.shape[2] != b.shape[2]:
        a, b = (
            (a, b)
            if y
            else (
                np.broadcast_to(a, b.shape[:2] + (3,)) if a.shape[2] == 1 else a,
                np.broadcast_to(b, a.shape[:2] + (3,)) if b.shape[2] == 1 else b,
            )
        )
    if a.shape[:2] != b.shape[:2]:
        raise InputError(
            f"{out_path} is {a.shape[1]}x{a.shape[0]} but {ref_path} is {b.shape[1]}x{b.shape[0]}",
            "compare images of the same size",
        )
    space = _space(y, rgb, min(a.shape[2], b.shape[2]))
    try:
        psnr, ssim = image_metrics(np.ascontiguousarray(a), np.ascontiguousarray(b), crop=crop, space=space)  # type: ignore[arg-type]
    except MetricsError as exc:  # too small for the crop: name the pair
        raise MetricsError(f"{out_path} vs {ref_path}: {exc.raw_message}", exc.raw_hint) from None
    return psnr, ssim, space


def metrics(
    output: Annotated[Path, typer.Argument(help="Restored image or folder.")],
    ref: Annotated[Path, typer.Argument(help="Reference image or folder (matched by file stem).")],
    crop: Annotated[int, typer.Option("--crop", min=0, help="Pixels cropped from each border before measuring.")] = 0,
    y: Annotated[
        bool, typer.Option("--y", help="Measure on the Y channel (16 + 65.481R + 128.553G + 24.966B), as in SR papers.")
    ] = False,
    rgb: Annotated[
        bool, typer.Option("--rgb", help="Measure on all RGB channels (default for colour images).")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON on stdout (the schema of the restore commands' --json).")
    ] = False,
    verbose: opt.Verbose = False,
) -> None:
    """PSNR (dB) and SSIM (Gaussian 11x11, sigma 1.5) between restored images and references.

    PSNR = 10 log10(255^2 / MSE) on the 0-255 scale in float64; SSIM averaged over the valid
    region and channels. Gray images are measured as gray unless --y or --rgb is given. Folders
    are paired by stem after removing bbcu's suffixes (ARMS_x4.png <-> ARMS.png). Note that
    --ref of upscale measures Y with crop = scale: pass --y --crop 4 here for the same numbers.
    """
    from ..batch.item import ItemResult  # numpy and the image codecs load when the command runs (fast --help)

    _space(y, rgb, 3)  # --y with --rgb: a usage error before any file is read
    pairs, unmatched = _pairs(output, ref)
    results: list[ItemResult] = []
    references: dict[str, str | None] = {}
    spaces: set[str] = set()
    for out_path, ref_path in pairs:  # a bad pair is reported at the end; the others are measured
        references[str(out_path)] = str(ref_path)
        try:
            psnr, ssim, space = _one(out_path, ref_path, crop, y, rgb)
        except BbcuError as exc:
            results.append(ItemResult(None, str(out_path), "failed", error=str(exc), error_cli=exc.for_cli()))  # type: ignore[arg-type]
            continue
        spaces.add(space)
        results.append(ItemResult(None, str(out_path), "ok", psnr=psnr, ssim=ssim))  # type: ignore[arg-type]
    protocol = " / ".join(protocol_label(s, crop) for s in sorted(spaces))
    if json_out:
        emit_json(
            "metrics", None, results, {"protocol": protocol, "unmatched": [str(p) for p in unmatched]}, references
        )
    else:
        _print(results, references, protocol, unmatched)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def _print(results: list[Any], references: dict[str, str | None], protocol: str, unmatched: list[Path]) -> None:
    """One line per pair on stdout; the protocol, the mean, unmatched outputs and failures on stderr."""
    import numpy as np

    ok = [r for r in results if r.status == "ok"]
    stderr_console.print(f"protocol: {protocol or '-'}", markup=False)
    for r in ok:
        typer.echo(f"{r.output}: PSNR {r.psnr:.4f} dB  SSIM {r.ssim:.6f}  (ref {references.get(r.output)})")
    if len(ok) > 1:
        mean_psnr, mean_ssim = float(np.mean([r.psnr for r in ok])), float(np.mean([r.ssim for r in ok]))
        stderr_console.print(
            f"mean over {len(ok)}: PSNR {mean_psnr:.4f} dB  SSIM {mean_ssim:.6f} ({protocol})", markup=False
        )
    if unmatched:
        stderr_console.print(
            f"note: {len(unmatched)} file(s) without a reference of the same stem: {short_names(unmatched)}",
            markup=False,
        )
    for r in results:
        if r.status == "failed":
            stderr_console.print(f"failed: {r.error_for_cli()}", markup=False, soft_wrap=True)
