"""Tiny real models with random weights for tests."""

from __future__ import annotations

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
