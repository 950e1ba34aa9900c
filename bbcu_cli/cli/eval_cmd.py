"""``bbcu eval DATASET --task ...``: benchmark a model (or a baseline) with the paper protocol."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..errors import UsageError
from . import options as opt
from .report import progress_bar, stderr_console
from .settings import EngineSettings, ModelChoice

if TYPE_CHECKING:
    from rich.table import Table

    from ..engine.restore import Restorer
    from ..evaluate import EvalConfig, EvalResult, Restore

__all__ = ["eval_command", "model_restore"]

_BASELINES = {"bicubic": "sr", "identity": None}


def _baseline(name: str, cfg: EvalConfig) -> Restore:
    from ..evaluate import bicubic_baseline, identity_baseline

    if name == "bicubic" and cfg.task != "sr":
        raise UsageError("the bicubic baseline is for --task sr", "use -m identity for denoise/deblock")
    return bicubic_baseline(cfg.scale) if name == "bicubic" else identity_baseline()


def model_restore(
    restorer: Restorer, *, sigma: float | None, blind: bool = False, quality: float | None = None
) -> Restore:
    """A restore callable for :func:`evaluate` (true sigma, or estimated with ``blind``), with
    a denoiser's change weighted by the noise level and a deblocker's by the JPEG ``quality``, as
    the restoring commands do (they read the quality from the JPEG file)."""
    import numpy as np

    from ..batch.restore import residual_weight, restore_weighted
    from ..noise_estimate import estimate_sigma

    def run(img: np.ndarray) -> np.ndarray:
        level = (estimate_sigma(img) if blind else sigma) if restorer.spec.noise_channel else None
        weight = residual_weight(restorer.spec.task, level, quality)
        return restore_weighted(restorer, img, weight, sigma=level, out_dtype=np.float32)

    return run


class _RouteTally:
    """Counts the images a model with variants handed to each (:mod:`bbcu_cli.routing`)."""

    def __init__(self, restorer: Restorer | None) -> None:
        self.restorer, self.counts = restorer, Counter[str]()
        route = restorer.loaded.route if restorer is not None else None
        self.kinds = [v.kind for v in route.variants] if route is not None else []

    def wrap(self, restore: Restore) -> Restore:
        def run(img: Any) -> Any:
            out = restore(img)
            choice = self.restorer.last_choice if self.restorer is not None else None
            if choice is not None:
                self.counts.update([choice.variant, "total"])
            return out

        return run

    def take(self) -> dict[str, tuple[int, int]]:
        """``{"clean_variant": (n, images), ...}`` for each variant the model has, since the last
        call; empty when nothing was routed."""
        total, counts = self.counts["total"], self.counts
        self.counts = Counter()
        return {f"{kind}_variant": (counts[kind], total) for kind in self.kinds} if total else {}


def _restore_for(
    choice: ModelChoice, cfg: EvalConfig, engine: EngineSettings, *, blind: bool
) -> tuple[Restore, str, _RouteTally]:
    """A baseline, or the model from the factory on ``engine``; with its report name and the
    tally of its clean variant's images."""
    if choice.model in _BASELINES:
        if engine.ensemble or (engine.copies or 1) > 1:
            flag = "--ensemble" if engine.ensemble else f"--copies {engine.copies}"
            raise UsageError(
                f"{flag} needs a model, not the {choice.model} baseline", f"drop {flag.split()[0]} or pass -m MODEL"
            )
        return _baseline(choice.model, cfg), choice.model, _RouteTally(None)
    from ..factory import resolve_model

    chosen = resolve_model(choice.model, task=cfg.task, scale=choice.scale, offline=choice.offline, route=choice.route)
    restorer = engine.restorer(chosen.model)
    quality = cfg.quality if cfg.task == "deblock" else None
    tally = _RouteTally(restorer)
    restore = tally.wrap(model_restore(restorer, sigma=cfg.sigma, blind=blind, quality=quality))
    return restore, chosen.name + ("+" if restorer.ensemble else ""), tally


def _table(result: EvalResult) -> Table:
    from rich.table import Table

    title = (
        f"{result.model} on {result.dataset} ({result.task}{', ' + result.degradation if result.degradation else ''})"
    )
    table = Table(title=title)
    for col in ("image", "PSNR (dB)", "SSIM"):
        table.add_column(col, justify="right" if col != "image" else "left")
    for img in result.images:
        table.add_row(img.name, f"{img.psnr:.4f}", f"{img.ssim:.4f}")
    table.add_section()
    table.add_row("mean", f"{result.psnr:.4f}", f"{result.ssim:.4f}", style="bold")
    return table


def _degradation_table(results: list[EvalResult]) -> Table:
    from rich.table import Table

    first = results[0]
    table = Table(
        title=f"{first.model} on {first.dataset} (x{first.scale}, Y, crop {first.scale}): one column per degradation"
    )
    table.add_column("metric", justify="left")
    for r in results:
        table.add_column(str(r.degradation), justify="right")
    table.add_row("PSNR (dB)", *(f"{r.psnr:.2f}" for r in results))
    table.add_row("SSIM", *(f"{r.ssim:.4f}" for r in results))
    for kind in ("clean", "alias"):
        if getattr(first, f"{kind}_variant") is not None:
            table.add_row(f"{kind} variant", *(_routed_text(r, kind) for r in results))
    return table


