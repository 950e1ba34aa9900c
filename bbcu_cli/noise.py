"""Blind estimate of additive white Gaussian noise, used when ``bbcu denoise`` gets no --sigma.

Donoho's robust estimator on the finest diagonal Haar wavelet band:
``sigma = median(|HH|) / 0.6745`` with ``HH = (a - b - c + d) / 2`` over 2x2 blocks, which for
i.i.d. noise of std s has std s. Natural-image detail mostly lives in HL/LH, so HH is dominated
by noise; the median makes the estimate robust to the remaining edges.
"""

from __future__ import annotations

import numpy as np

__all__ = ["estimate_sigma"]


def estimate_sigma(pixels: np.ndarray) -> float:
    """Estimate the noise std of an (H, W[, C]) float image in [0, 1], on the 0-255 scale.

    Channels are estimated separately and averaged. Images smaller than 2x2 give 0.
    """
    img = pixels.astype(np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
    if h == 0 or w == 0:
        return 0.0
    img = img[:h, :w] * 255.0
    a, b = img[0::2, 0::2], img[0::2, 1::2]
    c, d = img[1::2, 0::2], img[1::2, 1::2]
    hh = (a - b - c + d) / 2.0
    per_channel = np.median(np.abs(hh.reshape(-1, img.shape[2])), axis=0) / 0.6745
    return float(per_channel.mean())
