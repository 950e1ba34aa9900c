"""A small CNN on 32 x 32 luma tiles that sharpens a routing detector's judgement.

The detector's hand-made features (:mod:`bbcu_cli.aliasing`, :mod:`bbcu_cli.cues`) average over
the image; this network looks at the tiles themselves. It was trained (``training/tile_cnn_fit.py``)
on the tiles of the training images made small every way ``training/fit_aliasing.py`` makes
them, each labelled "the robust model does better here" and weighted by how much either model
wins by, like the detector's samples. An input's score is the mean logit of its tiles (the same
half-overlapping grid the spectrum features use; at most :data:`MAX_TILES`, evenly spread); the
detector adds ``alpha`` times it to its own logit (:class:`bbcu_cli.aliasing.AliasingDetector`).

Layers: a 3 x 3 convolution from the tile (its mean removed, times 8, luma on the 0..1 scale)
to 16 channels, then three 3 x 3 convolutions of stride 2 to 32 channels (32 -> 16 -> 8 -> 4
pixels), each with a bias and ReLU (zero padding of 1), a global average and a linear layer to
one logit. About 15,000 weights; 2.1 M multiply-adds a tile (24 tiles: 5.8 ms on one core of the
test machine of 2026-12-06). At most 24 tiles, as many as the largest small training image has:
48 or 96 changed no Set5 / Set14 / B100 choice and cost 2x / 4x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cues import Box, inside

__all__ = ["TileCNN", "MAX_TILES", "TILE", "STEP", "tile_grid"]

TILE, STEP = 32, 16
#: tiles scored per image (evenly spread over the grid when there are more)
MAX_TILES = 24
_CHUNK = 48  # tiles per batch: keeps the im2col buffers near the caches
_GAIN = 8.0

Layer = tuple[np.ndarray, np.ndarray]
"""A convolution's weight ((cout, cin, 3, 3) float32) and bias ((cout,) float32)."""


def tile_grid(luma: np.ndarray, limit: int = MAX_TILES) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` of the half-overlapping 32 x 32 tiles of ``luma`` ((H, W), H and W >= 32),
    evenly spread: the tiles ((n, 32, 32), as given) and their centres ((n, 2) row, column)."""
    view = np.lib.stride_tricks.sliding_window_view(luma, (TILE, TILE))[::STEP, ::STEP]
    cols = view.shape[1]
    flat = view.reshape(-1, TILE, TILE)
    chosen = np.arange(len(flat))
    if len(flat) > limit:
        chosen = np.linspace(0, len(flat) - 1, limit).astype(int)
    return flat[chosen], np.c_[chosen // cols, chosen % cols] * STEP + STEP


def _conv_relu(x: np.ndarray, layer: Layer, stride: int) -> np.ndarray:
    """3 x 3 convolution (zero padding 1) + bias + ReLU of (n, h, w, cin) -> (n, h', w', cout)."""
    weight, bias = layer
    n, h, w, cin = x.shape
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.empty((n, oh, ow, 3, 3, cin), np.float32)
    for dy in range(3):
        for dx in range(3):
            cols[:, :, :, dy, dx] = padded[:, dy : dy + stride * oh : stride, dx : dx + stride * ow : stride]
    matrix = weight.transpose(2, 3, 1, 0).reshape(9 * cin, -1)
    out = cols.reshape(-1, 9 * cin) @ matrix + bias
    return np.maximum(out, 0.0, out=out).reshape(n, oh, ow, -1)


@dataclass(frozen=True)
class TileCNN:
    """The network's weights (see the module docstring); :meth:`of` reads them from ``aliasing.json``."""

    convs: tuple[Layer, ...]
    """The stride-1 convolution, then the stride-2 ones."""
    linear: tuple[np.ndarray, float]
    """(channels,) weight and the bias of the last layer."""
    score_range: tuple[float, float] = (-np.inf, np.inf)
    """Scores are clipped to this (the range of whole training images' scores), so a detector
    knows how far the CNN can move its logit and may skip it when no score changes its choice."""

    @classmethod
    def of(cls, entry: dict) -> TileCNN:
        """From ``{"convs": [{"shape": [cout, cin, 3, 3], "weight": [...], "bias": [...]}, ...],
        "linear": {"weight": [...], "bias": b}}`` (weights flattened in C order)."""
        convs = tuple(
            (np.asarray(c["weight"], np.float32).reshape(c["shape"]), np.asarray(c["bias"], np.float32))
            for c in entry["convs"]
        )
        last = entry["linear"]
        low, high = entry.get("score_range", (-np.inf, np.inf))
        return cls(convs, (np.asarray(last["weight"], np.float32), float(last["bias"])), (float(low), float(high)))

    def logits(self, tiles: np.ndarray) -> np.ndarray:
        """Logit of "the robust model does better" for each tile ((n, 32, 32) luma, 0..255): (n,)."""
        x = tiles.astype(np.float32) / 255.0
        x = (x - x.mean(axis=(1, 2), keepdims=True)) * _GAIN
        return np.concatenate([self._forward(x[i : i + _CHUNK, :, :, None]) for i in range(0, len(x), _CHUNK)])

    def _forward(self, x: np.ndarray) -> np.ndarray:
        for i, layer in enumerate(self.convs):
            x = _conv_relu(x, layer, 1 if i == 0 else 2)
        weight, bias = self.linear
        return x.mean(axis=(1, 2)) @ weight + bias

    def scores(self, luma: np.ndarray, boxes: list[Box | None]) -> np.ndarray:
        """The mean tile logit of ``luma`` ((H, W), 0..255, at least 32 a side) within each box
        (None: the whole image; a box holding no tile centre scores as the whole), clipped to
        :attr:`score_range`: (len(boxes),)."""
        tiles, at = tile_grid(luma)
        logits = self.logits(tiles)
        whole = float(logits.mean())
        out = []
        for box in boxes:
            picked = logits[inside(at, box)]
            out.append(float(picked.mean()) if picked.size else whole)
        return np.clip(np.asarray(out), *self.score_range)
