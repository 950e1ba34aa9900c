"""One factory from a model name or checkpoint path to a ready (eval-mode) model.

Every command and the Python API go through :func:`resolve_model` (or :func:`create_model`,
which returns only the model), so one set of rules decides which weights are loaded:

* **resolution**: an existing file path wins; otherwise a manifest name is fetched (bundled,
  cached, or downloaded); no name means the default model for the task;
* **scale** (SR only): ``scale`` is the model scale asked for; ``None`` means the named model's
  own scale, and x4 (:data:`DEFAULT_SR_SCALE`) when no name is given. Other tasks have no scale;
* **k**: the given residual-alignment factor, else the manifest's, else the file's;
* **task check**: the loaded model must do ``task`` and, when a scale was asked for, upscale
  by it (``task=None`` takes any model: a manifest name brings its own task);
* **offline**: ``offline=True`` never uses the network; ``BBCU_OFFLINE`` is read in one place,
  :func:`bbcu_cli.weights.download.is_offline`, when a download would be needed;
* **copies**: a model resolved by name carries its manifest entry's self-ensemble ``copies``
  (a variant its own entry's); a file given by path 1.

* **runtime**: ``lite=True`` (the CLI's restoring commands, when their settings allow it: see
  :func:`bbcu_cli.lite.lite_blocker`) loads a project ``.safetensors`` file of a family with a
  torch-free plan as a :class:`~bbcu_cli.lite.LiteModel` (torch is never imported); any other
  file, or ``lite=False``, loads a torch model as before.

Only names are imported here at module level, so ``import bbcu_cli.factory`` does not import
torch; loading a torch model does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:  # these import torch: only when a model is loaded
    from .lite import LiteModel
    from .loading import LoadedModel
    from .weights.resolve import ResolvedWeights

__all__ = ["DEFAULT_SR_SCALE", "ResolvedModel", "create_model", "resolve_model", "wanted_scale"]

log = logging.getLogger(__name__)

DEFAULT_SR_SCALE = 4
"""The scale of the default SR model (no name and no scale given)."""


@dataclass(frozen=True)
class ResolvedModel:
    """A loaded model with the name it is reported under and the weights it came from.

    ``model`` is a :class:`~bbcu_cli.lite.LiteModel` only when ``lite=True`` was asked and the
    file allows it; ``lite_reason`` says why not (empty when lite runs, or was not asked).
    """

    model: LoadedModel | LiteModel
    name: str
    weights: ResolvedWeights
    lite_reason: str = ""


def wanted_scale(name_or_path: str | None, task: str | None, scale: int | None) -> int | None:
    """The SR scale to resolve: ``scale``; without one, x4 for the default model and any
    scale for a named one. ``None`` for tasks other than SR."""
    if task not in ("sr", None):
        return None
    if scale is None and name_or_path is None:
        return DEFAULT_SR_SCALE
    return scale


def _resolve_weights(
    name_or_path: str | None, task: str | None, scale: int | None, offline: bool
) -> tuple[ResolvedWeights, str | None]:
    """The local weights file and the task to load it as (``task=None``: the manifest's, if any)."""
    from .weights.cache import get_manifest
    from .weights.resolve import resolve

    if task is not None:
        return resolve(name_or_path, task, scale, offline=offline), task
    entry = get_manifest().find(name_or_path) if name_or_path is not None else None
    if entry is not None:
        return resolve(name_or_path, entry.task, entry.scale, offline=offline), entry.task
    return resolve(name_or_path, "sr", scale, offline=offline), None


def _check_kind(loaded: LoadedModel | LiteModel, name: str, task: str | None, scale: int | None) -> None:
    """Refuse a model of another task, or an SR model of another scale than asked for."""
    spec = loaded.spec
    if task is not None and spec.task != task:
        raise UsageError(f"model {name} is a {spec.task} model, not {task}", "pick a model for this task (bbcu models)")
    if spec.task == "sr" and scale is not None and spec.scale != scale:
        raise UsageError(f"model {name} upscales x{spec.scale}, not x{scale}", f"pass -s {spec.scale} or another model")


def resolve_model(
    name_or_path: str | None = None,
    *,
    task: str | None = None,
    scale: int | None = None,
    k: float | None = None,
    offline: bool = False,
    lite: bool = False,
    route: bool | None = False,
) -> ResolvedModel:
    """Resolve ``name_or_path`` for ``task``/``scale``, load it, and check it is what was asked.

    ``lite``: load a project file of a BBCU-P or DnCNN model torch-free (see the module doc).
    ``route``: a manifest model with a ``clean_variant`` / ``alias_variant`` also loads them,
    used on inputs that look cleanly downscaled / aliased (:mod:`bbcu_cli.routing`); ``None``: the same, as the
    CLI does by default (``True`` also warns when the model has no variant); ``False``
    (default here): the model alone.

    Raises:
        WeightsError: unknown name, a manifest model of another task or scale, no default,
            or a fetch error (``OfflineError``, ``IntegrityError``, ``DownloadError``).
        ModelFormatError: the file is not a checkpoint this tool reads.
        UsageError: ``k`` is not a finite number > 0, or the loaded model does another task
            or upscales by another factor than ``scale``.
    """
    want = wanted_scale(name_or_path, task, scale)
    weights, load_as = _resolve_weights(name_or_path, task, want, offline)
    k = k if k is not None else weights.k
    loaded: LoadedModel | LiteModel | None = None
    why = ""
    if lite:
        from .lite import try_lite

        loaded, why = try_lite(weights.path, k=k, task=load_as)
    if loaded is None:
        from .loading import load_model

        loaded = load_model(weights.path, k=k, task=load_as)  # type: ignore[arg-type]
    _check_kind(loaded, weights.name, task, scale)
    loaded.copies = weights.entry.copies if weights.entry is not None else 1
    wanted = route is not False  # None (the CLI's default) routes too, without the warning below
    variants = weights.entry.variants() if wanted and weights.entry is not None else {}
    if variants:
        _attach_route(loaded, variants, offline=offline, lite=lite)
    elif route:
        log.warning("--route: model %s has no clean variant; it restores every input itself", weights.name)
    return ResolvedModel(loaded, weights.name, weights, why)


def _attach_route(loaded: LoadedModel | LiteModel, variants: dict[str, str], *, offline: bool, lite: bool) -> None:
    """Route ``loaded`` to the named variants whose kind has a detector at this scale (none: leave
    ``loaded`` as it is). Each variant (with its own ``k``) is found now (an unknown name or a
    missing file fails here) and loaded on first use (~12 ms each for the x4 ones, measured)."""
    from functools import partial

    from .aliasing import detector_for
    from .routing import VARIANT_KINDS, Route, Variant

    scale = loaded.spec.scale
    found, gates = [], []
    for kind in VARIANT_KINDS:  # in the order the detectors were fitted
        detector = detector_for(scale, kind)
        if detector is None:
            continue
        name = variants.get(kind)
        if name is None:
            gates += [] if found else [detector]  # holds its inputs back for the later kinds
            continue
        _resolve_weights(name, "sr", scale, offline)  # fetched or refused now, not mid-batch
        load = partial(_variant_model, name, scale, offline, lite)
        found.append(Variant(kind, None, name, detector, load=load))
    if found:
        loaded.route = Route(tuple(found), tuple(gates))


def _variant_model(name: str, scale: int, offline: bool, lite: bool) -> LoadedModel | LiteModel:
    return resolve_model(name, task="sr", scale=scale, offline=offline, lite=lite, route=False).model


def create_model(
    name_or_path: str | None = None,
    *,
    task: str | None = None,
    scale: int | None = None,
    k: float | None = None,
    offline: bool = False,
    route: bool | None = False,
) -> LoadedModel:
    """The ready (torch) model for ``name_or_path`` (see :func:`resolve_model` for the rules)."""
    found = resolve_model(name_or_path, task=task, scale=scale, k=k, offline=offline, route=route)
    return found.model  # type: ignore[return-value]
