"""The torch-free :class:`ModelSpec`: everything needed to rebuild one network.

It lives here, next to the family registry, so that the registry's families can build and
describe specs without importing :mod:`bbcu_cli.loading` (which imports torch);
``bbcu_cli.loading`` re-exports it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

__all__ = ["ModelSpec", "Arch", "Task", "TASKS"]

Arch = str
"""A registered family name (:func:`bbcu_cli.archs.names`), e.g. ``bbcu-l`` or ``dncnn``."""
Task = Literal["sr", "denoise", "deblock"]
"""What a model does: super-resolution, denoising or JPEG deblocking (the one definition)."""
TASKS: tuple[Task, ...] = get_args(Task)
"""Every :data:`Task`, in this order (manifest checks, ``--task`` choices)."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a network. ``depth`` is ``num_block`` (SR) or ``num_layers``."""

    arch: Arch
    task: Task
    scale: int
    in_channels: int
    num_feat: int
    depth: int
    k: float
    bias: bool = False
    noise_channel: bool = False
    unshuffle: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in a file's ``spec`` metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: object = "spec") -> "ModelSpec":
        """Spec from its JSON object, with types and bounds checked (:mod:`.checkpoint_checks`)."""
        from .. import checkpoint_checks as checks

        return checks.spec_from_json(json.dumps(data), source)

    def describe(self) -> str:
        """Short human description, e.g. ``BBCU-M x4, 64 ch, 16 blocks`` (the family's wording)."""
        from .registry import find

        known = find(self.arch)
        if known is not None:
            return known.describe(self)
        return f"{self.arch.upper()} x{self.scale}, {self.num_feat} ch, {self.depth} blocks"
