"""BBCU-P: binary body and a full-precision sub-pixel tail, all at input resolution
(:class:`bbcu_cli.models.BBCUP`; this project's, not the paper's).

Keys: ``conv_first``, ``body.N.body.M.binary_conv``, ``conv_tail`` (C * s * s outputs).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from ..errors import ModelFormatError
from . import _sr
from ._shapes import conv_shape, k_or_default
from .registry import ArchFamily, FinishLayout, PackedLayout, StateDict
from .spec import ModelSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FAMILY"]


def _matches(keys: Collection[str]) -> bool:
    return _sr.has_body(keys) and "conv_tail.weight" in keys


def _recognise(sd: StateDict, k: float | None, task: str | None) -> ModelSpec:
    """Scale from ``conv_tail``'s outputs (channels * scale^2)."""
    num_feat, in_ch = conv_shape(sd, "conv_first.weight")[:2]
    outs = conv_shape(sd, "conv_tail.weight")[0]
    scale = round((outs / int(in_ch)) ** 0.5)
    if scale < 1 or scale * scale * int(in_ch) != outs:
        raise ModelFormatError(
            f"conv_tail has {outs} outputs for {in_ch} image channels", "expected channels * scale^2"
        )
    return ModelSpec("bbcu-p", "sr", scale, int(in_ch), int(num_feat), _sr.body_depth(sd), k_or_default(k, num_feat))


def _build(spec: ModelSpec) -> nn.Module:
    from ..models import BBCUP

    return BBCUP(spec.in_channels, spec.in_channels, spec.num_feat, spec.depth, spec.scale, spec.k)


def _halo(spec: ModelSpec) -> int:
    """conv_first + 2 per block + conv_tail + 1 for the bilinear base."""
    return 2 * spec.depth + 3


def _bytes_per_pixel(spec: ModelSpec) -> int:
    """Eight feature maps at input resolution; only the tail output and the result are upscaled."""
    return 8 * spec.num_feat * 4 + 16 + 2 * 4 * spec.in_channels * spec.scale * spec.scale


def _finish(model: nn.Module, spec: ModelSpec) -> FinishLayout:
    """``conv_tail`` on the body's output, pixel-shuffled by the scale, plus the bilinear base."""
    return FinishLayout("sr", spec.scale, spec.scale, model.conv_tail)  # type: ignore[arg-type]


FAMILY = ArchFamily(
    name="bbcu-p",
    title="BBCU-P",
    tasks=("sr",),
    scales=(2, 3, 4, 8),
    depth_unit="blocks",
    keys="(conv_first.*, body.N.body.M.binary_conv.*, conv_tail.*)",
    matches=_matches,
    recognise=_recognise,
    build=_build,
    describe=_sr.describe,
    halo=_halo,
    bytes_per_pixel=_bytes_per_pixel,
    packed=PackedLayout(
        units=_sr.body_units,
        finish=_finish,
        bytes_per_pixel=_sr.packed_bytes_per_pixel,
        stages="subpixel",
        tail_act="lrelu",
    ),
)
