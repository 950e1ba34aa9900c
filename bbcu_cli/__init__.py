"""bbcu-cli: image restoration with binarized BBCU networks.

Public API (the CLI is built on it)::

    import bbcu_cli
    model = bbcu_cli.load_model("BBCULx4.pth")          # or a name/path/default via bbcu_cli.create_model
    out = bbcu_cli.restore_array(model, pixels)          # (H, W, C) uint8/uint16/float32 -> float32
    bbcu_cli.restore_file(model, "in.png", "out.png")

The names are imported on first access (PEP 562), so ``import bbcu_cli`` and the commands that
need no model (``bbcu --help``, ``bbcu models``, ``bbcu weights ...``) never import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import get_model, restore_array, restore_file
    from .engine.restore import Restorer
    from .errors import BbcuError
    from .factory import create_model
    from .loading import LoadedModel, ModelSpec, load_model

__all__ = [
    "__version__",
    "BbcuError",
    "LoadedModel",
    "ModelSpec",
    "Restorer",
    "create_model",
    "get_model",
    "load_model",
    "restore_array",
    "restore_file",
]

#: public name -> the submodule that defines it (imported on first access)
_LAZY = {
    "get_model": ".api",
    "restore_array": ".api",
    "restore_file": ".api",
    "Restorer": ".engine.restore",
    "BbcuError": ".errors",
    "create_model": ".factory",
    "LoadedModel": ".loading",
    "ModelSpec": ".loading",
    "load_model": ".loading",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule on first access and keep it here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Module attributes plus the lazily imported public names."""
    return sorted(set(globals()) | set(__all__))
