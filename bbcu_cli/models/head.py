"""The full-precision head conv, computed so that every runtime gets the same float32 values.

The head's output decides the first binary unit's signs, so the float model, the packed
backend (torch) and the torch-free runtime (:mod:`bbcu_cli.lite`, C kernel ``bc_head``) must
produce it bit for bit. A float32 conv cannot promise that (oneDNN picks its own summation
order); here, outside training, the conv runs in float64 (input, weights and bias cast exactly)
and is rounded to float32 once, then ``+ 0.0`` makes a zero result +0. The C kernel sums in
another fixed order: the float64 results differ by a few float64 ulps, and round to the same
float32 unless the exact value lies within ~1e-16 (relative) of a float32 rounding midpoint
(probability about 1e-9 per value; the tests compare every head value of the bundled models).
Training keeps the fast float32 conv (the gradient does not care).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HeadConv", "head_conv"]


def head_conv(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """``conv(x)`` for a 3x3 conv with padding 1, in float64, rounded to float32.

    ``x``: (N, C_in, H, W) float32 (the model input times ``k``); returns (N, C_out, H, W)
    float32. In training mode the plain float32 conv runs instead.
    """
    if conv.training:
        return F.conv2d(x, conv.weight, conv.bias, padding=1)
    bias = None if conv.bias is None else conv.bias.double()
    return F.conv2d(x.double(), conv.weight.double(), bias, padding=1).float() + 0.0


class HeadConv(nn.Conv2d):
    """3x3 conv, padding 1, that runs through :func:`head_conv` (same parameters as ``nn.Conv2d``)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 3, 1, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return head_conv(self, x)
