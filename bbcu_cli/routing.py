"""A default SR model that hands cleanly downscaled inputs to a model trained on clean inputs.

A model trained on many kinds of small image (the robust defaults) gives up some quality on
the clean, antialiased kind that benchmarks use; one trained on that kind alone falls apart on
aliased inputs. A manifest entry may name a ``clean_variant``: :func:`attach_route` loads it
beside the model, and :class:`~bbcu_cli.engine.restore.Restorer` restores an image with it
when the scale's :class:`~bbcu_cli.aliasing.AliasingDetector` finds the image cleanly
downscaled, with the model itself otherwise. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .aliasing import AliasingDetector

__all__ = ["Route", "Choice"]


@dataclass(frozen=True)
class Route:
    """The model to use instead on cleanly downscaled inputs, and how that is decided."""

    clean: Any
    """The clean variant (a LoadedModel or LiteModel of the same task, scale and runtime)."""
    clean_name: str
    detector: AliasingDetector

    def choose(self, pixels: np.ndarray) -> "Choice":
        """Which model restores ``pixels`` (the whole input image), and why."""
        clean, p, part = self.detector.decide(pixels)
        return Choice("clean" if clean else "robust", p, part)


@dataclass(frozen=True)
class Choice:
    """``variant``: ``clean`` or ``robust``; ``probability``: the detector's P(robust is better),
    None for an image too small to judge (then the robust model runs); ``part``: the largest
    P of the image's quadrants when they were asked (the whole looked clean)."""

    variant: str
    probability: float | None
    part: float | None = None
