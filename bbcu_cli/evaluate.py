"""Benchmark evaluation (library half of ``bbcu eval``).

Protocol (``shared/datasets/README.md``): images are read as uint8 and degraded per task;
``restore`` maps the degraded float32 ``(H, W, C)`` image in [0, 1] to a restored float32 image,
quantized as ``round(clip(x, 0, 1) * 255)`` before metrics.

- ``sr``: reference = HR cropped to a multiple of ``scale``, input = MATLAB-bicubic LR / 255
  (or another named degradation, :mod:`bbcu_cli.degradations`), Y-channel metrics with a
  ``scale``-pixel border crop; gray HR images become R = G = B.
- ``denoise``: input = clean / 255 + N(0, sigma/255), unclipped, seed ``seed + index``;
  metrics on every channel (RGB, or the one gray channel), no crop.
- ``deblock``: input = OpenCV JPEG(clean, quality) / 255, no crop. Gray images (BSD68, or any
  set with ``gray=True``, which converts to BT.601 luma first) are encoded and scored as gray;
  colour images (CBSD68) are encoded and scored as RGB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .archs.spec import Task
from .degrade import modcrop
from .errors import InputError, OutputError, UsageError
from .eval_data import (
    EvalConfig,
    Restore,
    bicubic_baseline,
    default_baseline,
    identity_baseline,
    list_dataset,
    load_clean,
    make_degraded,
    quantize,
)
from .eval_sheet import SHEET_CROP, SHEET_GAP, SHEET_LABEL, SHEET_ZOOM, _input_panel, _label, _save, comparison_sheet
from .metrics import image_metrics

__all__ = [
    "Task",
    "Restore",
    "EvalConfig",
    "ImageResult",
    "EvalResult",
    "list_dataset",
    "load_clean",
    "make_degraded",
    "quantize",
    "bicubic_baseline",
    "identity_baseline",
    "default_baseline",
    "comparison_sheet",
    "evaluate",
    "SHEET_CROP",
    "SHEET_ZOOM",
    "SHEET_LABEL",
    "SHEET_GAP",
]


@dataclass
class ImageResult:
    """Scores of one image: ``input_*`` for the degraded input (None for ``sr``), ``baseline_*``
    for the baseline output (None when no baseline ran)."""

    name: str
    psnr: float
    ssim: float
    input_psnr: float | None = None
    input_ssim: float | None = None
    baseline_psnr: float | None = None
    baseline_ssim: float | None = None


@dataclass
class EvalResult:
    """Run summary (means over images); ``scale``/``sigma``/``quality`` are None where the task
    does not use them."""

    task: Task
    model: str
    dataset: str
    scale: int | None
    sigma: float | None
    quality: int | None
    psnr: float
    ssim: float
    images: list[ImageResult] = field(default_factory=list)
    degradation: str | None = None
    clean_variant: tuple[int, int] | None = None
    """For a model with a clean variant (:mod:`bbcu_cli.routing`): (images it restored, images)."""
    alias_variant: tuple[int, int] | None = None
    """For a model with an alias variant: (images it restored, images)."""
    copies: int = 1
    """Self-ensemble copies averaged per image (:mod:`bbcu_cli.engine.ensemble`; 1: none)."""

    def mean_of(self, name: str) -> float | None:
        """Mean of an :class:`ImageResult` field (e.g. ``"baseline_psnr"``); None if unset."""
        values = [getattr(r, name) for r in self.images]
        return None if not values or None in values else float(np.mean(values))

    def to_json(self) -> dict[str, Any]:
        """Dict with keys task, model, dataset, scale, sigma, quality, psnr, ssim, copies,
        degradation (sr only), clean_variant_images / alias_variant_images (``[n, of]``, a model with such a
        variant only) and
        images (a list of {name, psnr, ssim})."""
        keys = ("task", "model", "dataset", "scale", "sigma", "quality", "psnr", "ssim", "copies")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        if self.degradation is not None:
            out["degradation"] = self.degradation
        if self.clean_variant is not None:
            out["clean_variant_images"] = list(self.clean_variant)
        if self.alias_variant is not None:
            out["alias_variant_images"] = list(self.alias_variant)
        out["images"] = [{"name": r.name, "psnr": r.psnr, "ssim": r.ssim} for r in self.images]
        return out


def _score(out_u8: np.ndarray, ref_u8: np.ndarray, cfg: EvalConfig) -> tuple[float, float]:
    crop, space = (cfg.scale, "y") if cfg.task == "sr" else (0, "rgb")
    space = "gray" if cfg.task == "deblock" and ref_u8.shape[2] == 1 else space
    # float64 k / 255 so that the metrics' * 255 gives back the integers (float32 would not)
    psnr, ssim = image_metrics(out_u8 / 255.0, ref_u8 / 255.0, crop=crop, space=space)
    return float(psnr), float(ssim)


def _run(restore: Restore, degraded: np.ndarray, ref: np.ndarray, who: str) -> np.ndarray:
    out = np.asarray(restore(degraded))
    out = out[..., None] if out.ndim == 2 else out
    if out.shape != ref.shape:
        raise InputError(
            f"{who} returned shape {out.shape}, expected {ref.shape}",
            "check that the task, scale and channel count match the model",
        )
    return quantize(out)


def _evaluate_image(
    path: Path,
    index: int,
    restore: Restore,
    cfg: EvalConfig,
    model_name: str,
    baseline: tuple[str, Restore] | None,
    save_dir: Path | None,
) -> ImageResult:
    clean = load_clean(path, cfg)
    ref = modcrop(clean, cfg.scale) if cfg.task == "sr" else clean
    if min(ref.shape[:2]) < max(cfg.scale, 1) * 2:  # the degraded input needs 2 pixels a side
        h, w = clean.shape[:2]
        raise InputError(f"{path} is {w}x{h}, too small to evaluate at x{cfg.scale}", "leave it out of the dataset")
    degraded = make_degraded(ref, cfg, index)
    out = _run(restore, degraded, ref, model_name)
    res = ImageResult(path.stem, *_score(out, ref, cfg))
    if cfg.task != "sr":
        res.input_psnr, res.input_ssim = _score(quantize(degraded), ref, cfg)
    if baseline is None:
        return res
    base_out = _run(baseline[1], degraded, ref, baseline[0])
    res.baseline_psnr, res.baseline_ssim = _score(base_out, ref, cfg)
    if save_dir is not None:
        panels = [
            (_label("input", res.input_psnr), _input_panel(degraded, ref)),
            (_label(baseline[0], res.baseline_psnr), base_out),
            (_label(model_name, res.psnr), out),
            ("reference", ref),
        ]
        _save(save_dir / f"{path.stem}.png", out)
        _save(save_dir / f"{path.stem}_compare.png", comparison_sheet(panels, ref))
    return res


def _check_save_dir(save_dir: Path, folder: Path, paths: list[Path]) -> None:
    """``--save`` never writes into the dataset (it replaced ``a.png`` with its restored output,
    and the next run scored the sheets too) and never writes two images to one name."""
    data, target = folder.resolve(), save_dir.resolve()
    if target == data or data in target.parents:
        raise UsageError(
            f"--save {save_dir} is inside the dataset folder {folder}", "save to a folder outside the dataset"
        )
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise UsageError(
                f"{stems[path.stem]} and {path} would both be saved as {path.stem}.png",
                "give the dataset images distinct names, or drop --save",
            )
        stems[path.stem] = path


def _named(path: Path, run: Callable[[], ImageResult]) -> ImageResult:
    """Run one image's evaluation; an InputError that does not name the file gets its name.

    A benchmark mean needs every image, so the first bad one still ends the run (exit 1).
    """
    try:
        return run()
    except InputError as exc:
        if str(path) not in exc.raw_message and path.name not in exc.raw_message:
            exc.raw_message = f"{path}: {exc.raw_message}"
        raise


def evaluate(
    folder: Path,
    restore: Restore,
    cfg: EvalConfig,
    model_name: str,
    save_dir: Path | None = None,
    baseline: Restore | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Degrade, restore and score every image of ``folder`` (protocol in the module docstring).

    With ``save_dir``: writes ``<stem>.png`` (restored, quantized) and ``<stem>_compare.png``
    (input, baseline, output, reference; see :func:`comparison_sheet`). The baseline is
    ``baseline`` if given, else :func:`default_baseline` when saving; its scores are recorded
    whenever it runs. ``progress(done, total)`` is called after each image. Raises InputError
    (no images, unreadable image, wrong output shape) or OutputError (``save_dir`` unwritable).
    """
    paths = list_dataset(folder, cfg.limit)
    if not paths:
        raise InputError(f"no images in {folder}", "expected png, jpg, webp, bmp or tiff files")
    if save_dir is not None:
        _check_save_dir(save_dir, folder, paths)
        try:
            save_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {save_dir}: {exc}", "pick a writable folder") from exc
    name_base = default_baseline(cfg) if baseline is None else ("baseline", baseline)
    run_base = name_base if baseline is not None or save_dir is not None else None
    results: list[ImageResult] = []
    for index, path in enumerate(paths):
        results.append(
            _named(path, lambda p=path, i=index: _evaluate_image(p, i, restore, cfg, model_name, run_base, save_dir))
        )
        if progress is not None:
            progress(index + 1, len(paths))
    used = {"sr": (cfg.scale, None, None), "denoise": (None, cfg.sigma, None), "deblock": (None, None, cfg.quality)}[
        cfg.task
    ]
    psnr, ssim = (float(np.mean([getattr(r, k) for r in results])) for k in ("psnr", "ssim"))
    degradation = cfg.degradation if cfg.task == "sr" else None
    return EvalResult(cfg.task, model_name, folder.name, *used, psnr, ssim, results, degradation)
