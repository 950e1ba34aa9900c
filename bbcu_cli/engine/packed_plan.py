"""Fold a loaded BBCU model into an inference plan for the packed XNOR/popcount kernels.

Each binary unit becomes a :class:`PackedUnit`: the sign bits of its weights packed along
input channels (``[9 taps][words][co8]`` uint64, bit = W > 0), per-output ``alpha`` and the
RPReLU epilogue parameters, and its ``move0`` bias, which becomes the sign *threshold* used by
the previous step when it packs its output (activations are packed once, in the epilogue).
Up units (BBCU-M) have their outputs reordered so that each pixel-shuffle phase is a contiguous
block of channels: the kernel writes straight into the high-resolution layout.

Exactness: the kernels reproduce ``sign(x + b)`` with sign(0) = 0 exactly (zero activations use
a masked path), but treat every weight as +-1. A model with an exactly-zero binary weight
(torch.sign gives 0) is therefore refused by :func:`check_exact` and runs on the float path.
Full-precision layers (heads, tails, BBCU-L upsampler) stay torch modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .. import archs
from ..archs.registry import Activation, PackedLayout
from ..loading import LoadedModel
from ..models.binary import BinaryUnit, BinaryUpUnit, weight_alpha

__all__ = ["PackedUnit", "InferencePlan", "build_plan", "fold_unit", "check_exact", "binary_units", "kernel_activation"]

# Taps (t = 3*ky + kx) outside the image for each border bit: 1 top, 2 bottom, 4 left, 8 right.
_BORDER_TAPS = {1: (0, 1, 2), 2: (6, 7, 8), 4: (0, 3, 6), 8: (2, 5, 8)}


@dataclass
class PackedUnit:
    """One binary unit (``factor`` 1) or binary up unit (``factor`` r) in kernel layout."""

    cin: int
    cout: int
    factor: int
    co8: int
    weights: np.ndarray  # uint64 [9, nw, co8]
    ecorr: np.ndarray  # int32 [16, co8]
    alpha: np.ndarray  # float32 [cout], kernel output order
    bias: np.ndarray | None
    b0: np.ndarray
    slope: np.ndarray
    b1: np.ndarray
    threshold: np.ndarray  # float32 [cin]: this unit's move0 bias

    @property
    def words(self) -> int:
        return (self.cin + 63) // 64


@dataclass
class InferencePlan:
    """Packed units in execution order plus the model whose float layers wrap them."""

    arch: str
    units: list[PackedUnit]
    head_act: int  # activation between the head conv and the first unit (kernels.ACT_*)
    tail_act: int  # activation applied to the last unit's output
    model: nn.Module
    layout: PackedLayout | None = None  # the family's packed layout (runner stages, fused tail)


def _f32(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().reshape(-1).cpu().numpy(), dtype=np.float32)


def _output_order(cout: int, r: int) -> Tensor:
    """Kernel output q = (i*r + j)*C + c reads conv output channel c*r*r + i*r + j."""
    return torch.arange(cout).view(cout // (r * r), r * r).t().reshape(-1)


def _pack_weights(positive: np.ndarray, co8: int) -> np.ndarray:
    """(cout, cin, 9) bool -> (9, nw, co8) uint64, bit k of word w = input channel 64w+k."""
    cout, cin, _ = positive.shape
    nw = (cin + 63) // 64
    bits = np.zeros((9, cout, nw * 64), dtype=bool)
    bits[:, :, :cin] = positive.transpose(2, 0, 1)
    words = np.packbits(bits, axis=-1, bitorder="little").view("<u8").astype(np.uint64)
    out = np.zeros((9, nw, co8), dtype=np.uint64)
    out[:, :, :cout] = words.transpose(0, 2, 1)
    return out


def _border_corrections(positive: np.ndarray, co8: int) -> np.ndarray:
    """E[type, q] = number of positive weights of output q on the taps outside the image."""
    per_tap = positive.sum(axis=1).astype(np.int32)  # (cout, 9)
    out = np.zeros((16, co8), dtype=np.int32)
    for border in range(16):
        taps = sorted({t for bit, ts in _BORDER_TAPS.items() if border & bit for t in ts})
        if taps:
            out[border, : positive.shape[0]] = per_tap[:, taps].sum(axis=1)
    return out


def _expand(param: Tensor, n: int) -> Tensor:
    flat = param.detach().float().reshape(-1)
    return flat.expand(n) if flat.numel() == 1 else flat


def fold_unit(unit: BinaryUnit | BinaryUpUnit) -> PackedUnit:
    """Pack one unit's weights and epilogue parameters."""
    conv = unit.binary_conv
    w = conv.weight.detach().float().cpu()
    cout, cin = int(w.shape[0]), int(w.shape[1])
    r = int(getattr(unit, "factor", 1))
    order = _output_order(cout, r)
    co8 = (cout + 7) // 8 * 8
    positive = (w[order] > 0).reshape(cout, cin, 9).numpy()
    relu = unit.relu
    return PackedUnit(
        cin=cin,
        cout=cout,
        factor=r,
        co8=co8,
        weights=_pack_weights(positive, co8),
        ecorr=_border_corrections(positive, co8),
        alpha=_f32(weight_alpha(w)[order]),
        bias=None if conv.bias is None else _f32(conv.bias.detach().float().cpu()[order]),
        b0=_f32(_expand(relu.pr_bias0.bias, cout)[order]),
        slope=_f32(_expand(relu.pr_prelu.weight, cout)[order]),
        b1=_f32(_expand(relu.pr_bias1.bias, cout)[order]),
        threshold=_f32(_expand(unit.move0.bias, cin)),
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


def kernel_activation(name: Activation) -> int:
    """The kernels' ``ACT_*`` code of a layout's activation name."""
    from .. import kernels

    return {"none": kernels.ACT_NONE, "relu": kernels.ACT_RELU, "lrelu": kernels.ACT_LRELU}[name]


def build_plan(loaded: LoadedModel) -> InferencePlan:
    """Build the :class:`InferencePlan` (call :func:`check_exact` first)."""
    layout = archs.family(loaded.spec.arch).packed
    assert layout is not None, "check_exact refuses families without a packed layout"
    units = [fold_unit(u) for u in layout.units(loaded.model)]  # type: ignore[arg-type]
    head_act, tail_act = kernel_activation(layout.head_act), kernel_activation(layout.tail_act)
    return InferencePlan(loaded.spec.arch, units, head_act, tail_act, loaded.model, layout)
