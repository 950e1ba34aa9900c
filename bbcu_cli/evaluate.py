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
from PIL import Image, ImageDraw, ImageFont

from . import imagefiles
from .archs.spec import TASKS, Task
from .degradations import SR_DEGRADATIONS, degrade_sr
from .degrade import add_gaussian_noise, bicubic_downscale_uint8, bicubic_upscale, image_seed, jpeg_compress, modcrop
from .errors import InputError, OutputError, UsageError, option
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

Restore = Callable[[np.ndarray], np.ndarray]
SHEET_CROP, SHEET_ZOOM, SHEET_LABEL, SHEET_GAP = 96, 3, 16, 4


@dataclass
class EvalConfig:
    """What to evaluate: ``scale`` (sr), ``sigma`` (denoise, image ``i`` noised with seed
    ``seed + i``), ``quality`` (deblock); ``limit`` keeps the first N images in sorted order;
    ``gray`` (denoise/deblock) converts colour images to luma; ``degradation`` (sr) names how
    the LR input is made (``matlab``: the protocol). Raises UsageError if invalid.
    """

    task: Task
    scale: int = 4
    sigma: float = 25
    quality: int = 10
    seed: int = 0
    limit: int | None = None
    gray: bool = False
    degradation: str = "matlab"

    def __post_init__(self) -> None:
        checks = [
            (self.task in TASKS, f"unknown task {self.task!r}"),
            (self.scale >= 1, f"scale must be >= 1, got {self.scale}"),
            (self.sigma >= 0, f"sigma must be >= 0, got {self.sigma}"),
            (0 <= self.quality <= 100, f"quality must be in 0..100, got {self.quality}"),
            (self.limit is None or self.limit >= 1, f"limit must be >= 1, got {self.limit}"),
            (
                self.degradation in SR_DEGRADATIONS,
                f"unknown degradation {self.degradation!r} (known: {', '.join(SR_DEGRADATIONS)})",
            ),
            (
                self.task == "sr" or self.degradation == "matlab",
                f"{option('degradation')} applies to {option('task', 'sr')}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message, "fix the evaluation options")


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

    def mean_of(self, name: str) -> float | None:
        """Mean of an :class:`ImageResult` field (e.g. ``"baseline_psnr"``); None if unset."""
        values = [getattr(r, name) for r in self.images]
        return None if not values or None in values else float(np.mean(values))

    def to_json(self) -> dict[str, Any]:
        """Dict with keys task, model, dataset, scale, sigma, quality, psnr, ssim, degradation
        (sr only) and images (a list of {name, psnr, ssim})."""
        keys = ("task", "model", "dataset", "scale", "sigma", "quality", "psnr", "ssim")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        if self.degradation is not None:
            out["degradation"] = self.degradation
        out["images"] = [{"name": r.name, "psnr": r.psnr, "ssim": r.ssim} for r in self.images]
        return out


def list_dataset(folder: Path, limit: int | None = None) -> list[Path]:
    """Image files directly in ``folder`` (``imagefiles.SUPPORTED_EXTENSIONS``, any case, dot-files
    skipped), sorted by name, truncated to ``limit``. Raises InputError if not a folder."""
    if not folder.is_dir():
        raise InputError(f"dataset folder not found: {folder}", "pass a folder of images")
    paths = sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower().lstrip(".") in imagefiles.SUPPORTED_EXTENSIONS
    )
    return paths if limit is None else paths[:limit]


def load_clean(path: Path, cfg: EvalConfig) -> np.ndarray:
    """Clean uint8 ``(H, W, C)`` image, alpha dropped: C = 3 for ``sr`` (gray -> R = G = B) and
    colour images; C = 1 for gray images, or colour ones with ``cfg.gray`` (BT.601 luma).
    Raises InputError if the file cannot be decoded."""
    pixels = imagefiles.read_image(path).pixels
    if cfg.task == "sr" and pixels.shape[2] == 1:
        pixels = imagefiles.gray_to_rgb(pixels)
    elif cfg.task != "sr" and cfg.gray and pixels.shape[2] == 3:
        pixels = imagefiles.rgb_to_gray(pixels)
    return imagefiles.to_uint(pixels, 8)


def make_degraded(clean_uint8: np.ndarray, cfg: EvalConfig, index: int) -> np.ndarray:
    """Model input, float32, for image ``index`` (0-based) of a run.

    ``sr``: ``bicubic_downscale_uint8(clean, scale) / 255`` (clean is modcropped first), shape
    ``(H // s, W // s, C)``, or the named ``cfg.degradation`` (noise seeded per image); ``denoise``: ``clean / 255 + N(0, sigma/255)`` with seed
    ``image_seed(seed, index)``, unclipped; ``deblock``: ``jpeg_compress(clean, quality) / 255``.
    """
    if cfg.task == "sr" and cfg.degradation != "matlab":
        out = (
            degrade_sr(modcrop(clean_uint8, cfg.scale), cfg.scale, cfg.degradation, image_seed(cfg.seed, index)) / 255.0
        )
    elif cfg.task == "sr":
        out = bicubic_downscale_uint8(clean_uint8, cfg.scale) / 255.0
    elif cfg.task == "denoise":
        out = add_gaussian_noise(clean_uint8 / 255.0, cfg.sigma, image_seed(cfg.seed, index))
    else:
        out = jpeg_compress(clean_uint8, cfg.quality) / 255.0
    return out.astype(np.float32)


def quantize(img: np.ndarray) -> np.ndarray:
    """``round(clip(x, 0, 1) * 255)`` as uint8, half away from zero; NaN gives 0."""
    x = np.nan_to_num(img.astype(np.float64), nan=0.0)
    return np.floor(np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def bicubic_baseline(scale: int) -> Restore:
    """Restore callable: MATLAB bicubic upsampling by ``scale`` (float32 out, unclipped)."""
    return lambda lr: bicubic_upscale(lr.astype(np.float32), scale)


def identity_baseline() -> Restore:
    """Restore callable returning a copy of the degraded input."""
    return lambda img: np.array(img, dtype=np.float32, copy=True)


def default_baseline(cfg: EvalConfig) -> tuple[str, Restore]:
    """``("bicubic", bicubic_baseline(scale))`` for ``sr``, else ``("input", identity)``."""
    if cfg.task == "sr":
        return "bicubic", bicubic_baseline(cfg.scale)
    return "input", identity_baseline()


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


def _best_window(ref: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` x ``size`` window of highest variance (channel mean)."""
    luma = ref.astype(np.float64).mean(axis=2)

    def box(a: np.ndarray) -> np.ndarray:
        s = np.pad(a.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        return (s[size:, size:] - s[:-size, size:] - s[size:, :-size] + s[:-size, :-size]) / size**2

    var = box(luma * luma) - box(luma) ** 2
    top, left = np.unravel_index(int(np.argmax(var)), var.shape)
    return int(top), int(left)


def comparison_sheet(panels: list[tuple[str, np.ndarray]], reference: np.ndarray) -> np.ndarray:
    """Panels side by side, each the same crop: the ``c = min(SHEET_CROP, H, W)`` square of
    highest variance in ``reference``, zoomed ``SHEET_ZOOM`` x (nearest), under a ``SHEET_LABEL``
    px white strip with the label (Pillow's default font); panels ``SHEET_GAP`` px apart.
    ``panels`` are ``(label, uint8 (H, W, C))`` pairs, C in {1, 3}, of ``reference``'s size.
    Returns uint8 RGB ``(SHEET_LABEL + z, n z + (n - 1) SHEET_GAP, 3)``, ``z = c SHEET_ZOOM``.
    """
    size = min(SHEET_CROP, reference.shape[0], reference.shape[1])
    top, left = _best_window(reference, size)
    z = size * SHEET_ZOOM
    width = len(panels) * (z + SHEET_GAP) - SHEET_GAP
    sheet = Image.new("RGB", (width, SHEET_LABEL + z), "white")
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for k, (label, img) in enumerate(panels):
        tile = np.broadcast_to(img[top : top + size, left : left + size], (size, size, 3))
        tile = tile.repeat(SHEET_ZOOM, axis=0).repeat(SHEET_ZOOM, axis=1)
        x = k * (z + SHEET_GAP)
        sheet.paste(Image.fromarray(np.ascontiguousarray(tile)), (x, SHEET_LABEL))
        while label and draw.textlength(label, font=font) > z - 4:
            label = label[:-1]
        draw.text((x + 2, 2), label, fill="black", font=font)
    return np.asarray(sheet)


def _label(name: str, psnr: float | None) -> str:
    return name if psnr is None else f"{name} {psnr:.2f} dB"


def _save(path: Path, img_u8: np.ndarray) -> None:
    mode = "gray" if img_u8.shape[2] == 1 else "rgb"
    imagefiles.write_image(path, imagefiles.Image(imagefiles.from_uint(img_u8), None, 8, mode, None))


def _input_panel(degraded: np.ndarray, ref: np.ndarray) -> np.ndarray:
    f = ref.shape[0] // degraded.shape[0]
    return quantize(degraded).repeat(f, axis=0).repeat(f, axis=1)


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
        try:
            save_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {save_dir}: {exc}", "pick a writable folder") from exc
    name_base = default_baseline(cfg) if baseline is None else ("baseline", baseline)
    run_base = name_base if baseline is not None or save_dir is not None else None
    results: list[ImageResult] = []
    for index, path in enumerate(paths):
        results.append(_evaluate_image(path, index, restore, cfg, model_name, run_base, save_dir))
        if progress is not None:
            progress(index + 1, len(paths))
    used = {"sr": (cfg.scale, None, None), "denoise": (None, cfg.sigma, None), "deblock": (None, None, cfg.quality)}[
        cfg.task
    ]
    psnr, ssim = (float(np.mean([getattr(r, k) for r in results])) for k in ("psnr", "ssim"))
    degradation = cfg.degradation if cfg.task == "sr" else None
    return EvalResult(cfg.task, model_name, folder.name, *used, psnr, ssim, results, degradation)
