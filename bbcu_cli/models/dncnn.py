"""Binary DnCNN-style restorer for denoising and JPEG deblocking.

Layout (``model.N`` keys as in the reference code)::

    model.0  conv3x3 (in_channels [+1 noise-level channel] -> num_feat), full precision
    model.1  ReLU
    model.2 .. model.(L-1)   L-2 binary units (BinaryUnit)
    model.L  conv3x3 (num_feat -> out_channels), full precision

``noise = model(input * k) / k`` and ``output = x - noise``. With ``noise_channel=True`` the
input is ``cat(x, sigma / 255)`` (a constant map, FFDNet-style), so one model covers a range
of noise levels and ``sigma`` steers it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .binary import BinaryUnit
from .sr import default_k

__all__ = ["BinaryDnCNN"]


class BinaryDnCNN(nn.Module):
    """Binary DnCNN: FP head conv + ReLU, ``num_layers - 2`` binary units, FP tail conv."""

    def __init__(
        self,
        in_channels: int = 3,
        num_feat: int = 64,
        num_layers: int = 17,
        bias: bool = False,
        noise_channel: bool = False,
        k: float | None = None,
    ) -> None:
        super().__init__()
        if num_layers < 3:
            raise ValueError(f"num_layers must be at least 3, got {num_layers}")
        self.in_channels = in_channels
        self.out_channels = in_channels
        self.num_feat = num_feat
        self.num_layers = num_layers
        self.bias = bias
        self.noise_channel = noise_channel
        self.k = default_k(num_feat) if k is None else float(k)
        head_in = in_channels + (1 if noise_channel else 0)
        layers: list[nn.Module] = [nn.Conv2d(head_in, num_feat, 3, 1, 1, bias=bias), nn.ReLU()]
        layers += [BinaryUnit(num_feat, bias=bias) for _ in range(num_layers - 2)]
        layers.append(nn.Conv2d(num_feat, in_channels, 3, 1, 1, bias=bias))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor, sigma: float | Tensor | None = None) -> Tensor:
        """(N, C, H, W) in [0, 1] -> restored (N, C, H, W), unclamped.

        ``sigma`` (0-255 scale; a float or an (N,) tensor) is used only when the model has a
        noise-level channel, where it is required.
        """
        inp = x
        if self.noise_channel:
            inp = torch.cat([x, self.noise_map(x, sigma)], dim=1)
        return x - self.model(inp * self.k) / self.k

    @staticmethod
    def noise_map(x: Tensor, sigma: float | Tensor | None) -> Tensor:
        """Constant (N, 1, H, W) map of ``sigma / 255``."""
        if sigma is None:
            raise ValueError("this model has a noise-level input: sigma is required")
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1) / 255.0
        return s.expand(x.shape[0], 1, x.shape[2], x.shape[3])
