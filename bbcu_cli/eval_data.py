"""Benchmark evaluation inputs (:mod:`bbcu_cli.evaluate`): the run settings
(:class:`EvalConfig`), the dataset listing, the clean references, the degraded model inputs
per task, the 8-bit quantization, and the baseline restore callables (bicubic, identity).

The protocol itself is described in :mod:`bbcu_cli.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import imagefiles
from .archs.spec import TASKS, Task
from .degradations import SR_DEGRADATIONS, degrade_sr
from .degrade import add_gaussian_noise, bicubic_downscale_uint8, bicubic_upscale, image_seed, jpeg_compress, modcrop
from .errors import InputError, UsageError, option

__all__ = [
    "Restore",
    "EvalConfig",
    "list_dataset",
    "load_clean",
    "make_degraded",
    "quantize",
    "bicubic_baseline",
    "identity_baseline",
    "default_baseline",
]

Restore = Callable[[np.ndarray], np.ndarray]


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
