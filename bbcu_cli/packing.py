"""Packed storage of binary convolutions: sign bits + one scale per output channel.

``<prefix>.binary_conv.weight`` (float, ``(C_out, C_in, 3, 3)``) becomes
``<prefix>.binary_conv.weight_signbits`` (uint8, ``np.packbits`` little bit order over the
``C_in * 3 * 3`` taps of each output channel, 1 = positive) and
``<prefix>.binary_conv.weight_alpha`` (float32, mean ``|W|`` per output channel): exactly
what the network computes with, 32x smaller.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["pack_state_dict", "unpack_state_dict"]

_SIGN_SUFFIX = ".weight_signbits"
_ALPHA_SUFFIX = ".weight_alpha"


def pack_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Replace each ``*.binary_conv.weight`` by sign bits + per-channel alpha (see module doc)."""
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        if key.endswith("binary_conv.weight"):
            prefix = key[: -len(".weight")]
            w = value.detach().float().cpu()
            bits = np.packbits((w > 0).reshape(w.shape[0], -1).numpy(), axis=1, bitorder="little")
            out[prefix + _SIGN_SUFFIX] = torch.from_numpy(bits)
            out[prefix + _ALPHA_SUFFIX] = w.abs().mean(dim=(1, 2, 3)).contiguous()
        else:
            out[key] = value.detach().float().cpu().contiguous()
    return out


def unpack_state_dict(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`pack_state_dict`: rebuild ``alpha * sign`` weights (shape from move0)."""
    out = {k: v for k, v in tensors.items() if not k.endswith((_SIGN_SUFFIX, _ALPHA_SUFFIX))}
    for key in tensors:
        if not key.endswith(_SIGN_SUFFIX):
            continue
        prefix = key[: -len(_SIGN_SUFFIX)]
        alpha = tensors[prefix + _ALPHA_SUFFIX].float()
        c_in = tensors[prefix.rsplit(".", 1)[0] + ".move0.bias"].shape[1]
        bits = np.unpackbits(tensors[key].numpy(), axis=1, count=c_in * 9, bitorder="little")
        signs = torch.from_numpy(bits.astype(np.float32) * 2 - 1).reshape(-1, c_in, 3, 3)
        out[prefix + ".weight"] = signs * alpha.view(-1, 1, 1, 1)
    return out
