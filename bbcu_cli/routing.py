"""A default SR model that hands some inputs to variants trained on one kind of input.

A model trained on many kinds of small image (the robust defaults) gives up some quality on
each kind. A manifest entry may name a ``clean_variant`` (trained on the clean, antialiased
downscaling benchmarks use; it falls apart on aliased inputs) and an ``alias_variant`` (trained
on aliased downscaling alone: ``cv2.resize`` without antialiasing). :func:`~bbcu_cli.factory.resolve_model`
loads them beside the model, and :class:`~bbcu_cli.engine.restore.Restorer` restores an image
with the first variant whose detector (:class:`~bbcu_cli.aliasing.AliasingDetector`, one per
kind and scale) says it does better than the model itself, with the model otherwise. The
features are measured once per image for all detectors. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .aliasing import AliasingDetector, measure

__all__ = ["Route", "Variant", "Choice", "VARIANT_KINDS"]

#: the kinds of variant, in the order they are asked; the manifest names each ``KIND_variant``
VARIANT_KINDS = ("clean", "alias")


@dataclass
class Variant:
    """A model to use instead on the inputs its ``detector`` picks."""

    kind: str
    """``clean`` or ``alias`` (:data:`VARIANT_KINDS`)."""
    model: Any
    """A LoadedModel or LiteModel of the same task, scale and runtime; None until :meth:`loaded`
    when ``load`` is given (a process whose inputs never go to this variant never loads it)."""
    name: str
    detector: AliasingDetector
    load: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    def loaded(self) -> Any:
        """The model, loaded by ``load`` on first use. Raises what ``load`` raises."""
        if self.model is None and self.load is not None:
            self.model = self.load()
        return self.model


@dataclass(frozen=True)
class Route:
    """The variants of a model, asked in order; the first that takes an input restores it.

    ``gates``: detectors of earlier kinds the model has no variant of, asked first; an input one
    of them takes stays on the model. Each detector after the first was fitted on the inputs the
    ones before it leave (the alias detector never saw a clean input), so a model with an alias
    variant but no clean one still lets the clean detector hold clean inputs back."""

    variants: tuple[Variant, ...]
    gates: tuple[AliasingDetector, ...] = ()

    def choose(self, pixels: np.ndarray) -> "Choice":
        """Which model restores ``pixels`` (the whole input image), and why."""
        measured = measure(pixels)
        for gate in self.gates:
            take, p, part = gate.judge(measured)
            if take:
                return Choice("robust", p, part)
        first: Choice | None = None
        for variant in self.variants:
            take, p, part = variant.detector.judge(measured)
            if take:
                return Choice(variant.kind, p, part)
            first = first or Choice("robust", p, part)
        return first or Choice("robust", None)

    def variant(self, kind: str) -> Variant:
        """The variant of ``kind``. Raises KeyError when the route has none."""
        for variant in self.variants:
            if variant.kind == kind:
                return variant
        raise KeyError(kind)


@dataclass(frozen=True)
class Choice:
    """``variant``: ``clean``, ``alias`` or ``robust`` (the model itself); ``probability``: the
    deciding detector's P(the model itself is better) (for ``robust``: the first detector's),
    None for an image too small to judge (then the model itself runs); ``part``: the largest P
    of the image's quadrants when they were asked (the whole looked clean)."""

    variant: str
    probability: float | None
    part: float | None = None
