"""Folded float path for GPUs (also runs on CPU, in float32, for testing).

Each binary unit becomes one :class:`FoldedUnit`: the input bias is the sign threshold, the
weights are their signs (stored in the convolution dtype), and scale, conv bias, RPReLU and the
residual collapse into one epilogue ``z = acc * alpha + shift; z = z > 0 ? z : a z; z + b1 + x``.
On CUDA the +-1 convolution runs in float16, which is exact: every partial sum is an integer
of magnitude at most ``9 * C_in``, and float16 holds every integer up to 2048 (so up to 227
input channels; wider layers fall back to float32). bfloat16 (8-bit mantissa) would not be
exact. Tensors are channels-last; ``torch.compile`` is optional (``BBCU_COMPILE=1``).
"""

from __future__ import annotations

import copy
import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..loading import LoadedModel
from ..models.binary import BinaryUnit, BinaryUpUnit, weight_alpha

__all__ = ["FoldedUnit", "fold_for_device", "FoldedBackend", "exact_conv_dtype"]

_FP16_MAX_EXACT = 2048


def exact_conv_dtype(in_channels: int, device: torch.device) -> torch.dtype:
    """float16 on CUDA when ``9 * in_channels <= 2048`` (exact), else float32."""
    if device.type == "cuda" and 9 * in_channels <= _FP16_MAX_EXACT:
        return torch.float16
    return torch.float32


class FoldedUnit(nn.Module):
    """Inference-only replacement of a :class:`BinaryUnit` or :class:`BinaryUpUnit`."""

    def __init__(self, unit: BinaryUnit | BinaryUpUnit, conv_dtype: torch.dtype) -> None:
        super().__init__()
        conv, act = unit.binary_conv, unit.relu
        c_out = conv.weight.shape[0]
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(c_out)
        self.factor = getattr(unit, "factor", 0)
        self.register_buffer("threshold", unit.move0.bias.detach().clone())
        self.register_buffer("wsign", torch.sign(conv.weight.detach()).to(conv_dtype))
        self.register_buffer("alpha", weight_alpha(conv.weight).view(1, -1, 1, 1).clone())
        self.register_buffer("shift", (bias.view(1, -1, 1, 1) + act.pr_bias0.bias.detach()).clone())
        self.register_buffer("slope", act.pr_prelu.weight.detach().view(1, -1, 1, 1).clone())
        self.register_buffer("post", act.pr_bias1.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        s = torch.sign(x + self.threshold).to(self.wsign.dtype)
        acc = F.conv2d(s, self.wsign, padding=1).float()
        z = acc * self.alpha + self.shift
        z = torch.where(z > 0, z, z * self.slope) + self.post
        if self.factor:
            return F.pixel_shuffle(z, self.factor) + F.interpolate(x, scale_factor=self.factor, mode="nearest")
        return z + x


def _replace_units(module: nn.Module, device: torch.device) -> None:
    for name, child in module.named_children():
        if isinstance(child, (BinaryUnit, BinaryUpUnit)):
            c_in = child.binary_conv.weight.shape[1]
            setattr(module, name, FoldedUnit(child, exact_conv_dtype(c_in, device)))
        else:
            _replace_units(child, device)


def fold_for_device(model: nn.Module, device: torch.device) -> nn.Module:
    """A folded copy of ``model`` on ``device`` (channels-last), for inference only."""
    folded = copy.deepcopy(model).eval()
    _replace_units(folded, device)
    return folded.to(device=device, memory_format=torch.channels_last)


class FoldedBackend:
    """Runs the folded model; on CUDA float16 binary convolutions, float32 elsewhere."""

    name = "folded"

    def __init__(self, loaded: LoadedModel, device: torch.device, compile_model: bool | None = None) -> None:
        self.device = device
        self.noise_input = bool(loaded.spec.noise_channel)
        model = fold_for_device(loaded.model, device)
        if compile_model if compile_model is not None else os.environ.get("BBCU_COMPILE") == "1":
            model = torch.compile(model, dynamic=True)  # type: ignore[assignment]
        self.model = model
        if device.type == "cuda":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = True

    @torch.inference_mode()
    def __call__(self, x: Tensor, sigma: float | None = None) -> Tensor:
        x = x.to(self.device).contiguous(memory_format=torch.channels_last)
        return self.model(x, sigma) if self.noise_input else self.model(x)
