"""Torch-free runtime for the shipped default families (BBCU-P and DnCNN project files).

``import torch`` costs more than a small image's whole restore, so the CLI's restoring commands
run these models without it: :func:`load_lite` reads a project ``.safetensors`` file with
``safetensors.numpy`` into a :class:`LiteModel` (the same packed plan the torch path builds),
and :class:`LiteBackend` runs it in the C kernels (head in float64, binary units, fused tail),
byte-identical to the torch ``packed`` backend. :func:`bbcu_cli.engine.restore.Restorer`
accepts a :class:`LiteModel` in place of a loaded torch model.
"""

from __future__ import annotations

from .backend import HeadKernel, LiteBackend, default_threads, to_planes
from .families import LITE_FAMILIES, lite_family
from .model import LiteModel, LiteUnsupported, load_lite
from .select import NO_LITE_ENV, lite_blocker, try_lite

__all__ = [
    "LITE_FAMILIES",
    "NO_LITE_ENV",
    "HeadKernel",
    "LiteBackend",
    "LiteModel",
    "LiteUnsupported",
    "default_threads",
    "lite_blocker",
    "lite_family",
    "load_lite",
    "to_planes",
    "try_lite",
]
