"""What the torch-free runtime knows about the families it runs (bbcu-p and dncnn).

Per family, from the :class:`~bbcu_cli.archs.ModelSpec` alone: the tensor names and shapes a
project file must hold (the same as the torch model's ``state_dict``; a test compares them), the
binary units' key prefixes in execution order, the head and tail conv prefixes and the fused
tail's mode. Everything else (activations, runner stages) comes from the family's
:class:`~bbcu_cli.archs.registry.PackedLayout`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..archs.spec import ModelSpec

__all__ = ["LiteFamily", "LITE_FAMILIES", "lite_family"]

Shapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class LiteFamily:
    """How :mod:`bbcu_cli.lite` reads and runs one family (see the module docstring).

    ``units(spec)``: binary unit prefixes in order; ``head``/``tail``: conv prefixes;
    ``head_in(spec)``: head input channels; ``tail_grid(spec)``: (shuffle r, base scale sb);
    ``denoise``: the fused tail subtracts (DnCNN) instead of adding the bilinear base (SR).
    """

    units: Callable[[ModelSpec], list[str]]
    head: Callable[[ModelSpec], str]
    tail: Callable[[ModelSpec], str]
    head_in: Callable[[ModelSpec], int]
    tail_out: Callable[[ModelSpec], int]
    tail_grid: Callable[[ModelSpec], tuple[int, int]]
    denoise: bool
    conv_bias: Callable[[ModelSpec], bool]


def _unit_shapes(prefix: str, c: int, bias: bool) -> Shapes:
    out: Shapes = {
        f"{prefix}.move0.bias": (1, c, 1, 1),
        f"{prefix}.binary_conv.weight": (c, c, 3, 3),
        f"{prefix}.relu.pr_bias0.bias": (1, c, 1, 1),
        f"{prefix}.relu.pr_prelu.weight": (c,),
        f"{prefix}.relu.pr_bias1.bias": (1, c, 1, 1),
    }
    if bias:
        out[f"{prefix}.binary_conv.bias"] = (c,)
    return out


def _conv_shapes(prefix: str, cout: int, cin: int, bias: bool) -> Shapes:
    out: Shapes = {f"{prefix}.weight": (cout, cin, 3, 3)}
    if bias:
        out[f"{prefix}.bias"] = (cout,)
    return out


def expected_shapes(fam: LiteFamily, spec: ModelSpec) -> Shapes:
    """Every tensor name of a ``spec`` model with its shape (binary weights as float shapes)."""
    bias, f = fam.conv_bias(spec), spec.num_feat
    shapes = _conv_shapes(fam.head(spec), f, fam.head_in(spec), bias)
    for prefix in fam.units(spec):
        shapes.update(_unit_shapes(prefix, f, spec.bias))
    shapes.update(_conv_shapes(fam.tail(spec), fam.tail_out(spec), f, bias))
    return shapes


def _planes(spec: ModelSpec) -> int:
    return spec.in_channels * spec.unshuffle**2


BBCU_P = LiteFamily(
    units=lambda s: [f"body.{i}.body.{j}" for i in range(s.depth) for j in (0, 1)],
    head=lambda s: "conv_first",
    tail=lambda s: "conv_tail",
    head_in=lambda s: s.in_channels,
    tail_out=lambda s: s.in_channels * s.scale**2,
    tail_grid=lambda s: (s.scale, s.scale),
    denoise=False,
    conv_bias=lambda s: True,
)

DNCNN = LiteFamily(
    units=lambda s: [f"model.{i}" for i in range(2, s.depth)],
    head=lambda s: "model.0",
    tail=lambda s: f"model.{s.depth}",
    head_in=lambda s: _planes(s) + (1 if s.noise_channel else 0),
    tail_out=_planes,
    tail_grid=lambda s: (s.unshuffle, 1),
    denoise=True,
    conv_bias=lambda s: s.bias,
)

#: families the torch-free runtime runs, by architecture name
LITE_FAMILIES: dict[str, LiteFamily] = {"bbcu-p": BBCU_P, "dncnn": DNCNN}


def lite_family(arch: str) -> LiteFamily | None:
    """The lite description of ``arch``, or None when only the torch runtime runs it."""
    return LITE_FAMILIES.get(arch)
