"""Local cues of how a small image was made: edge sharpness, a JPEG block grid, noise level.

These complement the spectrum of :mod:`bbcu_cli.aliasing`, which mixes up content and
aliasing: a sharp graphic and an aliased photo both have energy near Nyquist.

* **Edge sharpness.** Where the luma steps monotonically from one level to another, the
  largest one-pixel jump over the whole step (six pixels) is at most ~0.84 of the step after an
  antialiasing filter (MATLAB bicubic: the kernel spans four low-resolution pixels); point-like
  sampling keeps hard edges hard (ratio near 1).
* **JPEG grid.** JPEG zeroes high-frequency DCT coefficients of the 8x8 blocks of its grid: at
  the grid's phase (whichever of the 64 gives the most) far more coefficients are near zero
  than at a typical phase; without a grid all phases look alike.
* **Noise level.** The 10th percentile over 8x8 blocks of the mean absolute response of a
  Laplacian-like high-pass (Immerkaer's estimator), i.e. sigma in flat areas.

Large images are judged on at most nine evenly spread 256 x 256 windows (aligned to the
8-pixel grid). Pure numpy; no torch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CUE_NAMES", "cue_features"]

CUE_NAMES = ("edge_q50", "edge_q75", "edge_q90", "edge_q95", "edge_over75", "edge_over85", "edge_count")
CUE_NAMES += ("jpeg_grid", "noise_level")
_WINDOW = 256
_SPAN = 2  # pixels each side of the centre jump: the step is measured over 2 * _SPAN + 2 pixels
_STEP_MIN = 30.0  # smallest step (0..255 luma) that counts as an edge
_FLOOR = 0.003
_NO_EDGES = (0.5, 0.6, 0.65, 0.7, float(np.log(_FLOOR)), float(np.log(_FLOOR)), 0.0)


def _windows(y: np.ndarray) -> list[np.ndarray]:
    """``y`` itself when it fits in 384 x 384, else up to 3 x 3 evenly spread 256 x 256 windows."""
    if max(y.shape) <= 384:
        return [y]

    def starts(n: int) -> list[int]:
        if n <= _WINDOW:
            return [0]
        return sorted({int(v) // 8 * 8 for v in np.linspace(0, n - _WINDOW, 3)})

    return [y[r : r + _WINDOW, c : c + _WINDOW] for r in starts(y.shape[0]) for c in starts(y.shape[1])]


def _edge_ratios(y: np.ndarray) -> np.ndarray:
    """Centre jump / whole step at every monotonic step of at least ``_STEP_MIN`` (rows and columns)."""
    found = []
    for a in (y, y.T):
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
        found.append(centre[keep] / step[keep])
    return np.concatenate(found) if found else np.zeros(0)


def _edge_features(windows: list[np.ndarray]) -> list[float]:
    ratios = np.concatenate([_edge_ratios(w) for w in windows])
    if len(ratios) < 8:
        return list(_NO_EDGES)
    q = np.quantile(ratios, [0.5, 0.75, 0.9, 0.95])
    over = [np.log(np.mean(ratios > t) + _FLOOR) for t in (0.75, 0.85)]
    return [*q, *over, float(np.log(len(ratios)))]


def _dct8() -> np.ndarray:
    n = np.arange(8)
    m = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m


_HIGH = np.add.outer(np.arange(8), np.arange(8)) >= 4
#: pixel (64) -> 2-D DCT coefficient (u, v) with u + v >= 4: rows of the Kronecker product D x D
_HIGH_BASIS = np.ascontiguousarray(np.kron(_dct8(), _dct8())[_HIGH.ravel()].T.astype(np.float32))


def _phase_zero_shares(y: np.ndarray) -> tuple[np.ndarray, int]:
    """Share of high-frequency DCT coefficients under 1 in 8x8 blocks at each of the 64 grid
    phases (the same up to 8 x 8 evenly spread blocks per phase); and the blocks per phase."""

    def grid(n: int) -> np.ndarray:
        g = np.arange(max((n - 15) // 8 + 1, 0))
        return g[np.linspace(0, len(g) - 1, min(len(g), 8)).astype(int)] * 8 if len(g) else g

    gy, gx = grid(y.shape[0]), grid(y.shape[1])
    if len(gy) == 0 or len(gx) == 0:
        return np.zeros(64), 0
    phase = np.arange(8)
    ys = (phase[:, None, None, None] + gy[None, None, :, None]).repeat(8, axis=1)  # (8, 8, ny, 1)
    xs = (phase[None, :, None, None] + gx[None, None, None, :]).repeat(8, axis=0)  # (8, 8, 1, nx)
    win = np.lib.stride_tricks.sliding_window_view(y.astype(np.float32), (8, 8))
    blocks = win[ys, xs].reshape(64, -1, 64)  # (phase, block, pixel)
    coeffs = blocks @ _HIGH_BASIS  # the high-frequency 2-D DCT coefficients, one matrix product
    small = (np.abs(coeffs) < 1.0).mean(axis=(1, 2))
    return small.ravel() * len(gy) * len(gx), len(gy) * len(gx)


def _jpeg_feature(windows: list[np.ndarray]) -> float:
    """log of the near-zero share at the best grid phase over the median phase's (0 without a grid)."""
    total, n = np.zeros(64), 0
    for w in windows:
        shares, count = _phase_zero_shares(w)
        total, n = total + shares, n + count
    share = total / max(n, 1)
    return float(np.log((share.max() + 0.01) / (np.median(share) + 0.01)))


def _noise_feature(windows: list[np.ndarray]) -> float:
    """log(sigma + 0.1): Immerkaer's estimate in the flattest tenth of the 8x8 blocks."""
    means = []
    for y in windows:
        k = np.diff(np.diff(y, 2, axis=0), 2, axis=1)  # the 3x3 kernel outer([1, -2, 1], [1, -2, 1])
        h, w = k.shape[0] // 8 * 8, k.shape[1] // 8 * 8
        means.append(np.abs(k[:h, :w]).reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3)).ravel())
    blocks = np.concatenate(means)
    sigma = np.quantile(blocks, 0.1) * np.sqrt(np.pi / 2) / 6 if len(blocks) else 0.0
    return float(np.log(sigma + 0.1))


def cue_features(luma: np.ndarray) -> np.ndarray:
    """The cues (:data:`CUE_NAMES`) of a (H, W) luma on the 0..255 scale, H and W >= 32.

    Returns:
        float64 vector: quantiles 0.5/0.75/0.9/0.95 of the edge sharpness ratio, log of the
        share of edges sharper than 0.75 and 0.85 (+0.003), log of the number of edges; the
        JPEG grid score; log(noise sigma + 0.1).
    """
    windows = _windows(luma.astype(np.float64))
    return np.array([*_edge_features(windows), _jpeg_feature(windows), _noise_feature(windows)])
