"""BBCU-L: binary body, full-precision upsampler (:class:`bbcu_cli.models.BBCUL`).

Keys: ``conv_first``, ``body.N.body.M.binary_conv``, ``upconv1.weight`` [``upconv2.weight``],
``conv_hr``, ``conv_last`` (the paper's ``BBCULx*.pth`` layout).
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
    return _sr.has_body(keys) and "conv_tail.weight" not in keys and "upconv1.binary_conv.weight" not in keys


def _recognise(sd: StateDict, k: float | None, task: str | None) -> ModelSpec:
    return _sr.recognise_upsampler(sd, k, "bbcu-l", "upconv1.weight")


def _build(spec: ModelSpec) -> nn.Module:
    from ..models import BBCUL

    return BBCUL(spec.in_channels, spec.in_channels, spec.num_feat, spec.depth, spec.scale, spec.k)


FAMILY = ArchFamily(
    name="bbcu-l",
    title="BBCU-L",
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
        units=_sr.body_units,
        finish=_sr.upsampler_finish,
        bytes_per_pixel=_sr.packed_bytes_per_pixel,
        stages="banded",
        float_upsampler=True,
    ),
)
