"""How a low-resolution input is made: named SR degradations (``bbcu eval --degradation``) and the
random mix that robust SR models are trained on (``bbcu train --degradation mixed``).

Named degradations map a clean, modcropped HR uint8 image ``(H, W, C)`` to an LR uint8 image
``(H / s, W / s, C)``:

========== =====================================================================================
matlab     MATLAB ``imresize(hr, 1/s, 'bicubic')`` (antialiased): the benchmark protocol
cv2-cubic  ``cv2.resize(INTER_CUBIC)``: no antialiasing (what many scripts and apps do)
cv2-linear ``cv2.resize(INTER_LINEAR)``: no antialiasing
cv2-area   ``cv2.resize(INTER_AREA)``: box average
cv2-lanczos ``cv2.resize(INTER_LANCZOS4)``: no antialiasing
pil        Pillow ``resize(BICUBIC)`` (antialiased, Pillow's own kernel support)
jpeg75     matlab, then OpenCV JPEG at quality 75
noise5     matlab, then Gaussian noise of sigma 5 (0-255 scale, seed per image), rounded to uint8
========== =====================================================================================

The training mix (:class:`MixedDegradation`, per patch, every probability and range a field
recorded in the model's provenance): optional Gaussian blur of the HR patch, one downscaler
drawn from the weights, optional Gaussian noise, optional JPEG, in that order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import cv2
import numpy as np
from PIL import Image

from .degrade import bicubic_downscale_uint8, jpeg_compress

__all__ = ["SR_DEGRADATIONS", "EVAL_DEGRADATIONS", "downscale", "degrade_sr", "MixedDegradation"]

Downscaler = Callable[[np.ndarray, int], np.ndarray]

_CV2_FLAGS = {
    "cv2-cubic": cv2.INTER_CUBIC,
    "cv2-linear": cv2.INTER_LINEAR,
    "cv2-area": cv2.INTER_AREA,
    "cv2-lanczos": cv2.INTER_LANCZOS4,
}


def _cv2_down(flag: int) -> Downscaler:
    def run(hr: np.ndarray, scale: int) -> np.ndarray:
        h, w = hr.shape[0] // scale, hr.shape[1] // scale
        out = cv2.resize(np.ascontiguousarray(hr), (w, h), interpolation=flag)
        return out.reshape(h, w, hr.shape[2])

    return run


def _pil_down(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w, c = hr.shape[0] // scale, hr.shape[1] // scale, hr.shape[2]
    planes = [
        np.asarray(Image.fromarray(np.ascontiguousarray(hr[:, :, i])).resize((w, h), Image.BICUBIC)) for i in range(c)
    ]
    return np.stack(planes, axis=2)


#: downscalers by name (the first part of every SR degradation)
DOWNSCALERS: dict[str, Downscaler] = {
    "matlab": bicubic_downscale_uint8,
    **{name: _cv2_down(flag) for name, flag in _CV2_FLAGS.items()},
    "pil": _pil_down,
}


def downscale(hr_uint8: np.ndarray, scale: int, method: str = "matlab") -> np.ndarray:
    """``(H, W, C)`` uint8 (H, W multiples of ``scale``) -> ``(H/s, W/s, C)`` uint8 by ``method``.

    Raises:
        ValueError: unknown method or non-uint8 input.
    """
    if method not in DOWNSCALERS:
        raise ValueError(f"unknown downscaler {method!r}; known: {', '.join(DOWNSCALERS)}")
    if hr_uint8.dtype != np.uint8:
        raise ValueError(f"expected uint8 input, got {hr_uint8.dtype}")
    return DOWNSCALERS[method](hr_uint8, scale)


def add_noise_uint8(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``round(clip(img + N(0, sigma)))`` on the 0-255 scale, uint8 (noise as a camera saves it)."""
    noisy = img.astype(np.float64) + rng.normal(0.0, sigma, size=img.shape)
    return np.floor(np.clip(noisy, 0.0, 255.0) + 0.5).astype(np.uint8)


def _then_jpeg(quality: int) -> Callable[[np.ndarray, int, int], np.ndarray]:
    return lambda hr, scale, seed: jpeg_compress(bicubic_downscale_uint8(hr, scale), quality)


