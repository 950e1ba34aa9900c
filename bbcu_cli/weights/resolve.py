"""Turn ``--model`` (a file, a manifest name, or nothing) into a local weights file."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnknownModelError, WeightsError, option
from .cache import get_manifest
from .download import ProgressCallback, fetch
from .manifest import Manifest, ManifestEntry

__all__ = ["ResolvedWeights", "resolve", "lookup"]

_WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt", ".bin")


@dataclass(frozen=True)
class ResolvedWeights:
    """A local weights file; ``entry``/``k`` come from the manifest (``None`` for a plain file)."""

    path: Path
    entry: ManifestEntry | None
    name: str
    k: float | None


def _label(task: str, scale: int | None) -> str:
    return f"{task} x{scale}" if task == "sr" and scale else task


def _available(manifest: Manifest, task: str, scale: int | None) -> str:
    names = [m.name for m in manifest.for_task(task, scale)]
    return ", ".join(names) if names else "none yet"


def _looks_like_path(model: str) -> bool:
    return any(sep in model for sep in ("/", "\\")) or model.lower().endswith(_WEIGHT_SUFFIXES)


def _check_fits(entry: ManifestEntry, task: str, scale: int | None, manifest: Manifest) -> None:
    if entry.task == task and scale in (None, entry.scale):
        return
    raise WeightsError(
        f"model '{entry.name}' is for {_label(entry.task, entry.scale)}, not {_label(task, scale)}",
        f"pick a {_label(task, scale)} model: {_available(manifest, task, scale)} (see bbcu models)",
    )


def _unknown(model: str, manifest: Manifest) -> UnknownModelError:
    if _looks_like_path(model):
        return UnknownModelError(f"{model}: no such weights file", "check the path, or pass a model name (bbcu models)")
    close = difflib.get_close_matches(model, manifest.names(), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return UnknownModelError(
        f"'{model}' is neither a weights file nor a known model name", f"{hint}see bbcu models for the list"
    )


def lookup(name: str, manifest: Manifest | None = None) -> ManifestEntry:
    """The manifest entry ``name``, or a :class:`WeightsError` suggesting close matches."""
    manifest = manifest or get_manifest()
    entry = manifest.find(name)
    if entry is None:
        raise _unknown(name, manifest)
    return entry


def _default(manifest: Manifest, task: str, scale: int | None) -> ManifestEntry:
    candidates = [m for m in manifest.for_task(task, scale) if m.default]
    if len(candidates) == 1:
        return candidates[0]
    raise WeightsError(
        f"no default {_label(task, scale)} model is installed",
        f"pass {option('model', 'NAME')} or a .pth/.safetensors file; available {_label(task, scale)} models: "
        f"{_available(manifest, task, scale)} (bbcu models)",
    )


def resolve(
    model: str | None,
    task: str,
    scale: int | None,
    *,
    offline: bool = False,
    progress: ProgressCallback | None = None,
) -> ResolvedWeights:
    """Resolve ``model`` for ``task``/``scale`` (``scale=None``: any) to a local file.

    An existing file path wins; otherwise a manifest name is fetched (bundled, cached or
    downloaded); ``None`` means the default model for (task, scale).

    Raises:
        WeightsError: unknown name (with close matches), wrong task/scale, no default, or
            any :func:`fetch` error (``OfflineError``, ``IntegrityError``, ``DownloadError``).
    """
    if model is not None:
        path = Path(model).expanduser()
        if path.is_file():
            return ResolvedWeights(path, None, path.name, None)
    manifest = get_manifest()
    if model is None:
        entry = _default(manifest, task, scale)
    else:
        entry = lookup(model, manifest)
        _check_fits(entry, task, scale, manifest)
    path = fetch(entry, offline=offline, progress=progress)
    return ResolvedWeights(path, entry, entry.name, entry.arch.k)
