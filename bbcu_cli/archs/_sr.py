"""Pieces shared by the BBCU super-resolution families (bbcu-l, bbcu-m, bbcu-p).

All three start with ``conv_first`` and a body of binary blocks (``body.N.body.M.*``); BBCU-L
and BBCU-M then upsample the features (``upconv1`` [``upconv2``], ``conv_hr``, ``conv_last``),
BBCU-P ends in one sub-pixel ``conv_tail`` at input resolution.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from ..errors import ModelFormatError
from ._shapes import conv_shape, count_indices, k_or_default, packed_feature_bytes
from .registry import FinishLayout, StateDict
from .spec import Arch, ModelSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "UPSAMPLER_KEYS",
    "body_depth",
    "body_units",
    "describe",
    "has_body",
    "packed_bytes_per_pixel",
    "recognise_upsampler",
    "upsampler_bytes_per_pixel",
    "upsampler_finish",
    "upsampler_halo",
]

UPSAMPLER_KEYS = "(conv_first.*, body.N.body.M.binary_conv.*, upconv1.*)"
"""Key pattern of the families with a feature upsampler, quoted when nothing matches."""


def has_body(keys: Collection[str]) -> bool:
    """A head conv and at least one binary block: the start every BBCU SR network shares."""
    return "conv_first.weight" in keys and "body.0.body.0.binary_conv.weight" in keys


def body_depth(sd: StateDict) -> int:
    """Number of binary blocks in the body."""
    return count_indices(sd, r"body\.(\d+)\.body\.0\.")


def body_units(model: nn.Module) -> list[nn.Module]:
    """The body's binary units, in execution order."""
    return [unit for block in model.body for unit in block.body]  # type: ignore[attr-defined]


def describe(spec: ModelSpec) -> str:
    """E.g. ``BBCU-M x4, 64 ch, 16 blocks``."""
    return f"{spec.arch.upper()} x{spec.scale}, {spec.num_feat} ch, {spec.depth} blocks"


def recognise_upsampler(sd: StateDict, k: float | None, arch: Arch, up1_key: str) -> ModelSpec:
    """Spec of a BBCU-L/BBCU-M file: scale from ``upconv1`` (``upconv2`` present: x4)."""
    num_feat, in_ch = conv_shape(sd, "conv_first.weight")[:2]
    if up1_key not in sd:
        raise ModelFormatError(f"SR checkpoint without {up1_key}", "the file is damaged or of another architecture")
    up1 = conv_shape(sd, up1_key)
    ratio = up1[0] // num_feat
    if ("upconv2.weight" in sd) or ("upconv2.binary_conv.weight" in sd):
        scale = 4
    elif ratio in (4, 9):
        scale = int(round(ratio**0.5))
    else:
        raise ModelFormatError(
            f"upconv1 has {up1[0]} outputs for {num_feat} features", "expected 4x (x2, x4) or 9x (x3) num_feat"
        )
    return ModelSpec(arch, "sr", scale, int(in_ch), int(num_feat), body_depth(sd), k_or_default(k, num_feat))


def upsampler_halo(spec: ModelSpec) -> int:
    """conv_first + 2 per block + up to 2 upsampling convs + conv_hr + conv_last + 1 (bilinear base)."""
    return 2 * spec.depth + 6


def upsampler_bytes_per_pixel(spec: ModelSpec) -> int:
    """Eight float32 feature maps at input resolution, the same again upsampled, the image."""
    feat = spec.num_feat * 4
    return 8 * feat + 16 + 4 * feat * spec.scale * spec.scale


def packed_bytes_per_pixel(spec: ModelSpec) -> int:
    """Packed path, per input pixel: head output, NHWC features, sign grids, tail, input, output."""
    return packed_feature_bytes(spec.num_feat) + 4 * spec.in_channels * spec.scale**2 + 64


def upsampler_finish(model: nn.Module, spec: ModelSpec) -> FinishLayout:
    """``conv_last`` on the upsampled features, plus the bilinear base."""
    return FinishLayout("sr", 1, spec.scale, model.conv_last)  # type: ignore[arg-type]
