"""Grow a trained binary DnCNN deeper or wider without changing what it computes.

Every binary unit is ``y = RPReLU(alpha * conv(sign(x + b), sign W)) + x``. A unit whose latent
weights all have magnitude ``eps`` (so ``alpha = eps``), with zero shifts and PReLU slope 0.25,
adds at most ``eps * 9 * C`` to its input: it is an identity up to ``O(eps)``. Inserting such
units between the trained ones gives a deeper network that starts where the trained one stands;
continuing training (``bbcu train --init-from``) then learns the extra capacity. This is
function-preserving growth in the Net2Net sense, for the residual binary unit.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

__all__ = ["deepen_dncnn", "placement", "unit_indices", "widen_dncnn"]

_KEY = re.compile(r"^model\.(\d+)\.(.+)$")


def _split(key: str) -> tuple[int, str] | None:
    m = _KEY.match(key)
    return (int(m.group(1)), m.group(2)) if m else None


def unit_indices(sd: dict[str, Tensor]) -> list[int]:
    """Sorted indices ``N`` of the binary units (``model.N.binary_conv.weight``) of a DnCNN state dict."""
    return sorted(p[0] for k in sd if (p := _split(k)) and p[1] == "binary_conv.weight")


def placement(old: int, new: int) -> list[int | None]:
    """Unit order after growth: the old unit index ``i``, or ``None`` where a new unit goes.

    Old units keep their order and the new ones are spread evenly between them, e.g.
    ``placement(4, 2) == [0, None, 1, 2, 3, None]`` (old unit ``i`` goes to slot
    ``round(i * (old + new) / old)``, Python's half-to-even rounding).
    """
    total = old + new
    slots: list[int | None] = [None] * total
    for i in range(old):
        slots[round(i * total / old)] = i
    return slots


def _identity_unit(like: dict[str, Tensor], eps: float, gen: torch.Generator) -> dict[str, Tensor]:
    out = {}
    for name, t in like.items():
        if name == "binary_conv.weight":
            out[name] = (torch.randint(0, 2, t.shape, generator=gen).to(t.dtype) * 2 - 1) * eps
        elif name == "relu.pr_prelu.weight":
            out[name] = torch.full_like(t, 0.25)
        else:
            out[name] = torch.zeros_like(t)
    return out


def deepen_dncnn(sd: dict[str, Tensor], layers: int, eps: float = 1e-3, seed: int = 0) -> dict[str, Tensor]:
    """State dict of the same binary DnCNN with ``layers`` layers (head + binary units + tail).

    Args:
        sd: latent (float) state dict with ``model.N.*`` keys (head ``model.0``, units
            ``model.2 ..``, tail last), as written by ``bbcu train`` (``*-latent.safetensors``).
        layers: the new layer count; must exceed the current one.
        eps: latent weight magnitude of a new unit (its ``alpha``).
        seed: seed of the new units' random weight signs.

    Raises:
        ValueError: not a DnCNN state dict, or ``layers`` not larger than now.
    """
    units = unit_indices(sd)
    if not units or units[0] != 2:
        raise ValueError("not a binary DnCNN state dict (no model.2.binary_conv.weight)")
    added = layers - 2 - len(units)
    if added <= 0:
        raise ValueError(f"the model has {len(units) + 2} layers already; ask for more")
    by_unit: dict[int, dict[str, Tensor]] = {u: {} for u in units}
    out: dict[str, Tensor] = {}
    tail = units[-1] + 1
    for key, t in sd.items():
        idx, name = _split(key) or (-1, key)
        if idx in by_unit:
            by_unit[idx][name] = t
        elif idx == tail:
            out[f"model.{layers}.{name}"] = t.clone()
        else:
            out[key] = t.clone()
    gen = torch.Generator().manual_seed(seed)
    for pos, old in enumerate(placement(len(units), added), start=2):
        tensors = by_unit[units[old]] if old is not None else _identity_unit(by_unit[units[0]], eps, gen)
        out.update({f"model.{pos}.{name}": t.clone() for name, t in tensors.items()})
    return out


def _widen_unit(t: dict[str, Tensor], feat: int, gain: float, gen: torch.Generator) -> dict[str, Tensor]:
    """One unit widened to ``feat`` channels (see :func:`widen_dncnn`)."""
    w = t["binary_conv.weight"]
    c = w.shape[0]
    alpha = w.abs().mean(dim=(1, 2, 3))
    signs = torch.randint(0, 2, (c, feat - c, 3, 3), generator=gen).to(w.dtype) * 2 - 1
    wide = torch.zeros(feat, feat, 3, 3, dtype=w.dtype)
    wide[:c, :c] = w
    wide[:c, c:] = signs * alpha.view(-1, 1, 1, 1)  # keeps alpha_c = mean |W_c| of the old outputs
    out = {"binary_conv.weight": wide * gain}
    for name, v in t.items():
        if name == "binary_conv.weight":
            continue
        fill = 0.25 if name == "relu.pr_prelu.weight" else 0.0
        grown = torch.full((feat,), fill, dtype=v.dtype)
        grown[:c] = v.flatten()
        out[name] = (grown if v.dim() == 1 else grown.view(1, feat, 1, 1)) * (1.0 if "prelu" in name else gain)
    return out


def widen_dncnn(sd: dict[str, Tensor], feat: int, k_old: float, k_new: float, seed: int = 0) -> dict[str, Tensor]:
    """State dict of the same binary DnCNN with ``feat`` feature channels, computing the same function.

    New channels are exactly zero through the network: the head's new filters are zero (ReLU
    keeps 0), their shift is 0 so ``sign`` gives 0 (a zero contributes nothing to a binary
    conv, as zero padding), their unit weights are 0 (``alpha = 0``) and the tail ignores them.
    The old outputs' weights on the new inputs get magnitude ``alpha_c``, so ``alpha_c`` is
    unchanged. Training moves the zeros at once (the surrogate gradient of ``sign`` is largest
    at 0). The residual-alignment factor follows the width (``k = 130 * feat / 64``): the
    network is positively homogeneous in its features, so the units' shifts, latent weights and
    RPReLU biases are scaled by ``k_new / k_old`` and the output is unchanged.

    Raises:
        ValueError: not a DnCNN state dict with bias-free convs, or ``feat`` not larger than now.
    """
    units = unit_indices(sd)
    if not units or units[0] != 2 or "model.0.bias" in sd:
        raise ValueError("not a bias-free binary DnCNN state dict (no model.2.binary_conv.weight)")
    c = sd["model.0.weight"].shape[0]
    if feat <= c:
        raise ValueError(f"the model has {c} features already; ask for more")
    head, tail = sd["model.0.weight"], sd[f"model.{units[-1] + 1}.weight"]
    out = {"model.0.weight": torch.cat([head, head.new_zeros(feat - c, *head.shape[1:])])}
    out[f"model.{units[-1] + 1}.weight"] = torch.cat([tail, tail.new_zeros(tail.shape[0], feat - c, 3, 3)], dim=1)
    gen = torch.Generator().manual_seed(seed)
    for u in units:
        tensors = {p[1]: t for k, t in sd.items() if (p := _split(k)) and p[0] == u}
        out.update({f"model.{u}.{n}": t for n, t in _widen_unit(tensors, feat, k_new / k_old, gen).items()})
    return out
