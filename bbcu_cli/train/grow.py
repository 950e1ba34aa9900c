"""Grow a trained binary DnCNN or BBCU-P deeper or wider without changing what it computes.

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

__all__ = ["deepen_dncnn", "placement", "unit_indices", "widen_dncnn", "deepen_subpixel", "widen_subpixel"]

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


# ---------------------------------------------------------------- BBCU-P (sub-pixel SR)

_BODY = re.compile(r"^body\.(\d+)\.body\.(\d)\.(.+)$")


def _blocks(sd: dict[str, Tensor]) -> dict[int, dict[str, Tensor]]:
    """``{block: {"U.name": tensor}}`` of the ``body.N.body.U.*`` keys of an SR state dict."""
    out: dict[int, dict[str, Tensor]] = {}
    for key, t in sd.items():
        m = _BODY.match(key)
        if m:
            out.setdefault(int(m.group(1)), {})[f"{m.group(2)}.{m.group(3)}"] = t
    return out


def _check_subpixel(sd: dict[str, Tensor]) -> None:
    if "conv_tail.weight" not in sd or "body.0.body.0.binary_conv.weight" not in sd:
        raise ValueError("not a BBCU-P state dict (no conv_tail.weight / body.0.body.0.binary_conv.weight)")


def deepen_subpixel(sd: dict[str, Tensor], blocks: int, eps: float = 1e-3, seed: int = 0) -> dict[str, Tensor]:
    """The same BBCU-P with ``blocks`` binary blocks: near-identity blocks (two units each, as in
    :func:`deepen_dncnn`) spread evenly between the trained ones.

    Raises:
        ValueError: not a BBCU-P latent state dict, or ``blocks`` not larger than now.
    """
    _check_subpixel(sd)
    old = _blocks(sd)
    if blocks <= len(old):
        raise ValueError(f"the model has {len(old)} blocks already; ask for more")
    out = {k: t.clone() for k, t in sd.items() if not _BODY.match(k)}
    gen = torch.Generator().manual_seed(seed)
    for pos, src in enumerate(placement(len(old), blocks - len(old))):
        if src is not None:
            out.update({f"body.{pos}.body.{k}": t.clone() for k, t in old[src].items()})
            continue
        for unit in ("0", "1"):
            like = {k.split(".", 1)[1]: t for k, t in old[0].items() if k.startswith(unit + ".")}
            out.update({f"body.{pos}.body.{unit}.{n}": t for n, t in _identity_unit(like, eps, gen).items()})
    return out


def widen_subpixel(sd: dict[str, Tensor], feat: int, k_old: float, k_new: float, seed: int = 0) -> dict[str, Tensor]:
    """The same BBCU-P with ``feat`` channels, computing the same function (see :func:`widen_dncnn`).

    The head's new filters and biases are zero (LReLU keeps 0), the units widen as in
    :func:`widen_dncnn`, the tail ignores the new channels; the biases of head and tail scale
    with ``k_new / k_old`` (the network is then positively homogeneous in its features).

    Raises:
        ValueError: not a BBCU-P latent state dict, or ``feat`` not larger than now.
    """
    _check_subpixel(sd)
    head = sd["conv_first.weight"]
    c = head.shape[0]
    if feat <= c:
        raise ValueError(f"the model has {c} features already; ask for more")
    gain = k_new / k_old
    out = {"conv_first.weight": torch.cat([head, head.new_zeros(feat - c, *head.shape[1:])])}  # x * k scales it
    out["conv_first.bias"] = torch.cat([sd["conv_first.bias"], head.new_zeros(feat - c)]) * gain
    tail = sd["conv_tail.weight"]
    out["conv_tail.weight"] = torch.cat([tail, tail.new_zeros(tail.shape[0], feat - c, 3, 3)], dim=1)
    out["conv_tail.bias"] = sd["conv_tail.bias"] * gain
    gen = torch.Generator().manual_seed(seed)
    for b, tensors in _blocks(sd).items():
        for unit in ("0", "1"):
            mine = {k.split(".", 1)[1]: t for k, t in tensors.items() if k.startswith(unit + ".")}
            out.update({f"body.{b}.body.{unit}.{n}": t for n, t in _widen_unit(mine, feat, gain, gen).items()})
    return out
