"""When the torch-free runtime runs a model, and why not (the rule the CLI and factory share).

The lite runtime runs a model when the settings allow it (:func:`lite_blocker`: backend
``auto``/``packed``, device ``auto``/``cpu``, the packed kernels available,
``BBCU_NO_LITE`` unset, and with device ``auto`` no GPU visible: torch then chooses between CUDA
and the CPU as it always has) and the file is one it reads (:func:`try_lite`: a project
``.safetensors`` file of a family with a lite plan, no zero binary weight). Otherwise the torch
runtime runs it, exactly as before.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import kernels
from ..errors import BbcuError
from .model import LiteModel, LiteUnsupported, load_lite

__all__ = ["NO_LITE_ENV", "gpu_visible", "lite_blocker", "try_lite"]

NO_LITE_ENV = "BBCU_NO_LITE"
"""Set (not empty, not 0) to run every model on the torch runtime."""


def lite_blocker(*, backend: str, device: str) -> str:
    """Why these settings need the torch runtime; empty when the lite runtime may run (the
    self-ensemble, any number of copies, runs on both)."""
    forced = os.environ.get("BBCU_NO_LITE", "").strip()
    if forced not in ("", "0"):
        return f"{NO_LITE_ENV}={forced}"
    if backend not in ("auto", "packed"):
        return f"backend {backend} runs on torch"
    if (device or "auto").strip().lower() not in ("auto", "cpu"):
        return f"device {device} runs on torch"
    if (device or "auto").strip().lower() == "auto" and gpu_visible():
        return "a GPU is visible and device auto lets torch choose it (device cpu keeps the torch-free runtime)"
    state = kernels.backend_status()
    if not state.available:
        return f"packed kernels unavailable: {state.reason}"
    return ""


def gpu_visible() -> bool:
    """Whether a GPU driver with a device is present (NVIDIA or ROCm), checked without torch.

    ``CUDA_VISIBLE_DEVICES`` set to empty or ``-1`` hides the GPUs, as it does for torch.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    nvidia = Path("/proc/driver/nvidia/gpus")
    try:
        return (nvidia.is_dir() and any(nvidia.iterdir())) or Path("/dev/kfd").exists()
    except OSError:
        return False


def try_lite(path: str | Path, k: float | None = None, task: str | None = None) -> tuple[LiteModel | None, str]:
    """The file as a :class:`LiteModel`, or None and why not (any error: the torch loader then
    reads the file and reports it as it always has)."""
    try:
        return load_lite(path, k=k, task=task), ""
    except LiteUnsupported as exc:
        return None, str(exc)
    except BbcuError as exc:
        return None, f"not read by the lite loader ({exc.message})"