def _routed_text(result: EvalResult, kind: str = "clean") -> str:
    """``3 of 5``: the images a model with a ``kind`` variant handed to it ("" without one)."""
    found = getattr(result, f"{kind}_variant")
    return "" if found is None else f"{found[0]} of {found[1]}"


def _degradations(name: str, task: str) -> list[str]:
    from ..degradations import EVAL_DEGRADATIONS

    if name == "all":
        if task != "sr":
            raise UsageError("--degradation applies to --task sr", "drop --degradation")
        return list(EVAL_DEGRADATIONS)
    return [name]


def _evaluate_all(
    dataset: Path,
    restore: Restore,
    configs: list[EvalConfig],
    name: str,
    save: Path | None,
    show: bool,
    tally: _RouteTally,
) -> list[EvalResult]:
    from ..evaluate import evaluate

    results = []
    with progress_bar(show) as bar:
        for cfg in configs:
            label = f"evaluating ({cfg.degradation})" if len(configs) > 1 else "evaluating"
            tid = bar.add_task(label, total=None) if bar else None
            hook = (
                (lambda done, total, t=tid: bar.update(t, completed=done, total=total))
                if bar and tid is not None
                else None
            )
            where = save / cfg.degradation if save is not None and len(configs) > 1 else save
            result = evaluate(dataset, restore, cfg, name, save_dir=where, progress=hook)
            results.append(replace(result, **tally.take()))
    return results


def _report(results: list[EvalResult], json_out: bool, quiet: bool) -> None:
    if json_out:
        payload = results[0].to_json() if len(results) == 1 else {"results": [r.to_json() for r in results]}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    if quiet:
        return
    stderr_console.print(_table(results[0]) if len(results) == 1 else _degradation_table(results))
    for r in results:
        how = f" ({r.degradation})" if len(results) > 1 else ""
        kinds = [k for k in ("clean", "alias") if getattr(r, f"{k}_variant")]
        routed = f" ({', '.join(f'{k} variant: {_routed_text(r, k)}' for k in kinds)} images)" if kinds else ""
        copies = f", {r.copies} copies" if 1 < r.copies < 8 else ""  # 8: the name says NAME+
        typer.echo(f"{r.model} {r.dataset} {r.task}{how}{copies}: PSNR {r.psnr:.4f} dB, SSIM {r.ssim:.4f}{routed}")


def eval_command(
    dataset: Annotated[
        Path, typer.Argument(help="Folder of clean benchmark images (e.g. ../shared/datasets/bench/Set5).")
    ],
    task: Annotated[str, typer.Option("--task", help=opt.TASK_HELP)] = "sr",
    scale: Annotated[int, typer.Option("-s", "--scale", help="SR factor.")] = 4,
    sigma: Annotated[float, typer.Option("--sigma", help="Denoise: Gaussian noise level (0-255 scale).")] = 25.0,
    quality: Annotated[int, typer.Option("--quality", help="Deblock: JPEG quality.")] = 10,
    degradation: Annotated[
        str,
        typer.Option(
            "--degradation",
            help="SR: how the LR input is made: matlab (the protocol), cv2-cubic, cv2-area, cv2-linear, cv2-lanczos, pil, jpeg75, noise5, or 'all' (one column each).",
        ),
    ] = "matlab",
    model: Annotated[
        Optional[str],
        typer.Option("-m", "--model", help="Model name or checkpoint, or the baselines 'bicubic' (sr) / 'identity'."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Noise seed (image i uses seed + i).")] = 0,
    limit: Annotated[
        Optional[int], typer.Option("--limit", min=1, help="Only the first N images (sorted by name).")
    ] = None,
    gray: Annotated[bool, typer.Option("--gray", help="Denoise/deblock: convert colour images to gray first.")] = False,
    blind: Annotated[
        bool,
        typer.Option(
            "--blind", help="Denoise: estimate sigma from each noisy image instead of passing the true level."
        ),
    ] = False,
    save: Annotated[
        Optional[Path], typer.Option("--save", help="Write restored images and comparison sheets here.")
    ] = None,
    tile: opt.Tile = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = 0,
    backend: opt.Backend = "auto",
    ensemble: opt.Ensemble = False,
    copies: opt.Copies = None,
    offline: opt.Offline = False,
    route: opt.Route = None,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Degrade clean images (MATLAB bicubic, seeded Gaussian noise or OpenCV JPEG), restore, score.

    SR is scored on Y with a border crop of the scale; denoise on RGB; deblock on gray (or RGB
    for colour sets). Prints a per-image table and the mean; --json prints one object
    ({"results": [...]} with --degradation all). With --ensemble (8 copies) the model is reported
    as NAME+ (the literature's mark for x8 self-ensemble); the JSON says how many copies ran.
    """
    from ..evaluate import EvalConfig

    configs = [EvalConfig(task, scale, sigma, quality, seed, limit, gray, d) for d in _degradations(degradation, task)]  # type: ignore[arg-type]
    engine = EngineSettings(
        backend=backend, device=device, threads=threads, tile=tile, ensemble=ensemble, copies=copies
    )
    restore, name, tally = _restore_for(
        ModelChoice(model, scale, offline=offline, route=route), configs[0], engine, blind=blind
    )
    results = _evaluate_all(dataset, restore, configs, name, save, not quiet and not json_out, tally)
    ran = tally.restorer.copies if tally.restorer is not None else 1
    results = [replace(r, copies=ran) for r in results]
    _report(results, json_out, quiet)
