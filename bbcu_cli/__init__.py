"""bbcu-cli: image restoration with binarized BBCU networks.

Public API (the CLI is built on it)::

    import bbcu_cli
    model = bbcu_cli.load_model("BBCULx4.pth")          # or a manifest name via bbcu_cli.get_model
    out = bbcu_cli.restore_array(model, pixels)          # (H, W, C) uint8/uint16/float32 -> float32
    bbcu_cli.restore_file(model, "in.png", "out.png")
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import get_model, restore_array, restore_file
from .engine.restore import Restorer
from .errors import BbcuError
from .loading import LoadedModel, ModelSpec, load_model

__all__ = [
    "__version__",
    "BbcuError",
    "LoadedModel",
    "ModelSpec",
    "Restorer",
    "get_model",
    "load_model",
    "restore_array",
    "restore_file",
]
