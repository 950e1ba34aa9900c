"""Packed storage of binary convolutions: sign bits + one scale per output channel.

``<prefix>.binary_conv.weight`` (float, ``(C_out, C_in, 3, 3)``) becomes
``<prefix>.binary_conv.weight_signbits`` (uint8, ``np.packbits`` little bit order over the
``C_in * 3 * 3`` taps of each output channel, 1 = positive) and
``<prefix>.binary_conv.weight_alpha`` (float32, mean ``|W|`` per output channel): exactly
what the network computes with, 32x smaller.

Torch is imported only by :func:`pack_state_dict` / :func:`unpack_state_dict`; the torch-free
runtime (:mod:`bbcu_cli.lite`) reads the same parts as numpy arrays with :func:`packed_parts`
and :func:`unpack_signs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ModelFormatError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "FORMAT_VERSION",
    "SIGN_SUFFIX",
    "ALPHA_SUFFIX",
    "pack_state_dict",
    "unpack_state_dict",
    "packed_parts",
    "unpack_signs",
]

FORMAT_VERSION = "1"
"""``bbcu_format`` in a project file's metadata."""

SIGN_SUFFIX = _SIGN_SUFFIX = ".weight_signbits"
ALPHA_SUFFIX = _ALPHA_SUFFIX = ".weight_alpha"
_DAMAGED = "the weights file is damaged; re-download it or re-export it with bbcu"


def pack_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Replace each ``*.binary_conv.weight`` by sign bits + per-channel alpha (see module doc)."""
    import torch

    from .models.binary import weight_alpha

    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        if key.endswith("binary_conv.weight"):
            prefix = key[: -len(".weight")]
            w = value.detach().float().cpu()
            bits = np.packbits((w > 0).reshape(w.shape[0], -1).numpy(), axis=1, bitorder="little")
            out[prefix + _SIGN_SUFFIX] = torch.from_numpy(bits)
            out[prefix + _ALPHA_SUFFIX] = weight_alpha(w).contiguous()
        else:
            out[key] = value.detach().float().cpu().contiguous()
    return out


def packed_parts(tensors: Mapping[str, Any], prefix: str) -> tuple[Any, Any, int]:
    """(sign bits, alpha, C_in) of one packed convolution, each checked against the others.

    Works on torch tensors and numpy arrays alike (``bits`` must be uint8 ``(C_out, ceil(9 C_in
    / 8))``, ``alpha`` ``(C_out,)``, C_in read from ``<unit>.move0.bias`` ``(1, C_in, 1, 1)``).
    """
    bits_key, alpha_key = prefix + _SIGN_SUFFIX, prefix + _ALPHA_SUFFIX
    move_key = prefix.rsplit(".", 1)[0] + ".move0.bias"
    for key in (alpha_key, move_key):
        if key not in tensors:
            raise ModelFormatError(f"packed weight {bits_key} has no {key}", _DAMAGED)
    bits, alpha, move = tensors[bits_key], tensors[alpha_key], tensors[move_key]
    if len(move.shape) != 4 or move.shape[1] < 1:
        raise ModelFormatError(f"{move_key} has shape {tuple(move.shape)}, expected (1, C_in, 1, 1)", _DAMAGED)
    c_in = int(move.shape[1])
    want = (int(alpha.shape[0]) if len(alpha.shape) == 1 else -1, (c_in * 9 + 7) // 8)
    if str(bits.dtype).rsplit(".", 1)[-1] != "uint8" or len(alpha.shape) != 1 or tuple(bits.shape) != want:
        raise ModelFormatError(
            f"{bits_key} is {bits.dtype} {tuple(bits.shape)} with alpha {tuple(alpha.shape)}; "
            f"expected uint8 (C_out, {want[1]}) sign bits for {c_in} input channels and (C_out,) alpha",
            _DAMAGED,
        )
    return bits, alpha, c_in


def unpack_state_dict(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`pack_state_dict`: rebuild ``alpha * sign`` weights (C_in from move0).

    Raises:
        ModelFormatError: sign bits without their alpha/move0, or of the wrong type or length
            (a short tensor is never zero-padded).
    """
    import torch

    out = {k: v for k, v in tensors.items() if not k.endswith((_SIGN_SUFFIX, _ALPHA_SUFFIX))}
    orphans = [
        k for k in tensors if k.endswith(_ALPHA_SUFFIX) and k[: -len(_ALPHA_SUFFIX)] + _SIGN_SUFFIX not in tensors
    ]
    if orphans:
        raise ModelFormatError(f"{orphans[0]} has no matching sign bits", _DAMAGED)
    for key in tensors:
        if not key.endswith(_SIGN_SUFFIX):
            continue
        prefix = key[: -len(_SIGN_SUFFIX)]
        bits, alpha, c_in = packed_parts(tensors, prefix)
        signs = unpack_signs(bits.numpy(), c_in)
        weight = torch.from_numpy(signs.astype(np.float32) * 2 - 1)
        out[prefix + ".weight"] = weight * alpha.float().view(-1, 1, 1, 1)
    return out


def unpack_signs(bits: np.ndarray, c_in: int) -> np.ndarray:
    """uint8 sign bits ``(C_out, ceil(9 C_in / 8))`` -> ``(C_out, C_in, 3, 3)`` uint8, 1 = positive."""
    return np.unpackbits(bits, axis=1, count=c_in * 9, bitorder="little").reshape(-1, c_in, 3, 3)
