"""Does a low-resolution image look cleanly downscaled (antialiased), or aliased, noisy or blocky?

An image shrunk with an antialiasing filter (MATLAB ``imresize``, Pillow, OpenCV ``INTER_AREA``)
has little energy near its Nyquist frequency; one shrunk by point-like sampling
(``cv2.resize`` with ``INTER_CUBIC``/``LINEAR``/``LANCZOS4``) keeps it, folded down from the
frequencies it dropped. :func:`spectrum_features` measures the shape of the image's power
spectrum (Welch's method on 32 x 32 Hann-windowed tiles of the luma, radial bands relative to
the lowest one) and an 8x8 blockiness; :func:`detector_features` adds the local cues of
:mod:`bbcu_cli.cues` (edge sharpness, a JPEG grid, the noise level), and an
:class:`AliasingDetector` (logistic regression, one per SR scale, fitted by
``training/fit_aliasing.py`` and stored in ``aliasing.json``) turns them into the probability
that a model trained on clean downscaling would do worse than the robust one. Pure numpy; no
torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from .cues import CUE_NAMES, cue_features

__all__ = ["AliasingDetector", "spectrum_features", "detector_features", "detector_for", "FEATURE_NAMES"]

_TILE = 32
_MAX_TILES = 1024
#: radial band edges in cycles per pixel; features are the log power of bands 2.. relative to band 1
_EDGES = (0.0625, 0.125, 0.1875, 0.25, 0.3125, 0.375, 0.4375, 0.5001)
SPECTRUM_NAMES = tuple(f"band{i}" for i in range(2, len(_EDGES))) + ("blockiness",)
FEATURE_NAMES = SPECTRUM_NAMES + CUE_NAMES


def _luma(pixels: np.ndarray) -> np.ndarray:
    """(H, W[, C]) uint8/uint16/float in [0, 1] -> (H, W) float32 luma on the 0..255 scale."""
    x = pixels.astype(np.float32)
    if pixels.dtype == np.uint16:
        x /= 257.0
    elif pixels.dtype.kind == "f":
        x *= 255.0
    if x.ndim == 3 and x.shape[2] == 3:
        return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    return x.reshape(x.shape[0], x.shape[1], -1).mean(axis=2)


def _tiles(y: np.ndarray) -> np.ndarray:
    """At most ``_MAX_TILES`` half-overlapping 32 x 32 tiles, evenly spread: (n, 32, 32)."""
    step = _TILE // 2
    view = np.lib.stride_tricks.sliding_window_view(y, (_TILE, _TILE))[::step, ::step]
    flat = view.reshape(-1, _TILE, _TILE)
    if len(flat) > _MAX_TILES:
        flat = flat[np.linspace(0, len(flat) - 1, _MAX_TILES).astype(int)]
    return flat


@lru_cache(maxsize=1)
def _bands() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Hann window, the row and (half-spectrum) column DFT matrices, and the band masks."""
    window = np.outer(np.hanning(_TILE), np.hanning(_TILE)).astype(np.float32)
    n = np.arange(_TILE)
    rows = np.exp(-2j * np.pi * np.outer(n, n) / _TILE).astype(np.complex64)
    cols = np.ascontiguousarray(rows[:, : _TILE // 2 + 1])
    fy, fx = np.fft.fftfreq(_TILE), np.fft.rfftfreq(_TILE)
    radius = np.hypot(fy[:, None], fx[None, :])
    return window, rows, cols, [(radius >= a) & (radius < b) for a, b in zip(_EDGES[:-1], _EDGES[1:])]


def _blockiness(y: np.ndarray) -> float:
    """log of (mean step across 8x8 block borders) / (mean step elsewhere); 0 without a grid."""
    dx, dy = np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0))
    on_x, on_y = np.arange(dx.shape[1]) % 8 == 7, np.arange(dy.shape[0]) % 8 == 7
    across = dx[:, on_x].mean() + dy[on_y].mean()
    inside = dx[:, ~on_x].mean() + dy[~on_y].mean()
    return float(np.log((across + 1e-3) / (inside + 1e-3)))


def spectrum_features(pixels: np.ndarray) -> np.ndarray | None:
    """The spectrum part of the detector's features, or None when under 32 pixels on a side.

    Args:
        pixels: (H, W) or (H, W, C) uint8, uint16 or float in [0, 1].
    Returns:
        float64 vector (:data:`SPECTRUM_NAMES`): ``log P_b - log P_1`` for radial bands
        b = 2..7 of the mean windowed power spectrum (band 1: 1/16 to 1/8 cycles per pixel),
        then the 8x8 blockiness.
    """
    y = _luma(pixels)
    return None if min(y.shape) < _TILE else _spectrum(y)


def _spectrum(y: np.ndarray) -> np.ndarray:
    tiles = _tiles(y)
    window, rows, cols, masks = _bands()
    centred = ((tiles - tiles.mean(axis=(1, 2), keepdims=True)) * window).astype(np.complex64)
    power = (np.abs(rows @ (centred @ cols)) ** 2).mean(axis=0)  # the DFT as two matrix products
    logs = np.log(np.array([power[m].mean() for m in masks], dtype=np.float64) + 1e-9)
    return np.concatenate([logs[1:] - logs[0], [_blockiness(y)]])


def detector_features(pixels: np.ndarray) -> np.ndarray | None:
    """:func:`spectrum_features` then :func:`bbcu_cli.cues.cue_features` (:data:`FEATURE_NAMES`);
    None when the image is under 32 pixels on a side. Same input as :func:`spectrum_features`."""
    y = _luma(pixels)
    if min(y.shape) < _TILE:
        return None
    return np.concatenate([_spectrum(y), cue_features(y)])


@dataclass(frozen=True)
class AliasingDetector:
    """Logistic regression on :func:`detector_features` for one SR scale.

    ``probability = 1 / (1 + exp(-(weights . (f - mean) / std + bias)))``: how likely the
    robust model does better than the clean one on this input. ``threshold``: below it, the
    input counts as cleanly downscaled (:meth:`bbcu_cli.routing.Route.choose`).
    """

    scale: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, pixels: np.ndarray) -> float | None:
        """P(robust is better) for ``pixels`` (see :func:`detector_features`); None when too small."""
        f = detector_features(pixels)
        if f is None:
            return None
        z = (f - np.asarray(self.mean)) / np.asarray(self.std)
        return float(1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias))))


@lru_cache(maxsize=None)
def detector_for(scale: int) -> AliasingDetector | None:
    """The packaged detector for SR ``scale`` (from ``aliasing.json``), or None if there is none."""
    text = resources.files("bbcu_cli").joinpath("aliasing.json").read_text(encoding="utf-8")
    found = json.loads(text)["detectors"].get(str(scale))
    if found is None:
        return None
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in found.items() if k != "fit"}
    return AliasingDetector(scale=scale, **fields)
