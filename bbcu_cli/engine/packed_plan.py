"""Fold a loaded BBCU model into an inference plan for the packed XNOR/popcount kernels.

Each binary unit becomes a :class:`PackedUnit` (:mod:`.packed_units`, torch-free, shared with
:mod:`bbcu_cli.lite`): the sign bits of its weights packed along input channels, per-output
``alpha`` and the RPReLU epilogue parameters, and its ``move0`` bias, which becomes the sign
*threshold* used by the previous step when it packs its output (activations are packed once, in
the epilogue). Up units (BBCU-M) have their outputs reordered so that each pixel-shuffle phase is
a contiguous block of channels: the kernel writes straight into the high-resolution layout.

Exactness: the kernels reproduce ``sign(x + b)`` with sign(0) = 0 exactly (zero activations use
a masked path), but treat every weight as +-1. A model with an exactly-zero binary weight
(torch.sign gives 0) is therefore refused by :func:`check_exact` and runs on the float path.
Full-precision layers (heads, tails, BBCU-L upsampler) stay torch modules.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .. import archs
from ..loading import LoadedModel
from ..models.binary import BinaryUnit, BinaryUpUnit, weight_alpha
from .packed_units import InferencePlan, PackedUnit, UnitParams, kernel_activation, pack_unit

__all__ = ["PackedUnit", "InferencePlan", "build_plan", "fold_unit", "check_exact", "binary_units", "kernel_activation"]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def fold_unit(unit: BinaryUnit | BinaryUpUnit) -> PackedUnit:
    """Pack one unit's weights and epilogue parameters (:func:`.packed_units.pack_unit`)."""
    conv, relu = unit.binary_conv, unit.relu
    w = conv.weight.detach().float().cpu()
    return pack_unit(
        UnitParams(
            positive=(w > 0).numpy(),
            alpha=_np(weight_alpha(w)),
            bias=None if conv.bias is None else _np(conv.bias),
            b0=_np(relu.pr_bias0.bias),
            slope=_np(relu.pr_prelu.weight),
            b1=_np(relu.pr_bias1.bias),
            threshold=_np(unit.move0.bias),
            factor=int(getattr(unit, "factor", 1)),
        )
    )


def binary_units(loaded: LoadedModel) -> list[nn.Module]:
    """The binary units the packed path runs, in execution order (the family's packed layout)."""
    layout = archs.family(loaded.spec.arch).packed
    return [] if layout is None else layout.units(loaded.model)


def check_exact(loaded: LoadedModel) -> tuple[bool, str]:
    """Whether the packed path computes exactly what the float model does."""
    known = archs.find(loaded.spec.arch)
    if known is None or known.packed is None:
        return False, f"architecture {loaded.spec.arch} has no packed plan"
    units = binary_units(loaded)
    if not units:
        return False, "the model has no binary units"
    for unit in units:
        if not isinstance(unit, (BinaryUnit, BinaryUpUnit)):
            return False, f"unexpected module {type(unit).__name__}"
        w = unit.binary_conv.weight.detach()
        if bool((w == 0).any()):
            return False, "not exact for this model: a binary weight is exactly 0 (sign 0); use the float path"
        if not bool(torch.isfinite(w).all()):
            return False, "not exact for this model: a binary weight is not finite"
    return True, ""


def build_plan(loaded: LoadedModel) -> InferencePlan:
    """Build the :class:`InferencePlan` (call :func:`check_exact` first)."""
    layout = archs.family(loaded.spec.arch).packed
    assert layout is not None, "check_exact refuses families without a packed layout"
    units = [fold_unit(u) for u in layout.units(loaded.model)]  # type: ignore[arg-type]
    head_act, tail_act = kernel_activation(layout.head_act), kernel_activation(layout.tail_act)
    return InferencePlan(loaded.spec.arch, units, head_act, tail_act, loaded.model, layout)
