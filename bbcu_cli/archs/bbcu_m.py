"""BBCU-M: binary body and binary upsampler (:class:`bbcu_cli.models.BBCUM`).

Keys: as BBCU-L, but ``upconv1.binary_conv.weight`` [``upconv2.*``] and a binary ``conv_hr``
(the paper's ``BBCUMx*.pth`` layout). The default SR family.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from . import _sr
from .registry import ArchFamily, PackedLayout, StateDict
from .spec import ModelSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FAMILY"]


def _matches(keys: Collection[str]) -> bool:
    return _sr.has_body(keys) and "conv_tail.weight" not in keys and "upconv1.binary_conv.weight" in keys


def _recognise(sd: StateDict, k: float | None, task: str | None) -> ModelSpec:
    return _sr.recognise_upsampler(sd, k, "bbcu-m", "upconv1.binary_conv.weight")


def _build(spec: ModelSpec) -> nn.Module:
    from ..models import BBCUM

    return BBCUM(spec.in_channels, spec.in_channels, spec.num_feat, spec.depth, spec.scale, spec.k)


def _units(model: nn.Module) -> list[nn.Module]:
    """Body units, then the binary up units and ``conv_hr`` (high resolution)."""
    ups = [getattr(model, f"upconv{i}") for i in range(1, len(model.factors) + 1)]  # type: ignore[arg-type]
    return [*_sr.body_units(model), *ups, model.conv_hr]  # type: ignore[list-item]


FAMILY = ArchFamily(
    name="bbcu-m",
    title="BBCU-M",
    tasks=("sr",),
    scales=(2, 3, 4),
    depth_unit="blocks",
    keys=_sr.UPSAMPLER_KEYS,
    matches=_matches,
    recognise=_recognise,
    build=_build,
    describe=_sr.describe,
    halo=_sr.upsampler_halo,
    bytes_per_pixel=_sr.upsampler_bytes_per_pixel,
    packed=PackedLayout(
        units=_units,
        finish=_sr.upsampler_finish,
        bytes_per_pixel=_sr.packed_bytes_per_pixel,
        stages="banded",
        tail_act="lrelu",
    ),
    default_for=("sr",),
)
