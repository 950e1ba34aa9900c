"""Tiny real models with random weights for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bbcu_cli.loading import LoadedModel, ModelSpec, build_model


def random_loaded(spec: ModelSpec, seed: int = 0) -> LoadedModel:
    """Build ``spec`` with random weights, biases and RPReLU parameters large enough that
    signs and residuals are non-trivial (0.3 for vectors, fan-in scaling for conv weights)."""
    model = build_model(spec).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.3 if p.dim() == 1 or "move0" in name or "pr_" in name else 1 / p[0].numel() ** 0.5
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return LoadedModel(model, spec, "random")


def mirrored_photo() -> np.ndarray:
    """The 96 x 128 test photo (``tests/data/clean_crop.png``) mirrored to 192 x 256: no seams,
    big enough to be judged by the aliasing detector once made 4x smaller."""
    from bbcu_cli.imagefiles import read_image

    a = read_image(Path(__file__).resolve().parent / "data" / "clean_crop.png", raw=True).pixels
    a = np.concatenate([a, a[:, ::-1]], axis=1)
    return np.ascontiguousarray(np.concatenate([a, a[::-1]], axis=0))


def textured_photo() -> np.ndarray:
    """A 192 x 256 crop of Set14 barbara (``tests/data/aliasing_crop.png``: cloth and books): once
    made 4x smaller, the x4 detectors send its MATLAB-bicubic version to the clean variant and its
    ``cv2-cubic`` one to the alias variant, both by a wide margin (P 0.03 and 0.22 against
    thresholds 0.30 and 0.38)."""
    from bbcu_cli.imagefiles import read_image

    return read_image(Path(__file__).resolve().parent / "data" / "aliasing_crop.png", raw=True).pixels


def random_model(
    arch: str,
    feat: int,
    depth: int,
    scale: int = 1,
    *,
    noise: bool = False,
    bias: bool = False,
    zero_move: bool = False,
    seed: int = 0,
    unshuffle: int = 1,
) -> LoadedModel:
    """Random weights, including move0 / RPReLU biases so that the signs are non-trivial."""
    task = "denoise" if arch == "dncnn" else "sr"
    spec = ModelSpec(arch, task, scale, 3, feat, depth, 130.0 * feat / 64, bias, noise, unshuffle)  # type: ignore[arg-type]
    model = build_model(spec).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "move0" in name and zero_move:
                p.zero_()  # after a ReLU: many exact zeros -> the masked (sign 0) path
            elif "binary_conv.weight" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif "prelu" in name:
                p.copy_(torch.rand(p.shape, generator=g) * 0.5)
            elif p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=g) / (p[0].numel() ** 0.5))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return LoadedModel(model, spec, "random")
