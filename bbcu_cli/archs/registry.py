"""The family descriptor (:class:`ArchFamily`) and the registry every other module asks.

A family says everything the rest of the program needs to know about one architecture: its
name and tasks, how it recognises its state dict and rebuilds a :class:`ModelSpec` from the
tensor shapes, how it builds the ``nn.Module``, its tiling geometry (halo, alignment, memory
per pixel) and, when the packed CPU backend can run it, its :class:`PackedLayout`.

Nothing here imports torch: a family's callables import it when they are called.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ModelFormatError
from .spec import ModelSpec

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "Activation",
    "ArchFamily",
    "FinishLayout",
    "PackedLayout",
    "StateDict",
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

StateDict = Mapping[str, Any]
"""Parameter name -> tensor (only names and ``.shape`` are read while recognising)."""
Activation = Literal["none", "relu", "lrelu"]
Stages = Literal["planes", "subpixel", "banded"]


@dataclass(frozen=True)
class FinishLayout:
    """The fused full-precision tail of the packed path (:class:`bbcu_cli.engine.finish.Finisher`).

    ``kind``: ``"denoise"`` (output = input - tail / k) or ``"sr"`` (tail + bilinear base);
    ``shuffle``: pixel-shuffle factor of the tail's grid; ``base_scale``: output / input size;
    ``conv``: the tail convolution.
    """

    kind: Literal["denoise", "sr"]
    shuffle: int
    base_scale: int
    conv: nn.Module


@dataclass(frozen=True)
class PackedLayout:
    """How the packed backend runs a family.

    ``units`` lists the binary units in execution order; ``stages`` picks the runner:
    ``"planes"`` (head on the unshuffled planes, units, fused tail), ``"subpixel"`` (head, units,
    fused sub-pixel tail) or ``"banded"`` (head, low-resolution units, then the high-resolution
    stages in row bands: binary up units, or the model's float upsampler when
    ``float_upsampler``). ``head_act`` follows the head conv, ``tail_act`` the last unit.
    """

    units: Callable[[nn.Module], list[nn.Module]]
    finish: Callable[[nn.Module, ModelSpec], FinishLayout]
    bytes_per_pixel: Callable[[ModelSpec], int]
    stages: Stages
    head_act: Activation = "lrelu"
    tail_act: Activation = "none"
    float_upsampler: bool = False


def _no_alignment(spec: ModelSpec) -> int:
    return 1


@dataclass(frozen=True)
class ArchFamily:
    """One architecture family (see the module docstring).

    ``matches`` sees only the key names and must not overlap another family's; ``recognise``
    rebuilds the spec from names and shapes (``task`` disambiguates multi-task families) and
    raises :class:`ModelFormatError` when the shapes do not fit. ``halo``, ``align`` and
    ``bytes_per_pixel`` (float path, bytes per input pixel) drive the tiler. ``keys`` is the
    key pattern quoted when no family recognises a file; ``default_for`` lists the tasks whose
    default architecture this is.
    """

    name: str
    title: str
    tasks: tuple[str, ...]
    scales: tuple[int, ...]
    depth_unit: str
    keys: str
    matches: Callable[[Collection[str]], bool]
    recognise: Callable[[StateDict, float | None, str | None], ModelSpec]
    build: Callable[[ModelSpec], nn.Module]
    describe: Callable[[ModelSpec], str]
    halo: Callable[[ModelSpec], int]
    bytes_per_pixel: Callable[[ModelSpec], int]
    align: Callable[[ModelSpec], int] = _no_alignment
    packed: PackedLayout | None = None
    min_depth: int = 1
    unshuffle: bool = False
    default_for: tuple[str, ...] = ()


_FAMILIES: dict[str, ArchFamily] = {}


def register(fam: ArchFamily) -> ArchFamily:
    """Add ``fam`` (detection tries families in registration order). Returns it."""
    if fam.name in _FAMILIES:
        raise ValueError(f"architecture family {fam.name!r} is already registered")
    _FAMILIES[fam.name] = fam
    return fam


def unregister(name: str) -> ArchFamily:
    """Remove and return the family called ``name`` (KeyError when there is none)."""
    return _FAMILIES.pop(name)


def find(name: str) -> ArchFamily | None:
    """The family called ``name``, or None."""
    return _FAMILIES.get(name)


def family(name: str) -> ArchFamily:
    """The family called ``name``; :class:`ModelFormatError` naming the known ones otherwise."""
    fam = _FAMILIES.get(name)
    if fam is None:
        raise ModelFormatError(f"unknown architecture {name!r}", f"supported: {', '.join(_FAMILIES)}")
    return fam


def families() -> tuple[ArchFamily, ...]:
    """Every registered family, in registration order."""
    return tuple(_FAMILIES.values())


def names() -> tuple[str, ...]:
    """Every registered family name, in registration order."""
    return tuple(_FAMILIES)


def archs_for_task(task: str) -> tuple[str, ...]:
    """Names of the families that do ``task``, its default first (empty for an unknown task)."""
    doing = [f for f in _FAMILIES.values() if task in f.tasks]
    return tuple(f.name for f in sorted(doing, key=lambda f: task not in f.default_for))


def default_arch(task: str) -> str:
    """The family trained for ``task`` when none is named (ValueError for an unknown task)."""
    found = archs_for_task(task)
    if not found:
        raise ValueError(f"no architecture does {task!r}")
    return found[0]


def detect(sd: StateDict) -> ArchFamily | None:
    """The first family whose key pattern ``sd`` matches, or None."""
    keys = frozenset(sd)
    return next((f for f in _FAMILIES.values() if f.matches(keys)), None)


def _expected_keys() -> str:
    """``A/B keys (...), C keys (...) or D keys (...)``: families grouped by key pattern."""
    groups: dict[str, list[str]] = {}
    for fam in _FAMILIES.values():
        groups.setdefault(fam.keys, []).append(fam.title)
    parts = [f"{'/'.join(titles)} keys {keys}" for keys, titles in groups.items()]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"


def recognise(sd: StateDict, k: float | None = None, task: str | None = None) -> ModelSpec:
    """Infer the :class:`ModelSpec` of ``sd`` with the family its keys match.

    Raises:
        ModelFormatError: the keys match no registered family, or their shapes do not fit it.
    """
    fam = detect(sd)
    if fam is None:
        sample = ", ".join(list(sd)[:4])
        raise ModelFormatError(f"unrecognised checkpoint (keys start with: {sample})", f"expected {_expected_keys()}")
    return fam.recognise(sd, k, task)
