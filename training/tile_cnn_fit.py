"""Train the routing detector's tile CNN (:mod:`bbcu_cli.tile_cnn`) from ``fit_aliasing.py``'s measurements.

Each small image's luma (as :func:`bbcu_cli.aliasing.measure` computes it) is cut into every
half-overlapping 32 x 32 tile of :func:`bbcu_cli.tile_cnn.tile_grid`; a tile's label is the
detector's: the Y-PSNR gain of the variant over the robust model on the low-resolution pixels
it covers (from the two error maps), "robust better" when negative, weighted by the gain's size.
Weighted logistic loss, Adam (2e-3, cosine decay), batches of 256 tiles, torch on the CPU.
:func:`export` writes the weights in the ``aliasing.json`` layout :meth:`bbcu_cli.tile_cnn.TileCNN.of` reads.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import numpy as np

from bbcu_cli.aliasing import measure
from bbcu_cli.tile_cnn import TILE, TileCNN, tile_grid

__all__ = ["tile_data", "train", "export", "as_cnn", "with_range"]


def _gain(er: np.ndarray, ec: np.ndarray) -> float:
    return float(10 * np.log10(er.sum() / max(ec.sum(), 1e-12)))


def tile_data(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Every tile of every row's small image ((n, 32, 32) float32 luma, 0..255) and its gain ((n,))."""
    tiles, gains = [], []
    for row in rows:
        found = measure(row["lr"])
        if found is None:
            continue
        t, at = tile_grid(found.luma, limit=10**9)
        tiles.append(np.array(t, np.float32))
        for top, left in at - TILE // 2:
            box = (slice(top, top + TILE), slice(left, left + TILE))
            gains.append(_gain(row["er"][box], row["ec"][box]))
    return np.concatenate(tiles), np.asarray(gains)


def _net() -> Any:
    from torch import nn

    layers: list = [nn.Conv2d(1, 16, 3, padding=1), nn.ReLU()]
    for cin in (16, 32, 32):
        layers += [nn.Conv2d(cin, 32, 3, stride=2, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 1))


def _inputs(x: np.ndarray) -> Any:
    import torch

    t = torch.from_numpy(x / np.float32(255.0))[:, None]
    return (t - t.mean(dim=(2, 3), keepdim=True)) * 8.0


def train(x: np.ndarray, gain: np.ndarray, steps: int, seed: int = 0) -> Any:
    """A network trained on tiles ``x`` with gains ``gain`` for ``steps`` batches (a torch module)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    label = torch.from_numpy((gain < 0).astype(np.float32))
    weight = torch.from_numpy((np.abs(gain) / np.abs(gain).mean()).astype(np.float32))
    net = _net()
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for step in range(steps):
        i = rng.integers(0, len(gain), 256)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            net(_inputs(x[i]))[:, 0], label[i], reduction="none"
        )
        opt.zero_grad()
        (loss * weight[i]).mean().backward()
        opt.step()
        sched.step()
        if step % 1000 == 0:
            print(f"tile CNN step {step}: loss {float((loss * weight[i]).mean().detach()):.4f}", file=sys.stderr)
    return net


def export(net: Any) -> dict:
    """The weights as ``{"convs": [{"shape", "weight", "bias"}, ...], "linear": {...}}`` (flat lists)."""
    layers = [m for m in net if hasattr(m, "weight")]
    convs = [
        {"shape": list(m.weight.shape), "weight": m.weight.detach().numpy().ravel(), "bias": m.bias.detach().numpy()}
        for m in layers[:-1]
    ]
    last = layers[-1]
    return {"convs": convs, "linear": {"weight": last.weight.detach().numpy()[0], "bias": float(last.bias[0])}}


def as_cnn(net: Any) -> TileCNN:
    """The network as the package runs it (numpy)."""
    return TileCNN.of(export(net))


def with_range(cnn: TileCNN, rows: list[dict]) -> TileCNN:
    """``cnn`` with its :attr:`~bbcu_cli.tile_cnn.TileCNN.score_range`: the lowest and highest
    score of the whole small images of ``rows`` (the ones it was trained on)."""
    found = [measure(row["lr"]) for row in rows]
    scores = [float(cnn.scores(m.luma, [None])[0]) for m in found if m is not None]
    return dataclasses.replace(cnn, score_range=(min(scores), max(scores)))
