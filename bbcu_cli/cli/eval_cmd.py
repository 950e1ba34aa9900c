"""``bbcu eval DATASET --task ...``: benchmark a model (or a baseline) with the paper protocol."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from ..engine.restore import Restorer
from ..errors import UsageError
from ..evaluate import EvalConfig, EvalResult, Restore, bicubic_baseline, evaluate, identity_baseline
from ..noise import estimate_sigma
from . import options as opt
from .report import progress_bar, stderr_console

__all__ = ["eval_command", "model_restore"]

_BASELINES = {"bicubic": "sr", "identity": None}


def _baseline(name: str, cfg: EvalConfig) -> Restore:
    if name == "bicubic" and cfg.task != "sr":
        raise UsageError("the bicubic baseline is for --task sr", "use -m identity for denoise/deblock")
    return bicubic_baseline(cfg.scale) if name == "bicubic" else identity_baseline()


def model_restore(restorer: Restorer, sigma: float | None, blind: bool) -> Restore:
    """A restore callable for :func:`evaluate` (true sigma, or estimated with ``blind``)."""

    def run(img: np.ndarray) -> np.ndarray:
        level = estimate_sigma(img) if blind else sigma
        return restorer.restore(img, sigma=level if restorer.spec.noise_channel else None)

    return run


def _restore_for(model: str | None, cfg: EvalConfig, args: dict[str, object]) -> tuple[Restore, str]:
    if model in _BASELINES:
        if args["ensemble"]:
            raise UsageError(f"--ensemble needs a model, not the {model} baseline", "drop --ensemble or pass -m MODEL")
        return _baseline(model, cfg), model
    from ..loading import load_model
    from ..weights.resolve import resolve

    resolved = resolve(model, cfg.task, cfg.scale if cfg.task == "sr" else None, offline=bool(args["offline"]))
    loaded = load_model(resolved.path, k=resolved.k, task=cfg.task)
    restorer = Restorer(loaded, str(args["backend"]), str(args["device"]), int(args["threads"]) or None, int(args["tile"]), bool(args["ensemble"]))  # type: ignore[call-overload]
    return model_restore(restorer, cfg.sigma, bool(args["blind"])), resolved.name + ("+" if restorer.ensemble else "")


def _table(result: EvalResult) -> Table:
    table = Table(title=f"{result.model} on {result.dataset} ({result.task})")
    for col in ("image", "PSNR (dB)", "SSIM"):
        table.add_column(col, justify="right" if col != "image" else "left")
    for img in result.images:
        table.add_row(img.name, f"{img.psnr:.4f}", f"{img.ssim:.4f}")
    table.add_section()
    table.add_row("mean", f"{result.psnr:.4f}", f"{result.ssim:.4f}", style="bold")
    return table


def eval_command(
    dataset: Annotated[Path, typer.Argument(help="Folder of clean benchmark images (e.g. ../shared/datasets/bench/Set5).")],
    task: Annotated[str, typer.Option("--task", help="sr, denoise or deblock.")] = "sr",
    scale: Annotated[int, typer.Option("-s", "--scale", help="SR factor.")] = 4,
    sigma: Annotated[float, typer.Option("--sigma", help="Denoise: Gaussian noise level (0-255 scale).")] = 25.0,
    quality: Annotated[int, typer.Option("--quality", help="Deblock: JPEG quality.")] = 10,
    model: Annotated[Optional[str], typer.Option("-m", "--model", help="Model name or checkpoint, or the baselines 'bicubic' (sr) / 'identity'.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Noise seed (image i uses seed + i).")] = 0,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N images (sorted by name).")] = None,
    gray: Annotated[bool, typer.Option("--gray", help="Denoise/deblock: convert colour images to gray first.")] = False,
    blind: Annotated[bool, typer.Option("--blind", help="Denoise: estimate sigma from each noisy image instead of passing the true level.")] = False,
    save: Annotated[Optional[Path], typer.Option("--save", help="Write restored images and comparison sheets here.")] = None,
    tile: opt.Tile = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = 0,
    backend: opt.Backend = "auto",
    ensemble: opt.Ensemble = False,
    offline: opt.Offline = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Degrade clean images (MATLAB bicubic, seeded Gaussian noise or OpenCV JPEG), restore, score.

    SR is scored on Y with a border crop of the scale; denoise on RGB; deblock on gray (or RGB
    for colour sets). Prints a per-image table and the mean; --json prints one object.
    With --ensemble the model is reported as NAME+ (the literature's mark for x8 self-ensemble).
    """
    cfg = EvalConfig(task, scale, sigma, quality, seed, limit, gray)  # type: ignore[arg-type]
    restore, name = _restore_for(model, cfg, dict(locals()))
    with progress_bar(not quiet and not json_out) as bar:
        tid = bar.add_task("evaluating", total=None) if bar else None
        hook = (lambda done, total: bar.update(tid, completed=done, total=total)) if bar and tid is not None else None
        result = evaluate(dataset, restore, cfg, name, save_dir=save, progress=hook)
    if json_out:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    elif not quiet:
        stderr_console.print(_table(result))
        typer.echo(f"{name} {dataset.name} {task}: PSNR {result.psnr:.4f} dB, SSIM {result.ssim:.4f}")
