"""Binary DnCNN-style restorer for denoising and JPEG deblocking.

Layout (``model.N`` keys as in the reference code)::

    model.0  conv3x3 (in_channels [+1 noise-level channel] -> num_feat), full precision
    model.1  ReLU
    model.2 .. model.(L-1)   L-2 binary units (BinaryUnit)
    model.L  conv3x3 (num_feat -> out_channels), full precision

``noise = model(input * k) / k`` and ``output = x - noise``. With ``noise_channel=True`` the
input is ``cat(x, sigma / 255)`` (a constant map, FFDNet-style), so one model covers a range
of noise levels and ``sigma`` steers it.

With ``unshuffle=r > 1`` (FFDNet-style) the image is padded to a multiple of ``r`` (edge
replication), pixel-unshuffled to ``in_channels * r * r`` channels at ``1/r`` resolution, run
through the same layout, pixel-shuffled back and cropped. Each binary conv then sees ``r * r``
fewer positions, so a network ``r`` times wider costs the same, and the receptive field grows
``r`` times. ``r = 1`` is the plain (official) layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .binary import BinaryUnit
from .head import HeadConv
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
        unshuffle: int = 1,
    ) -> None:
        super().__init__()
        if num_layers < 3:
            raise ValueError(f"num_layers must be at least 3, got {num_layers}")
        if unshuffle < 1:
            raise ValueError(f"unshuffle must be at least 1, got {unshuffle}")
        self.in_channels = in_channels
        self.out_channels = in_channels
        self.num_feat = num_feat
        self.num_layers = num_layers
        self.bias = bias
        self.noise_channel = noise_channel
        self.unshuffle = int(unshuffle)
        self.k = default_k(num_feat) if k is None else float(k)
        planes = in_channels * self.unshuffle**2
        head_in = planes + (1 if noise_channel else 0)
        layers: list[nn.Module] = [HeadConv(head_in, num_feat, bias=bias), nn.ReLU()]  # float64 at inference
        layers += [BinaryUnit(num_feat, bias=bias) for _ in range(num_layers - 2)]
        layers.append(nn.Conv2d(num_feat, planes, 3, 1, 1, bias=bias))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor, sigma: float | Tensor | None = None) -> Tensor:
        """(N, C, H, W) in [0, 1] -> restored (N, C, H, W), unclamped.

        ``sigma`` (0-255 scale; a float or an (N,) tensor) is used only when the model has a
        noise-level channel, where it is required.
        """
        return x - self.predict_noise(x, sigma, self.model)

    def predict_noise(self, x: Tensor, sigma: float | Tensor | None, body: nn.Module) -> Tensor:
        """``body(model input * k) / k`` at full resolution; ``body`` maps head input to tail output.

        The float model passes ``self.model``; the packed backend passes its own runner, so
        both share the noise map, unshuffle, padding and crop.
        """
        inp = self.to_planes(x)
        if self.noise_channel:
            inp = torch.cat([inp, self.noise_map(inp, sigma)], dim=1)
        return self.from_planes(body(inp * self.k) / self.k, x.shape[2], x.shape[3])

    def to_planes(self, x: Tensor) -> Tensor:
        """Pad (edge replication) to a multiple of ``unshuffle`` and pixel-unshuffle."""
        r = self.unshuffle
        if r == 1:
            return x
        ph, pw = -x.shape[2] % r, -x.shape[3] % r
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return F.pixel_unshuffle(x, r)

    def from_planes(self, y: Tensor, height: int, width: int) -> Tensor:
        """Inverse of :meth:`to_planes`: pixel-shuffle and crop to ``height x width``."""
        if self.unshuffle == 1:
            return y
        return F.pixel_shuffle(y, self.unshuffle)[:, :, :height, :width]

    @staticmethod
    def noise_map(x: Tensor, sigma: float | Tensor | None) -> Tensor:
        """Constant (N, 1, H, W) map of ``sigma / 255``."""
        if sigma is None:
            raise ValueError("this model has a noise-level input: sigma is required")
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1) / 255.0
        return s.expand(x.shape[0], 1, x.shape[2], x.shape[3])
