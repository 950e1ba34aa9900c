"""Typed, validated weights manifest (``weights_manifest.json`` / the user's ``models.json``).

``load_manifest`` turns JSON into frozen dataclasses (:mod:`.manifest_entry`) collected in a
:class:`Manifest`. Validation is table-driven (:mod:`.manifest_rules`): each field has a
checker; cross-field rules are listed in ``_ENTRY_RULES``. Any problem raises
:class:`WeightsError` naming the source, the entry (index and name) and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..archs import TASKS
from ..errors import WeightsError
from .manifest_entry import ArchInfo, DriveSource, ManifestEntry, Provenance
from .manifest_rules import ARCHS as ARCHS  # re-exported: the registered families
from .manifest_rules import FORMATS as FORMATS
from .manifest_rules import _entries

__all__ = [
    "SCHEMA_VERSION",
    "TASKS",
    "ArchInfo",
    "Provenance",
    "DriveSource",
    "ManifestEntry",
    "Manifest",
    "load_manifest",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """All known models, in manifest order. Names are unique."""

    models: tuple[ManifestEntry, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def find(self, name: str) -> ManifestEntry | None:
        return next((m for m in self.models if m.name == name), None)

    def get(self, name: str) -> ManifestEntry:
        entry = self.find(name)
        if entry is None:
            raise WeightsError(f"unknown model '{name}'", "list the known models with: bbcu models")
        return entry

    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def for_task(self, task: str, scale: int | None = None) -> list[ManifestEntry]:
        return [m for m in self.models if m.task == task and scale in (None, m.scale)]

    def default_for(self, task: str, scale: int) -> ManifestEntry | None:
        return next((m for m in self.for_task(task, scale) if m.default), None)

    def merged(self, override: "Manifest") -> "Manifest":
        """``override``'s entries replace same-named ones (and take over their defaults).

        Whether a file is bundled is a fact of this installation, not of the override: an
        override entry for the very file a bundled entry ships (same file name, sha256 and
        size, e.g. copied from a ``bbcu weights mirror`` manifest) stays bundled.
        """
        taken = {(m.task, m.scale) for m in override.models if m.default}
        new = {m.name: m for m in override.models}
        kept = [
            _over(m, new.pop(m.name))
            if m.name in new
            else replace(m, default=m.default and (m.task, m.scale) not in taken)
            for m in self.models
        ]
        return Manifest(tuple(kept) + tuple(new.values()), self.schema_version)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "models": [m.to_dict() for m in self.models]}


def _same_file(a: ManifestEntry, b: ManifestEntry) -> bool:
    same = (a.file, a.sha256, a.size, a.format) == (b.file, b.sha256, b.size, b.format)
    return same and a.sha256 is not None


def _over(base: ManifestEntry, override: ManifestEntry) -> ManifestEntry:
    """``override`` in place of ``base``, still bundled when it names ``base``'s bundled file."""
    return replace(override, bundled=True) if base.bundled and _same_file(base, override) else override


def load_manifest(path_or_dict: str | Path | Mapping[str, Any], source: str | None = None) -> Manifest:
    """Read and validate a manifest file or an already-parsed dict."""
    if isinstance(path_or_dict, Mapping):
        data, label = dict(path_or_dict), source or "manifest"
    else:
        path = Path(path_or_dict)
        label = source or path.name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WeightsError(
                f"{path}: cannot read the weights manifest ({exc})", "restore the file or delete it"
            ) from None
        except RecursionError:
            raise WeightsError(
                f"{path}: the weights manifest is nested too deeply to be a manifest", "restore the file or delete it"
            ) from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise WeightsError(
            f"{label}: 'schema_version' must be {SCHEMA_VERSION}",
            "this manifest was written for another version of bbcu",
        )
    if not isinstance(data.get("models"), list):
        raise WeightsError(f"{label}: 'models' must be a list", "see weights_manifest.json for the schema")
    return Manifest(_entries(data["models"], label))
