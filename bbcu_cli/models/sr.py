"""BBCU super-resolution networks: BBCU-L (binary body) and BBCU-M (binary body and upsampling).

Layout (module names as in the reference code, so official checkpoints load strictly)::

    x * k -> conv_first -> LReLU -> body (num_block x BinaryBlock)
          -> upsampling (upconv1 [, upconv2 for x4]) -> conv_hr -> LReLU -> conv_last
          + bilinear(x * k)  -> / k

BBCU-L: ``upconv*`` are full-precision convs followed by PixelShuffle and LReLU, ``conv_hr`` a
full-precision conv. BBCU-M: ``upconv*`` are :class:`BinaryUpUnit` and ``conv_hr`` a
:class:`BinaryUnit`. ``k`` is the residual-alignment factor (130 * num_feat / 64 by default).

BBCU-P (this project's, not the paper's) keeps *everything* at low resolution: the binary body
is followed by one full-precision sub-pixel conv (``conv_tail``, num_feat -> C * s * s, as in
ESPCN) and a PixelShuffle, plus the same bilinear base::

    x * k -> conv_first -> LReLU -> body -> LReLU -> conv_tail -> PixelShuffle(s) + bilinear(x * k) -> / k

Its only full-precision work is the head and the tail at input resolution, so x2, x3 and x4
cost nearly the same and every binary unit runs on the packed path.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .binary import BinaryBlock, BinaryUnit, BinaryUpUnit
from .head import HeadConv

__all__ = ["BBCUL", "BBCUM", "BBCUP", "default_k", "upsample_factors"]


def default_k(num_feat: int) -> float:
    """Residual-alignment factor ``k = 130 * num_feat / 64``."""
    return 130.0 * num_feat / 64.0


def upsample_factors(scale: int) -> list[int]:
    """PixelShuffle factors of the upsampler: x2 -> [2], x3 -> [3], x4 -> [2, 2]."""
    if scale not in (2, 3, 4):
        raise ValueError(f"scale must be 2, 3 or 4, got {scale}")
    return [2, 2] if scale == 4 else [scale]


class _BBCUSR(nn.Module):
    """Shared skeleton; subclasses build ``upconv*`` and ``conv_hr`` and say how they upsample."""

    binary_upsampling = False

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        upscale: int = 4,
        k: float | None = None,
    ) -> None:
        super().__init__()
        self.upscale = upscale
        self.num_feat = num_feat
        self.num_block = num_block
        self.in_channels = num_in_ch
        self.out_channels = num_out_ch
        self.k = default_k(num_feat) if k is None else float(k)
        self.factors = upsample_factors(upscale)
        self.conv_first = HeadConv(num_in_ch, num_feat)  # float64 at inference (models/head.py)
        self.body = nn.Sequential(*[BinaryBlock(num_feat) for _ in range(num_block)])
        for i, r in enumerate(self.factors, start=1):
            setattr(self, f"upconv{i}", self._make_upconv(num_feat, r))
        self.conv_hr = self._make_conv_hr(num_feat)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1)

    def _make_upconv(self, num_feat: int, factor: int) -> nn.Module:
        raise NotImplementedError

    def _make_conv_hr(self, num_feat: int) -> nn.Module:
        raise NotImplementedError

    def upsample_features(self, feat: Tensor) -> Tensor:
        """Body features (N, F, h, w) -> upsampled features (N, F, sh, sw), before ``conv_hr``."""
        raise NotImplementedError

    def high_res_features(self, feat: Tensor) -> Tensor:
        """Body features -> ``LReLU(conv_hr(upsample))``: the input of ``conv_last``.

        Rows of the output depend only on nearby rows of ``feat``, so a caller may run it on a
        band of rows (the packed backend does, for BBCU-L's float upsampler).
        """
        return self.lrelu(self.conv_hr(self.upsample_features(feat)))

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) in [0, 1] -> (N, C_out, sH, sW), unclamped."""
        x = x * self.k
        feat = self.body(self.lrelu(self.conv_first(x)))
        out = self.conv_last(self.high_res_features(feat))
        base = F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        return (out + base) / self.k


class BBCUL(_BBCUSR):
    """BBCU-L: binary body, full-precision upsampling and ``conv_hr``."""

    def _make_upconv(self, num_feat: int, factor: int) -> nn.Module:
        return nn.Conv2d(num_feat, num_feat * factor * factor, 3, 1, 1)

    def _make_conv_hr(self, num_feat: int) -> nn.Module:
        return nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def upsample_features(self, feat: Tensor) -> Tensor:
        """Full-precision conv, PixelShuffle and LReLU per factor."""
        for i, r in enumerate(self.factors, start=1):
            feat = self.lrelu(F.pixel_shuffle(getattr(self, f"upconv{i}")(feat), r))
        return feat


class BBCUM(_BBCUSR):
    """BBCU-M: binary body, binary upsampling units and binary ``conv_hr``."""

    binary_upsampling = True

    def _make_upconv(self, num_feat: int, factor: int) -> nn.Module:
        return BinaryUpUnit(num_feat, factor)

    def _make_conv_hr(self, num_feat: int) -> nn.Module:
        return BinaryUnit(num_feat)

    def upsample_features(self, feat: Tensor) -> Tensor:
        """One binary up unit per factor."""
        for i in range(1, len(self.factors) + 1):
            feat = getattr(self, f"upconv{i}")(feat)
        return feat


class BBCUP(nn.Module):
    """BBCU-P: binary body at input resolution, full-precision sub-pixel tail (see module doc).

    Input (N, C, H, W) in [0, 1]; output (N, C, sH, sW), unclamped. Any integer ``upscale >= 1``.
    """

    binary_upsampling = True

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 8,
        upscale: int = 4,
        k: float | None = None,
    ) -> None:
        super().__init__()
        if upscale < 1:
            raise ValueError(f"upscale must be >= 1, got {upscale}")
        self.upscale = upscale
        self.num_feat = num_feat
        self.num_block = num_block
        self.in_channels = num_in_ch
        self.out_channels = num_out_ch
        self.k = default_k(num_feat) if k is None else float(k)
        self.conv_first = HeadConv(num_in_ch, num_feat)  # float64 at inference (models/head.py)
        self.body = nn.Sequential(*[BinaryBlock(num_feat) for _ in range(num_block)])
        self.conv_tail = nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1)

    def features(self, xk: Tensor) -> Tensor:
        """Head and binary body on the scaled input ``x * k``, before the tail's LReLU."""
        return self.body(self.lrelu(self.conv_first(xk)))

    def finish(self, tail_in: Tensor, xk: Tensor) -> Tensor:
        """``(PixelShuffle(conv_tail(tail_in)) + bilinear(xk)) / k``; ``tail_in`` = LReLU(features)."""
        out = F.pixel_shuffle(self.conv_tail(tail_in), self.upscale)
        base = F.interpolate(xk, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        return (out + base) / self.k

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) in [0, 1] -> (N, C_out, sH, sW), unclamped."""
        xk = x * self.k
        return self.finish(self.lrelu(self.features(xk)), xk)
