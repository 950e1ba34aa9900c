"""Validation during training: the benchmark protocol of :mod:`bbcu_cli.evaluate` on a small
set, with the model temporarily in eval mode (integer-exact binary arithmetic, fp32)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..evaluate import EvalConfig, EvalResult, evaluate
from ..loading import ModelSpec
from .config import TrainConfig

__all__ = ["make_restore", "validate_model", "metrics_entry"]


def make_restore(
    net: nn.Module, spec: ModelSpec, device: torch.device, sigma: float
) -> Callable[[np.ndarray], np.ndarray]:
    """``restore`` callable for :func:`evaluate`: (H, W, C) float32 -> restored (H', W', C).

    A colour model given a gray image sees R = G = B and returns the channel mean.
    """

    def restore(img: np.ndarray) -> np.ndarray:
        expand = img.shape[2] == 1 and spec.in_channels == 3
        arr = np.repeat(img, 3, axis=2) if expand else img
        x = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None].to(device)
        with torch.inference_mode():
            y = net(x, sigma) if spec.noise_channel else net(x)
        out = y[0].permute(1, 2, 0).float().cpu().numpy()
        return out.mean(axis=2, keepdims=True) if expand else out

    return restore


def validate_model(net: nn.Module, cfg: TrainConfig, device: torch.device) -> EvalResult:
    """Score ``net`` on ``cfg.val`` (first ``cfg.val_limit`` images); restores train mode."""
    ecfg = EvalConfig(
        task=cfg.task,  # type: ignore[arg-type]
        scale=cfg.scale,
        sigma=cfg.val_sigma,
        quality=cfg.val_quality,
        seed=0,
        limit=cfg.val_limit,
        gray=cfg.in_channels == 1,
    )
    was_training = net.training
    net.eval()
    try:
        return evaluate(
            Path(str(cfg.val)), make_restore(net, cfg.model_spec(), device, cfg.val_sigma), ecfg, str(cfg.name)
        )
    finally:
        net.train(was_training)


def metrics_entry(res: EvalResult, step: int) -> dict[str, Any]:
    """``{dataset: {scale|sigma|quality, psnr, ssim, images, step}}`` for logs and manifests."""
    cond = {"sr": {"scale": res.scale}, "denoise": {"sigma": res.sigma}, "deblock": {"quality": res.quality}}[res.task]
    return {
        res.dataset: {
            **cond,
            "psnr": round(res.psnr, 4),
            "ssim": round(res.ssim, 5),
            "images": len(res.images),
            "step": step,
        }
    }
