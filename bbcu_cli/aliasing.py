"""Does a low-resolution image look cleanly downscaled (antialiased), or aliased, noisy or blocky?

An image shrunk with an antialiasing filter (MATLAB ``imresize``, Pillow, OpenCV ``INTER_AREA``)
has little energy near its Nyquist frequency; one shrunk by point-like sampling
(``cv2.resize`` with ``INTER_CUBIC``/``LINEAR``/``LANCZOS4``) keeps it, folded down from the
frequencies it dropped. :func:`spectrum_features` measures the shape of the image's power
spectrum (Welch's method on 32 x 32 Hann-windowed tiles of the luma, radial bands relative to
the lowest one) and an 8x8 blockiness; :func:`detector_features` adds the local cues of
:mod:`bbcu_cli.cues` (edge sharpness, staircases along slanted edges, a JPEG grid, the noise
level), and an :class:`AliasingDetector` (a small network, one per SR scale and kind of
variant, fitted by ``training/fit_aliasing.py`` and stored in ``aliasing.json``) turns them into
the probability that the variant it guards would do worse than the robust model. An image that
looks clean as a whole is also judged by quarters (:func:`region_features`: pooled from the
same pass, so a quarter costs little): one quarter that looks surely aliased (``veto``) keeps it
on the robust model. Pure numpy; no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources

import numpy as np

from .cues import CUE_NAMES, Box, Cells, cue_cells, inside
from .tile_cnn import TileCNN, tile_grid

__all__ = [
    "AliasingDetector",
    "spectrum_features",
    "detector_features",
    "detector_for",
    "measure",
    "Measured",
    "quadrants",
    "quadrant_boxes",
    "region_features",
    "FEATURE_NAMES",
]

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


def _tiles(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most ``_MAX_TILES`` half-overlapping 32 x 32 tiles, evenly spread: (n, 32, 32), and
    their centres ((n, 2) row, column)."""
    return tile_grid(y, _MAX_TILES)  # the grid the tile CNN reads too


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
    return Measured.of(y, cues=False).features()[: len(SPECTRUM_NAMES)]


