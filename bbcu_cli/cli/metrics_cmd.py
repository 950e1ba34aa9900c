"""``bbcu metrics OUTPUT REF``: PSNR/SSIM of files or folders (matched by file stem)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError, UsageError
from .report import stderr_console

__all__ = ["metrics"]


def _pairs(output: Path, ref: Path) -> list[tuple[Path, Path]]:
    from ..imageio import list_images

    if output.is_file() and ref.is_file():
        return [(output, ref)]
    if not (output.is_dir() and ref.is_dir()):
        raise UsageError(f"{output} and {ref} must both be files or both folders", "compare a file with a file, or a folder with a folder")
    refs = {p.stem: p for p in list_images([str(ref)], True)}
    pairs = [(p, refs[p.stem]) for p in list_images([str(output)], True) if p.stem in refs]
    if not pairs:
        raise InputError(f"no file in {output} has a reference of the same stem in {ref}", "name outputs and references alike")
    return pairs


def _space(y: bool, rgb: bool, channels: int) -> str:
    if y and rgb:
        raise UsageError("--y and --rgb exclude each other", "pick one")
    if y:
        return "y"
    return "gray" if channels == 1 and not rgb else "rgb"


def _one(out_path: Path, ref_path: Path, crop: int, y: bool, rgb: bool) -> dict[str, object]:
    import numpy as np

    from ..imageio import read_image
    from ..metrics import image_metrics

    out, ref = read_image(out_path), read_image(ref_path)
    a, b = out.pixels, ref.pixels
    if a.shape[2] != b.shape[2]:
        a, b = (a, b) if y else (np.broadcast_to(a, b.shape[:2] + (3,)) if a.shape[2] == 1 else a, np.broadcast_to(b, a.shape[:2] + (3,)) if b.shape[2] == 1 else b)
    if a.shape[:2] != b.shape[:2]:
        raise InputError(f"{out_path} is {a.shape[1]}x{a.shape[0]} but {ref_path} is {b.shape[1]}x{b.shape[0]}", "compare images of the same size")
    psnr, ssim = image_metrics(np.ascontiguousarray(a), np.ascontiguousarray(b), crop=crop, space=_space(y, rgb, min(a.shape[2], b.shape[2])))  # type: ignore[arg-type]
    return {"output": str(out_path), "reference": str(ref_path), "psnr": psnr, "ssim": ssim}


def metrics(
    output: Annotated[Path, typer.Argument(help="Restored image or folder.")],
    ref: Annotated[Path, typer.Argument(help="Reference image or folder (matched by file stem).")],
    crop: Annotated[int, typer.Option("--crop", min=0, help="Pixels cropped from each border before measuring.")] = 0,
    y: Annotated[bool, typer.Option("--y", help="Measure on the Y channel (16 + 65.481R + 128.553G + 24.966B), as in SR papers.")] = False,
    rgb: Annotated[bool, typer.Option("--rgb", help="Measure on all RGB channels (default for colour images).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """PSNR (dB) and SSIM (Gaussian 11x11, sigma 1.5) between restored images and references.

    PSNR = 10 log10(255^2 / MSE) on the 0-255 scale in float64; SSIM averaged over the valid
    region and channels. Gray images are measured as gray unless --y or --rgb is given.
    """
    import numpy as np  # numpy and the image codecs load when the command runs (fast --help)

    rows = [_one(o, r, crop, y, rgb) for o, r in _pairs(output, ref)]
    mean = {k: float(np.mean([row[k] for row in rows])) for k in ("psnr", "ssim")}  # type: ignore[misc]
    if json_out:
        sys.stdout.write(json.dumps({"items": rows, "psnr_mean": mean["psnr"], "ssim_mean": mean["ssim"]}, indent=2) + "\n")
        return
    for row in rows:
        typer.echo(f"{row['output']}: PSNR {row['psnr']:.4f} dB  SSIM {row['ssim']:.6f}")
    if len(rows) > 1:
        stderr_console.print(f"mean over {len(rows)}: PSNR {mean['psnr']:.4f} dB  SSIM {mean['ssim']:.6f}", markup=False)