def _then_noise(sigma: float) -> Callable[[np.ndarray, int, int], np.ndarray]:
    return lambda hr, scale, seed: add_noise_uint8(
        bicubic_downscale_uint8(hr, scale), sigma, np.random.default_rng(seed)
    )


#: every named SR degradation: ``fn(hr_uint8, scale, seed) -> lr_uint8`` (seed used by noise5 only)
SR_DEGRADATIONS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    **{name: (lambda hr, scale, seed, n=name: downscale(hr, scale, n)) for name in DOWNSCALERS},
    "jpeg75": _then_jpeg(75),
    "noise5": _then_noise(5.0),
}
#: the columns of ``bbcu eval --degradation all``, in order
EVAL_DEGRADATIONS = ("matlab", "cv2-cubic", "cv2-area", "cv2-linear", "pil", "jpeg75", "noise5")


def degrade_sr(hr_uint8: np.ndarray, scale: int, name: str, seed: int = 0) -> np.ndarray:
    """The LR image of ``hr_uint8`` (modcropped) under the named degradation.

    Raises:
        ValueError: unknown name.
    """
    if name not in SR_DEGRADATIONS:
        raise ValueError(f"unknown degradation {name!r}; known: {', '.join(SR_DEGRADATIONS)}")
    return SR_DEGRADATIONS[name](hr_uint8, scale, seed)


def _default_weights() -> dict[str, float]:
    return {"matlab": 0.3, "cv2-cubic": 0.15, "cv2-linear": 0.1, "cv2-area": 0.15, "cv2-lanczos": 0.1, "pil": 0.2}


@dataclass(frozen=True)
class MixedDegradation:
    """Per-patch random degradation for training robust SR models.

    Order: blur (probability ``blur_p``, Gaussian sigma ``U(blur_sigma) * scale`` HR pixels),
    downscale (method drawn with ``weights``), noise (``noise_p``, sigma ``U(noise_sigma)``,
    0-255 scale, rounded to uint8), JPEG (``jpeg_p``, quality ``U{jpeg_quality}``).
    """

    weights: dict[str, float] = field(default_factory=_default_weights)
    blur_p: float = 0.25
    blur_sigma: tuple[float, float] = (0.2, 0.5)
    noise_p: float = 0.25
    noise_sigma: tuple[float, float] = (1.0, 8.0)
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (50, 95)

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(DOWNSCALERS)
        finite = all(np.isfinite(w) and w >= 0 for w in self.weights.values())
        if unknown or not self.weights or not finite or sum(self.weights.values()) <= 0:
            raise ValueError(f"bad downscaler weights {self.weights}; known methods: {', '.join(DOWNSCALERS)}")
        for p in (self.blur_p, self.noise_p, self.jpeg_p):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"probabilities must be in [0, 1], got {p}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for provenance."""
        return asdict(self)

    def apply(self, hr_uint8: np.ndarray, scale: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """Degrade one HR patch ``(sH, sW, C)`` uint8; returns the LR patch and what was done."""
        steps = []
        img = hr_uint8
        if rng.random() < self.blur_p:
            sigma = float(rng.uniform(*self.blur_sigma)) * scale
            img = cv2.GaussianBlur(np.ascontiguousarray(img), (0, 0), sigma, borderType=cv2.BORDER_REFLECT).reshape(
                img.shape
            )
            steps.append(f"blur{sigma:.2f}")
        names = list(self.weights)
        probs = np.array([self.weights[n] for n in names], dtype=np.float64)
        method = names[int(rng.choice(len(names), p=probs / probs.sum()))]
        img = downscale(img, scale, method)
        steps.append(method)
        if rng.random() < self.noise_p:
            sigma = float(rng.uniform(*self.noise_sigma))
            img = add_noise_uint8(img, sigma, rng)
            steps.append(f"noise{sigma:.1f}")
        if rng.random() < self.jpeg_p:
            quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            img = jpeg_compress(img, quality)
            steps.append(f"jpeg{quality}")
        return img, "+".join(steps)
