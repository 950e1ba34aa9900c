"""Local cues of how a small image was made: edge sharpness, stairs, a JPEG block grid, noise level.

These complement the spectrum of :mod:`bbcu_cli.aliasing`, which mixes up content and
aliasing: a sharp graphic and an aliased photo both have energy near Nyquist.

* **Edge sharpness.** Where the luma steps monotonically from one level to another, the
  largest one-pixel jump over the whole step (six pixels) is at most ~0.84 of the step after an
  antialiasing filter (MATLAB bicubic: the kernel spans four low-resolution pixels); point-like
  sampling keeps hard edges hard (ratio near 1).
* **Stairs.** A slanted edge sampled without an antialiasing filter turns into a staircase:
  each 2x2 block across it is a saddle (one pixel on the other side), so its checkerboard
  component ``|a - b - c + d| / 4`` is large against its gradient ``(|a - b + c - d| +
  |a + b - c - d|) / 2``; a filter blends the step into the pixels it covers and the block is a
  ramp. Measured on the blocks whose gradient is diagonal (the smaller component at least 0.3
  of the larger) and strongest (top 30% and 10%): log of mean saddle over mean gradient.
* **JPEG grid.** JPEG zeroes high-frequency DCT coefficients of the 8x8 blocks of its grid: at
  the grid's phase (whichever of the 64 gives the most) far more coefficients are near zero
  than at a typical phase; without a grid all phases look alike.
* **Noise level.** The 10th percentile over 8x8 blocks of the mean absolute response of a
  Laplacian-like high-pass (Immerkaer's estimator), i.e. sigma in flat areas.

Every measurement keeps where it was made (:class:`Cells`), so the cues of any part of the
image are pooled from one pass (:meth:`Cells.features` with a box). Large images are judged on
at most nine evenly spread 256 x 256 windows (aligned to the 8-pixel grid). Pure numpy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CUE_NAMES", "Box", "Cells", "cue_cells", "cue_features", "inside"]

CUE_NAMES = ("edge_q50", "edge_q75", "edge_q90", "edge_q95", "edge_over75", "edge_over85", "edge_count")
CUE_NAMES += ("jpeg_grid", "noise_level", "stairs_q70", "stairs_q90")
_WINDOW = 256
_SPAN = 2  # pixels each side of the centre jump: the step is measured over 2 * _SPAN + 2 pixels
_STEP_MIN = 30.0  # smallest step (0..255 luma) that counts as an edge
_FLOOR = 0.003
_NO_EDGES = (0.5, 0.6, 0.65, 0.7, float(np.log(_FLOOR)), float(np.log(_FLOOR)), 0.0)
_DIAGONAL = 0.3  # a block's smaller gradient component is at least this share of the larger
_STAIR_FLOOR = 2.0  # smallest block gradient (0..255 luma) that counts
_NO_STAIRS = (-2.3, -2.3)  # a flat image: about what antialiased photos give

Box = tuple[int, int, int, int]
"""``(top, bottom, left, right)``: rows top..bottom-1, columns left..right-1."""


def inside(at: np.ndarray, box: Box | None) -> np.ndarray | slice:
    """Selects the rows of ``at`` ((n, 2) row, column positions) that lie in ``box`` (all: None)."""
    if box is None:
        return slice(None)
    top, bottom, left, right = box
    return (at[:, 0] >= top) & (at[:, 0] < bottom) & (at[:, 1] >= left) & (at[:, 1] < right)


def _origins(shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """(0, 0) when the image fits in 384 x 384, else up to 3 x 3 evenly spread window corners."""
    if max(shape) <= 384:
        return [(0, 0)]

    def starts(n: int) -> list[int]:
        if n <= _WINDOW:
            return [0]
        return sorted({int(v) // 8 * 8 for v in np.linspace(0, n - _WINDOW, 3)})

    return [(r, c) for r in starts(shape[0]) for c in starts(shape[1])]


def _windows(y: np.ndarray) -> list[np.ndarray]:
    """``y`` itself when it fits in 384 x 384, else up to 3 x 3 evenly spread 256 x 256 windows."""
    if max(y.shape) <= 384:
        return [y]
    return [y[r : r + _WINDOW, c : c + _WINDOW] for r, c in _origins(y.shape)]


def _edge_ratios(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre jump / whole step at every monotonic step of at least ``_STEP_MIN`` (rows and
    columns), and where each is ((n, 2) row, column of the pixel after the centre jump)."""
    found, at = [np.zeros(0)], [np.zeros((0, 2), np.int64)]
    for transposed, a in ((False, y), (True, y.T)):
        d = np.diff(a, axis=1)
        n = d.shape[1] - 2 * _SPAN
        if n <= 0:
            continue
        shifted = [d[:, _SPAN + k : _SPAN + k + n] for k in range(-_SPAN, _SPAN + 1)]
        centre, step = shifted[_SPAN], a[:, 2 * _SPAN + 1 : 2 * _SPAN + 1 + n] - a[:, :n]
        sign, size = np.sign(step), np.abs(centre)
        keep = np.abs(step) > _STEP_MIN
        for k, other in enumerate(shifted):
            keep &= other * sign > -2.0  # monotonic, up to 2 levels of wiggle
            if k != _SPAN:
                keep &= size >= np.abs(other)  # the centre is the largest jump
        rows, cols = np.nonzero(keep)
        found.append(centre[keep] / step[keep])
        at.append(np.c_[cols + _SPAN + 1, rows] if transposed else np.c_[rows, cols + _SPAN + 1])
    return np.concatenate(found), np.concatenate(at)


