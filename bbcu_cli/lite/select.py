"""When the torch-free runtime runs a model, and why not (the rule the CLI and factory share).

The lite runtime runs a model when the settings allow it (:func:`lite_blocker`: backend
``auto``/``packed``, device ``auto``/``cpu``, no self-ensemble, the packed kernels available,
``BBCU_NO_LITE`` unset) and the file is one it reads (:func:`try_lite`: a project
``.safetensors`` file of a family with a lite plan, no zero binary weight). Otherwise the torch
runtime runs it, exactly as before.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import kernels
from ..errors import BbcuError
from .model import LiteModel, LiteUnsupported, load_lite

__all__ = ["NO_LITE_ENV", "lite_blocker", "try_lite"]

NO_LITE_ENV = "BBCU_NO_LITE"
"""Set (not empty, not 0) to run every model on the torch runtime."""


def lite_blocker(*, backend: str, device: str, ensemble: bool) -> str:
    """Why these settings need the torch runtime; empty when the lite runtime may run."""
    forced = os.environ.get("BBCU_NO_LITE", "").strip()
    if forced not in ("", "0"):
        return f"{NO_LITE_ENV}={forced}"
    if backend not in ("auto", "packed"):
        return f"backend {backend} runs on torch"
    if (device or "auto").strip().lower() not in ("auto", "cpu"):
        return f"device {device} runs on torch"
    if ensemble:
        return "the self-ensemble runs on torch"
    state = kernels.backend_status()
    if not state.available:
        return f"packed kernels unavailable: {state.reason}"
    return ""


def try_lite(path: str | Path, k: float | None = None, task: str | None = None) -> tuple[LiteModel | None, str]:
    """The file as a :class:`LiteModel`, or None and why not (any error: the torch loader then
    reads the file and reports it as it always has)."""
    try:
        return load_lite(path, k=k, task=task), ""
    except LiteUnsupported as exc:
        return None, str(exc)
    except BbcuError as exc:
        return None, f"not read by the lite loader ({exc.message})"
