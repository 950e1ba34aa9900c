"""Grow a trained binary DnCNN deeper without changing what it computes (much).

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

__all__ = ["deepen_dncnn", "placement", "unit_indices"]

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
