"""Architecture families: one module per family, and the registry the rest asks.

Each family module (:mod:`.bbcu_l`, :mod:`.bbcu_m`, :mod:`.bbcu_p`, :mod:`.dncnn`) describes one
architecture in an :class:`ArchFamily`: its name and tasks, how it recognises a state dict and
rebuilds the :class:`ModelSpec` from tensor shapes, how it builds the network (the pure
``nn.Module`` in :mod:`bbcu_cli.models`), the tiler's halo/alignment/memory figures and the
packed backend's layout. Loading, checks, the engine, the manifest, ``bbcu bench`` and training
look families up here instead of branching on the architecture name.

Adding a family: write ``archs/<name>.py`` with a ``FAMILY = ArchFamily(...)`` and register it
below (or call :func:`register` at run time; :func:`unregister` removes it).

Importing this package does not import torch.
"""

from __future__ import annotations

from . import bbcu_l, bbcu_m, bbcu_p, dncnn
from .registry import (
    ArchFamily,
    FinishLayout,
    PackedLayout,
    archs_for_task,
    default_arch,
    detect,
    families,
    family,
    find,
    names,
    recognise,
    register,
    unregister,
)
from .spec import TASKS, ModelSpec, Task

__all__ = [
    "TASKS",
    "Task",
    "ArchFamily",
    "FinishLayout",
    "ModelSpec",
    "PackedLayout",
    "archs_for_task",
    "default_arch",
    "detect",
    "families",
    "family",
    "find",
    "names",
    "recognise",
    "register",
    "unregister",
]

for _module in (bbcu_l, bbcu_m, bbcu_p, dncnn):
    register(_module.FAMILY)
del _module
