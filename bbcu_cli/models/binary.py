"""Binary building blocks of BBCU: sign activation, binary convolution, RPReLU, the binary unit.

Parameter names follow the reference implementation so that official checkpoints load
strictly: ``move0.bias``, ``binary_conv.weight`` (+ optional ``binary_conv.bias``),
``relu.pr_bias0.bias``, ``relu.pr_prelu.weight``, ``relu.pr_bias1.bias``.

Inference arithmetic is integer-exact: the +-1 activations are convolved with the +-1 weight
signs (every partial sum is a small integer, exact in float32), then scaled by
``alpha_c = mean |W_c|``. Training uses the BBCU recipe: a piecewise-polynomial surrogate
gradient for ``sign`` and the clipped straight-through estimator for ``alpha * sign(W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LearnableBias",
    "RPReLU",
    "BinaryConv",
    "BinaryUnit",
    "BinaryUpUnit",
    "BinaryBlock",
    "sign_ste",
    "binary_weight_ste",
]


class _SignSurrogate(torch.autograd.Function):
    """sign(x) forward; derivative of the piecewise quadratic ApproxSign backward.

    ApproxSign(x) = -1 (x < -1), x^2 + 2x (-1 <= x < 0), -x^2 + 2x (0 <= x < 1), 1 (x >= 1),
    so d/dx = max(0, 2 - 2|x|).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.sign(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad * (2.0 - 2.0 * x.abs()).clamp_min(0.0)


def sign_ste(x: Tensor) -> Tensor:
    """Binarize activations: ``sign(x)`` (0 stays 0, as ``torch.sign``), surrogate gradient."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _SignSurrogate.apply(x)
    return torch.sign(x)


def weight_alpha(weight: Tensor) -> Tensor:
    """Per-output-channel scale ``alpha_c = mean |W_c|``, shape (C_out,), float32.

    Summed and divided in float64, then rounded to float32 once: the float64 sum of float32
    values of similar size is exact, so every summation order (torch, numpy, the torch-free
    runtime) gives the same alpha; for packed files (all |W| of a channel equal) it is exactly
    the stored alpha.
    """
    w = weight.detach().abs().double()
    return (w.sum(dim=(1, 2, 3)) / w[0].numel()).float()


def binary_weight_ste(weight: Tensor) -> Tensor:
    """``alpha * sign(W)`` forward, clipped straight-through gradient (zero where |W| > 1)."""
    alpha = weight_alpha(weight).view(-1, 1, 1, 1)
    clipped = weight.clamp(-1.0, 1.0)
    return (alpha * torch.sign(weight)).detach() - clipped.detach() + clipped


class LearnableBias(nn.Module):
    """Adds a learnable per-channel bias of shape (1, C, 1, 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class RPReLU(nn.Module):
    """RPReLU: per-channel shift, PReLU, per-channel shift."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pr_bias0 = LearnableBias(channels)
        self.pr_prelu = nn.PReLU(channels)
        self.pr_bias1 = LearnableBias(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.pr_bias1(self.pr_prelu(self.pr_bias0(x)))


class BinaryConv(nn.Conv2d):
    """3x3 convolution of a +-1 input with ``alpha * sign(W)``; zero padding of the +-1 input.

    Input: (N, C_in, H, W) with values in {-1, 0, +1}. Output: (N, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__(in_channels, out_channels, 3, padding=1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and torch.is_grad_enabled():
            return F.conv2d(x, binary_weight_ste(self.weight), self.bias, padding=1)
        return self.exact_forward(x)

    def exact_forward(self, x: Tensor) -> Tensor:
        """Integer-exact path: conv(+-1, sign W) in float32, then times alpha, plus bias."""
        w = self.weight.detach()
        counts = F.conv2d(x, torch.sign(w).to(x.dtype), None, padding=1)
        out = counts * weight_alpha(w).to(x.dtype).view(1, -1, 1, 1)
        if self.bias is not None:
            out = out + self.bias.to(x.dtype).view(1, -1, 1, 1)
        return out


class BinaryUnit(nn.Module):
    """BBCU unit: ``y = RPReLU(alpha * conv(sign(x + b), sign W)) + x`` (C_in == C_out)."""

    def __init__(self, channels: int, bias: bool = False) -> None:
        super().__init__()
        self.move0 = LearnableBias(channels)
        self.binary_conv = BinaryConv(channels, channels, bias=bias)
        self.relu = RPReLU(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.binary_conv(sign_ste(self.move0(x)))) + x


class BinaryUpUnit(nn.Module):
    """Binary upsampling unit of BBCU-M: conv to r*r*C channels, RPReLU, PixelShuffle(r),
    plus the nearest-neighbour upsampled input as residual. Output: (N, C, rH, rW)."""

    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.move0 = LearnableBias(channels)
        self.binary_conv = BinaryConv(channels, channels * factor * factor)
        self.relu = RPReLU(channels * factor * factor)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.binary_conv(sign_ste(self.move0(x))))
        out = F.pixel_shuffle(out, self.factor)
        return out + F.interpolate(x, scale_factor=self.factor, mode="nearest")


class BinaryBlock(nn.Module):
    """Two binary units in sequence (``body.0``, ``body.1``); no block-level residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(BinaryUnit(channels), BinaryUnit(channels))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)
