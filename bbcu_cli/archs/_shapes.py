"""Helpers for reading hyper-parameters off a state dict's key names and tensor shapes."""

from __future__ import annotations

import re

from ..errors import ModelFormatError
from .registry import StateDict

__all__ = ["conv_shape", "count_indices", "k_or_default", "packed_feature_bytes"]


def conv_shape(sd: StateDict, key: str) -> tuple[int, int, int, int]:
    """The (C_out, C_in, kH, kW) shape of convolution weight ``key``, or a clear error."""
    shape = tuple(int(d) for d in sd[key].shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ModelFormatError(
            f"{key} has shape {shape}, expected a 4-d convolution weight (C_out, C_in, 3, 3)",
            "the file is damaged or not a BBCU checkpoint",
        )
    return shape  # type: ignore[return-value]


def count_indices(sd: StateDict, pattern: str) -> int:
    """How many distinct values the first group of ``pattern`` takes over the keys."""
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def k_or_default(k: float | None, num_feat: int) -> float:
    """``k`` itself, or the default residual-alignment factor for ``num_feat`` features."""
    from ..models.sr import default_k

    return default_k(num_feat) if k is None else k


def packed_feature_bytes(num_feat: int) -> int:
    """Packed path, per feature-grid pixel: head output, NHWC features and packed sign grids."""
    return 8 * num_feat + 32 * ((num_feat + 63) // 64) + 16