def quantiles(x: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """``np.quantile(x, qs)`` (linear interpolation, the same rounding) without numpy's import of
    ``numpy.ma`` on its first call (~20 ms of a command's start-up)."""
    flat = np.sort(x, axis=None)
    out = []
    for q in qs:
        at = q * (len(flat) - 1)
        lo = int(np.floor(at))
        a, b, t = flat[lo], flat[min(lo + 1, len(flat) - 1)], at - lo
        out.append(float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t))
    return out


def median(x: np.ndarray) -> float:
    """``np.median(x)`` (the mean of the two middle values of an even count), without ``numpy.ma``."""
    flat = np.sort(x, axis=None)
    mid = len(flat) // 2
    return float(flat[mid] if len(flat) % 2 else (flat[mid - 1] + flat[mid]) / 2)


def _edge_features(ratios: np.ndarray) -> list[float]:
    if len(ratios) < 8:
        return list(_NO_EDGES)
    q = quantiles(ratios, (0.5, 0.75, 0.9, 0.95))
    over = [np.log(np.mean(ratios > t) + _FLOOR) for t in (0.75, 0.85)]
    return [*q, *over, float(np.log(len(ratios)))]


def _stair_blocks(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 2)`` [saddle, gradient] of the 2x2 blocks of ``y`` on every other pair of rows (every
    column: half the work of all blocks, as telling) with a diagonal gradient of at least
    ``_STAIR_FLOOR``, and where each is ((n, 2) row, column of its lower right pixel)."""
    y = y.astype(np.float32, copy=False)
    rows = (y.shape[0] - 1) // 2 * 2
    across, pairs = y[: rows + 1, :-1] - y[: rows + 1, 1:], y[: rows + 1, :-1] + y[: rows + 1, 1:]
    top, bottom = slice(0, rows, 2), slice(1, rows + 1, 2)  # a - b (a + b) above, c - d (c + d) below
    gx, saddle = np.abs(across[top] + across[bottom]), np.abs(across[top] - across[bottom])
    gy = np.abs(pairs[top] - pairs[bottom])
    keep = np.minimum(gx, gy) >= _DIAGONAL * np.maximum(gx, gy)
    keep &= gx + gy > 2 * _STAIR_FLOOR
    r, c = np.nonzero(keep)
    return np.c_[saddle[keep] / 4, (gx[keep] + gy[keep]) / 2], np.c_[2 * r + 1, c + 1]


def _stair_features(blocks: np.ndarray) -> list[float]:
    """log(mean saddle / mean gradient) of the blocks in the top 30% and 10% by gradient."""
    if len(blocks) < 20:
        return list(_NO_STAIRS)
    grad = blocks[:, 1]
    ranks = [int(q * (len(grad) - 1)) for q in (0.7, 0.9)]
    cuts = np.partition(grad, ranks)[ranks]
    out = []
    for cut in cuts:
        top = blocks[grad >= cut]
        out.append(float(np.log(top[:, 0].mean() + 1e-3) - np.log(top[:, 1].mean() + 1e-3)))
    return out


def _dct8() -> np.ndarray:
    n = np.arange(8)
    m = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m


_HIGH = np.add.outer(np.arange(8), np.arange(8)) >= 4
#: pixel (64) -> 2-D DCT coefficient (u, v) with u + v >= 4: rows of the Kronecker product D x D
_HIGH_BASIS = np.ascontiguousarray(np.kron(_dct8(), _dct8())[_HIGH.ravel()].T.astype(np.float32))


def _phase_zero_shares(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of high-frequency DCT coefficients under 1 in each 8x8 block at each of the 64 grid
    phases ((64, m): the same up to 8 x 8 evenly spread blocks per phase) and the blocks'
    centres at phase 0 ((m, 2))."""

    def grid(n: int) -> np.ndarray:
        g = np.arange(max((n - 15) // 8 + 1, 0))
        return g[np.linspace(0, len(g) - 1, min(len(g), 8)).astype(int)] * 8 if len(g) else g

    gy, gx = grid(y.shape[0]), grid(y.shape[1])
    if len(gy) == 0 or len(gx) == 0:
        return np.zeros((64, 0)), np.zeros((0, 2), np.int64)
    phase = np.arange(8)
    ys = (phase[:, None, None, None] + gy[None, None, :, None]).repeat(8, axis=1)  # (8, 8, ny, 1)
    xs = (phase[None, :, None, None] + gx[None, None, None, :]).repeat(8, axis=0)  # (8, 8, 1, nx)
    win = np.lib.stride_tricks.sliding_window_view(y.astype(np.float32), (8, 8))
    blocks = win[ys, xs].reshape(64, -1, 64)  # (phase, block, pixel)
    coeffs = blocks @ _HIGH_BASIS  # the high-frequency 2-D DCT coefficients, one matrix product
    at = np.stack(np.meshgrid(gy + 4, gx + 4, indexing="ij"), axis=-1).reshape(-1, 2)
    return (np.abs(coeffs) < 1.0).mean(axis=2), at


def _jpeg_feature(shares: np.ndarray) -> float:
    """log of the near-zero share at the best grid phase over the median phase's (0 without a grid)."""
    share = shares.mean(axis=1) if shares.shape[1] else np.zeros(64)
    return float(np.log((share.max() + 0.01) / (median(share) + 0.01)))


def _noise_blocks(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean absolute response of the 3x3 kernel outer([1, -2, 1], [1, -2, 1]) in each 8x8 block
    of ``y`` and the blocks' centres."""
    k = np.diff(np.diff(y, 2, axis=0), 2, axis=1)
    h, w = k.shape[0] // 8 * 8, k.shape[1] // 8 * 8
    means = np.abs(k[:h, :w]).reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3)).ravel()
    at = np.stack(np.meshgrid(np.arange(h // 8) * 8 + 5, np.arange(w // 8) * 8 + 5, indexing="ij"), axis=-1)
    return means, at.reshape(-1, 2)


def _noise_feature(blocks: np.ndarray) -> float:
    """log(sigma + 0.1): Immerkaer's estimate in the flattest tenth of the 8x8 blocks."""
    sigma = quantiles(blocks, (0.1,))[0] * np.sqrt(np.pi / 2) / 6 if len(blocks) else 0.0
    return float(np.log(sigma + 0.1))


@dataclass(frozen=True)
class Cells:
    """The cue measurements of one image with where each was made ((n, 2) row, column)."""

    edges: np.ndarray
    edge_at: np.ndarray
    grid: np.ndarray
    """(64, m) near-zero DCT shares per grid phase and block."""
    grid_at: np.ndarray
    noise: np.ndarray
    noise_at: np.ndarray
    stairs: np.ndarray
    """(n, 2) saddle and gradient of the diagonal 2x2 blocks."""
    stairs_at: np.ndarray

    def features(self, box: Box | None = None) -> np.ndarray:
        """The cues (:data:`CUE_NAMES`) of the measurements in ``box`` (None: all of them)."""
        edges = self.edges[inside(self.edge_at, box)]
        grid = self.grid[:, inside(self.grid_at, box)]
        noise = self.noise[inside(self.noise_at, box)]
        stairs = self.stairs[inside(self.stairs_at, box)]
        return np.array([*_edge_features(edges), _jpeg_feature(grid), _noise_feature(noise), *_stair_features(stairs)])


def cue_cells(luma: np.ndarray) -> Cells:
    """Measure a (H, W) luma on the 0..255 scale, H and W >= 32, window by window."""
    y = luma.astype(np.float64)
    per_window = []
    for (r, c), w in zip(_origins(y.shape), _windows(y)):
        found = (_edge_ratios(w), _phase_zero_shares(w), _noise_blocks(w), _stair_blocks(w))
        per_window.append([(values, at + np.array([r, c])) for values, at in found])
    joined = []
    for kind, values_axis in enumerate((0, 1, 0, 0)):  # the grid shares are (64 phases, blocks)
        joined.append(np.concatenate([m[kind][0] for m in per_window], axis=values_axis))
        joined.append(np.concatenate([m[kind][1] for m in per_window]))
    return Cells(*joined)


def cue_features(luma: np.ndarray) -> np.ndarray:
    """The cues (:data:`CUE_NAMES`) of a (H, W) luma on the 0..255 scale, H and W >= 32.

    Returns:
        float64 vector: quantiles 0.5/0.75/0.9/0.95 of the edge sharpness ratio, log of the
        share of edges sharper than 0.75 and 0.85 (+0.003), log of the number of edges; the
        JPEG grid score; log(noise sigma + 0.1); the two stair ratios.
    """
    return cue_cells(luma).features()