def _tile_power(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The windowed power spectrum of each tile ((n, 32, 17)) and the tiles' centres."""
    tiles, at = _tiles(y)
    window, rows, cols, _ = _bands()
    centred = ((tiles - tiles.mean(axis=(1, 2), keepdims=True)) * window).astype(np.complex64)
    return np.abs(rows @ (centred @ cols)) ** 2, at  # the DFT as two matrix products


@dataclass(frozen=True)
class Measured:
    """One pass over an image's luma: features of the whole or of any box from it."""

    luma: np.ndarray
    power: np.ndarray
    tile_at: np.ndarray
    cells: Cells | None

    @classmethod
    def of(cls, y: np.ndarray, cues: bool = True) -> Measured:
        """Measure the luma ``y`` ((H, W) float32, 0..255, at least 32 pixels a side)."""
        return cls(y, *_tile_power(y), cue_cells(y) if cues else None)

    def features(self, box: Box | None = None) -> np.ndarray:
        """Spectrum bands relative to band 1, blockiness, then the cues (if measured); those of the
        whole image are computed once (every detector asks for them)."""
        return self._whole.copy() if box is None else self._features(box)

    @cached_property
    def _whole(self) -> np.ndarray:
        return self._features(None)

    def _features(self, box: Box | None) -> np.ndarray:
        power = self.power[inside(self.tile_at, box)].mean(axis=0)
        logs = np.log(np.array([power[m].mean() for m in _bands()[3]], dtype=np.float64) + 1e-9)
        y = self.luma if box is None else self.luma[box[0] : box[1], box[2] : box[3]]
        cue = [] if self.cells is None else self.cells.features(box)
        return np.concatenate([logs[1:] - logs[0], [_blockiness(y)], cue])


def detector_features(pixels: np.ndarray) -> np.ndarray | None:
    """:func:`spectrum_features` then :func:`bbcu_cli.cues.cue_features` (:data:`FEATURE_NAMES`);
    None when the image is under 32 pixels on a side. Same input as :func:`spectrum_features`."""
    y = _luma(pixels)
    return None if min(y.shape) < _TILE else Measured.of(y).features()


def region_features(pixels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """:func:`detector_features` of the whole image and of each of its :func:`quadrant_boxes`,
    pooled from one pass (a quadrant's features are not those of its crop: tiles, edges and
    blocks are assigned by their centres). None when under 32 pixels on a side."""
    y = _luma(pixels)
    if min(y.shape) < _TILE:
        return None
    m = Measured.of(y)
    return m.features(), [m.features(box) for box in quadrant_boxes(y.shape)]


def quadrant_boxes(shape: tuple[int, ...]) -> list[Box]:
    """The four quarters of an image at least 64 pixels a side (none of a smaller one) as
    ``(top, bottom, left, right)``; odd sizes: the lower and right quarters are the larger."""
    h, w = shape[:2]
    if min(h, w) < 2 * _TILE:
        return []
    return [(t, b, left, r) for t, b in ((0, h // 2), (h // 2, h)) for left, r in ((0, w // 2), (w // 2, w))]


def quadrants(pixels: np.ndarray) -> list[np.ndarray]:
    """The image's :func:`quadrant_boxes` as views."""
    return [pixels[t:b, left:r] for t, b, left, r in quadrant_boxes(pixels.shape)]


@dataclass(frozen=True)
class AliasingDetector:
    """Logistic regression on :func:`detector_features` (or on one hidden layer of them) for one
    SR scale.

    ``z = (f - mean) / std``, ``f`` the first ``len(mean)`` features (a detector fitted before a
    cue was added ignores it); with a hidden layer ``z = tanh(z @ hidden_weights + hidden_bias)``
    (``hidden_weights``: features x units); then ``probability = 1 / (1 + exp(-(weights . z +
    bias)))``: how likely the robust model does better than the variant this detector guards (the
    clean one, or the alias one) on this input. ``threshold``: below it, the variant takes the
    input (for the clean variant: it counts as cleanly downscaled), unless one of its quadrants
    reaches ``veto`` (a detailed corner of a mostly smooth image can be aliased while the whole
    looks clean; 1.0 = no veto). See :meth:`decide` and :meth:`bbcu_cli.routing.Route.choose`.
    """

    scale: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    veto: float = 1.0
    hidden_weights: tuple[tuple[float, ...], ...] = ()
    hidden_bias: tuple[float, ...] = ()
    tile_cnn: TileCNN | None = field(default=None, compare=False)
    """A CNN on the luma tiles (:mod:`bbcu_cli.tile_cnn`) whose mean logit, times ``cnn_alpha``,
    is added to the logit (of the whole image, or of a quadrant from the tiles centred in it)."""
    cnn_alpha: float = 0.0

    def probability(self, pixels: np.ndarray) -> float | None:
        """P(robust is better) for ``pixels`` (see :func:`detector_features`); None when too small."""
        return self.judge(measure(pixels))[1]

    @classmethod
    def of(cls, scale: int, entry: dict) -> AliasingDetector:
        """The detector of one ``aliasing.json`` entry (its ``fit`` record is left out)."""
        fields = {k: v for k, v in entry.items() if k != "fit"}
        for key in ("mean", "std", "weights", "hidden_bias"):
            if key in fields:
                fields[key] = tuple(fields[key])
        fields["hidden_weights"] = tuple(tuple(row) for row in fields.get("hidden_weights", ()))
        if "tile_cnn" in fields:
            fields["cnn_alpha"] = float(fields["tile_cnn"]["alpha"])
            fields["tile_cnn"] = TileCNN.of(fields["tile_cnn"])
        return cls(scale=scale, **fields)

    def _p(self, features: np.ndarray, cnn: float | None = None) -> float:
        return float(self.probabilities(features[None], None if cnn is None else np.array([cnn]))[0])

    def probabilities(self, features: np.ndarray, cnn: np.ndarray | None = None) -> np.ndarray:
        """P(robust is better) of each row of ``features`` ((n, F), F >= ``len(mean)``): (n,).
        ``cnn``: the rows' :meth:`TileCNN.scores <bbcu_cli.tile_cnn.TileCNN.scores>` ((n,)),
        added times ``cnn_alpha`` to the logit (ignored without a ``tile_cnn``)."""
        z = (features[:, : len(self.mean)] - np.asarray(self.mean)) / np.asarray(self.std)
        if self.hidden_weights:
            z = np.tanh(z @ np.asarray(self.hidden_weights) + np.asarray(self.hidden_bias))
        logit = z @ np.asarray(self.weights) + self.bias
        if self.tile_cnn is not None and cnn is not None:
            logit = logit + self.cnn_alpha * cnn
        return 1.0 / (1.0 + np.exp(-logit))

    def decide(self, pixels: np.ndarray) -> tuple[bool, float | None, float | None]:
        """``(take, p, part)``: whether the variant this detector guards should restore
        ``pixels`` (for the clean variant: the input counts as cleanly downscaled), the whole
        image's probability (None: too small to judge, not taken) and the largest of its
        quadrants' (None when not needed or none could be judged)."""
        return self.judge(measure(pixels))

    def judge(self, measured: Measured | None) -> tuple[bool, float | None, float | None]:
        """:meth:`decide` on an image's :func:`measure` (None: too small). With a tile CNN, an
        input that stays at or above the threshold even at the CNN's lowest score is judged
        without running it (``p`` is then that lower bound)."""
        if measured is None:
            return False, None, None
        boxes = quadrant_boxes(measured.luma.shape)
        cnn: list[float | None] = [None] * (len(boxes) + 1)
        if self.tile_cnn is not None:
            least = self._p(measured.features(), self.tile_cnn.score_range[0])
            if least >= self.threshold:  # no score could hand it to the variant: skip the CNN
                return False, least, None
            cnn = list(self.tile_cnn.scores(measured.luma, [None, *boxes]))
        p = self._p(measured.features(), cnn[0])
        if p >= self.threshold or self.veto >= 1.0:
            return p < self.threshold, p, None
        part = max((self._p(measured.features(box), c) for box, c in zip(boxes, cnn[1:])), default=None)
        return part is None or part < self.veto, p, part


def measure(pixels: np.ndarray) -> Measured | None:
    """One pass over ``pixels`` (as :func:`spectrum_features` takes them) that every detector can
    judge; None when the image is under 32 pixels on a side."""
    y = _luma(pixels)
    return None if min(y.shape) < _TILE else Measured.of(y)


#: the ``aliasing.json`` table of each kind of variant (:data:`bbcu_cli.routing.VARIANT_KINDS`)
_TABLES = {"clean": "detectors", "alias": "alias_detectors"}


@lru_cache(maxsize=None)
def detector_for(scale: int, kind: str = "clean") -> AliasingDetector | None:
    """The packaged detector for SR ``scale`` and ``kind`` of variant (from ``aliasing.json``:
    ``clean``, P(robust beats the clean variant); ``alias``, P(robust beats the alias variant)),
    or None if there is none. Raises KeyError for an unknown kind."""
    text = resources.files("bbcu_cli").joinpath("aliasing.json").read_text(encoding="utf-8")
    found = json.loads(text).get(_TABLES[kind], {}).get(str(scale))
    if found is None:
        return None
    return AliasingDetector.of(scale, found)
