"""Binary DnCNN for denoising and JPEG deblocking (:class:`bbcu_cli.models.BinaryDnCNN`).

Keys: ``model.0`` (full-precision head), ``model.N.binary_conv`` (binary units), ``model.L``
(full-precision tail). The files carry no task: conv biases mean a deblocker (the official
``BBCU-deblocking.pth`` layout), none a denoiser. An unshuffled model (FFDNet-style, factor r)
has ``C * r * r`` tail outputs and runs at ``1/r`` resolution.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

from ..errors import ModelFormatError
from ._shapes import conv_shape, k_or_default, packed_feature_bytes
from .registry import ArchFamily, FinishLayout, PackedLayout, StateDict
from .spec import ModelSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FAMILY", "split_planes"]

TASKS = ("denoise", "deblock")


def _matches(keys: Collection[str]) -> bool:
    return "model.0.weight" in keys and "model.2.binary_conv.weight" in keys


def split_planes(planes: int) -> tuple[int, int]:
    """Tail output planes -> (image channels, unshuffle factor): 3 -> (3, 1), 12 -> (3, 2), 4 -> (1, 2)."""
    for channels in (3, 1):
        r = round((planes / channels) ** 0.5)
        if channels * r * r == planes:
            return channels, r
    raise ModelFormatError(f"DnCNN tail has {planes} outputs", "expected 1 or 3 image channels times r*r")


def _recognise(sd: StateDict, k: float | None, task: str | None) -> ModelSpec:
    """Without a denoise/deblock ``task`` (none, or ``sr``) say what the file is; the caller compares."""
    num_feat, head_in = conv_shape(sd, "model.0.weight")[:2]
    last = max(int(m.group(1)) for key in sd if (m := re.match(r"model\.(\d+)\.weight$", key)))
    planes = conv_shape(sd, f"model.{last}.weight")[0]
    out_ch, r = split_planes(planes)
    bias = "model.0.bias" in sd
    noise = head_in == planes + 1
    if task not in TASKS:
        task = "deblock" if bias else "denoise"
    return ModelSpec("dncnn", task, 1, out_ch, int(num_feat), last, k_or_default(k, num_feat), bias, noise, r)  # type: ignore[arg-type]


def _build(spec: ModelSpec) -> nn.Module:
    from ..models import BinaryDnCNN

    return BinaryDnCNN(
        spec.in_channels, spec.num_feat, spec.depth, spec.bias, spec.noise_channel, spec.k, spec.unshuffle
    )


def _describe(spec: ModelSpec) -> str:
    extra = ", noise-level input" if spec.noise_channel else ""
    extra += f", {spec.unshuffle}x{spec.unshuffle} unshuffled" if spec.unshuffle > 1 else ""
    return f"binary DnCNN {spec.task}, {spec.in_channels}-ch, {spec.num_feat} feat, {spec.depth} layers{extra}"


def _halo(spec: ModelSpec) -> int:
    """One per 3x3 conv plus one, in units of the unshuffle factor (a multiple of it)."""
    return (spec.depth + 1) * spec.unshuffle


def _align(spec: ModelSpec) -> int:
    """Tiles start on the unshuffle grid, so every tile sees the image's r x r grouping."""
    return spec.unshuffle


def _bytes_per_pixel(spec: ModelSpec) -> int:
    """Eight float32 feature maps at 1/r^2 of the input positions, plus the image."""
    return 8 * spec.num_feat * 4 // spec.unshuffle**2 + 16


def _packed_bytes_per_pixel(spec: ModelSpec) -> int:
    return packed_feature_bytes(spec.num_feat) // spec.unshuffle**2 + 32


def _units(model: nn.Module) -> list[nn.Module]:
    from ..models.binary import BinaryUnit

    return [m for m in model.model if isinstance(m, BinaryUnit)]  # type: ignore[attr-defined]


def _finish(model: nn.Module, spec: ModelSpec) -> FinishLayout:
    """The tail conv's noise planes, pixel-shuffled back, subtracted from the input."""
    layers = model.model
    return FinishLayout("denoise", spec.unshuffle, 1, layers[len(layers) - 1])  # type: ignore[arg-type]


FAMILY = ArchFamily(
    name="dncnn",
    title="DnCNN",
    tasks=TASKS,
    scales=(1,),
    depth_unit="layers",
    keys="(model.0.weight, model.N.binary_conv.weight)",
    matches=_matches,
    recognise=_recognise,
    build=_build,
    describe=_describe,
    halo=_halo,
    bytes_per_pixel=_bytes_per_pixel,
    align=_align,
    packed=PackedLayout(
        units=_units,
        finish=_finish,
        bytes_per_pixel=_packed_bytes_per_pixel,
        stages="planes",
        head_act="relu",
    ),
    min_depth=3,
    unshuffle=True,
    default_for=TASKS,
)
