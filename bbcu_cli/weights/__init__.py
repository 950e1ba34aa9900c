"""Weights: manifest, cache, download, resolution and import of checkpoints.

Public API::

    load_manifest(path_or_dict) -> Manifest          get_manifest() -> Manifest (shipped + user)
    fetch(entry, *, offline, progress) -> Path        resolve(model, task, scale, ...) -> ResolvedWeights
    import_checkpoint(file, name, k, task) -> ManifestEntry
    manifest_entry_for(path, name, task, provenance, metrics) -> dict

``importer`` (which needs torch) is imported lazily so that ``bbcu models`` and downloads stay
fast.
"""

from __future__ import annotations

from typing import Any

from .cache import cache_dir, cached_path, get_manifest, is_cached, local_path, status, verify, weights_dir
from .download import DownloadSettings, ProgressCallback, fetch, is_offline
from .manifest import ArchInfo, Manifest, ManifestEntry, Provenance, load_manifest
from .resolve import ResolvedWeights, resolve

__all__ = [
    "ArchInfo",
    "DownloadSettings",
    "Manifest",
    "ManifestEntry",
    "ProgressCallback",
    "Provenance",
    "ResolvedWeights",
    "cache_dir",
    "cached_path",
    "fetch",
    "get_manifest",
    "import_checkpoint",
    "is_cached",
    "is_offline",
    "load_manifest",
    "local_path",
    "manifest_entry_for",
    "resolve",
    "status",
    "verify",
    "weights_dir",
]

_LAZY = {"import_checkpoint", "manifest_entry_for"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import importer

        return getattr(importer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
