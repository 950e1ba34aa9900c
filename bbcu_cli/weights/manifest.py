"""Typed, validated weights manifest (``weights_manifest.json`` / the user's ``models.json``).

``load_manifest`` turns JSON into frozen dataclasses. Validation is table-driven: each field
has a checker; cross-field rules are listed in ``_ENTRY_RULES``. Any problem raises
:class:`WeightsError` naming the source, the entry (index and name) and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..archs import TASKS, families, find
from ..archs import names as arch_names
from ..errors import WeightsError
from . import checks as ck
from .checks import Checker, FieldError

if TYPE_CHECKING:
    from ..archs import ArchFamily

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
ARCHS = arch_names()  # the registered architecture families (bbcu_cli.archs)
FORMATS = ("bbcu-safetensors", "official-pth")


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class ArchInfo:
    """Network hyper-parameters (mirrors ``ModelSpec``; ``depth`` = num_block or num_layers)."""

    name: str
    num_feat: int
    depth: int
    k: float
    in_channels: int = 3
    bias: bool = False
    noise_channel: bool = False
    unshuffle: int = 1

    def describe(self) -> str:
        fam = find(self.name)
        unit = fam.depth_unit if fam is not None else "blocks"
        extra = f", unshuffle {self.unshuffle}" if self.unshuffle > 1 else ""
        return f"{self.name} {self.num_feat}f/{self.depth} {unit}{extra}"


@dataclass(frozen=True)
class Provenance:
    """Where the weights come from: training data, iterations, command, free notes."""

    data: str = ""
    iterations: int | None = None
    command: str = ""
    notes: str = ""
    wall_time_s: float | None = None


@dataclass(frozen=True)
class DriveSource:
    """The authors' file ``file`` in the public Google Drive folder ``folder``.

    ``sha256`` is that original file's checksum, recorded in the user manifest on the first
    download (trust on first use) and checked on every later one.
    """

    folder: str
    file: str
    sha256: str | None = None

    @property
    def folder_url(self) -> str:
        return f"https://drive.google.com/drive/folders/{self.folder}"


@dataclass(frozen=True)
class ManifestEntry:
    """One model. ``sha256``/``size`` are ``None`` only for ``official-pth`` entries not yet
    fetched: from Google Drive on demand (``drive``), or by hand (then ``bbcu weights import``)."""

    name: str
    task: str
    scale: int
    arch: ArchInfo
    file: str
    sha256: str | None
    size: int | None
    urls: tuple[str, ...] = ()
    bundled: bool = False
    default: bool = False
    format: str = "bbcu-safetensors"
    provenance: Provenance = field(default_factory=Provenance)
    metrics: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source_page: str | None = None
    description: str = ""
    drive: DriveSource | None = None

    @property
    def manual(self) -> bool:
        """No checksum and no Drive source: the file must be fetched by hand and imported."""
        return self.sha256 is None and self.drive is None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["urls"] = list(self.urls)
        return data


_ARCH_CHECKS: dict[str, Checker] = {
    "name": ck.one_of(ARCHS),
    "num_feat": ck.positive_int,
    "depth": ck.positive_int,
    "k": ck.positive_number,
    "in_channels": ck.positive_int,
    "bias": ck.bool_,
    "noise_channel": ck.bool_,
    "unshuffle": ck.positive_int,
}
_PROVENANCE_CHECKS: dict[str, Checker] = {
    "data": ck.str_,
    "iterations": ck.optional(ck.positive_int),
    "command": ck.str_,
    "notes": ck.str_,
    "wall_time_s": ck.optional(ck.positive_number),
}
_DRIVE_CHECKS: dict[str, Checker] = {
    "folder": ck.drive_id,
    "file": ck.file_name,
    "sha256": ck.optional(ck.sha256),
}
_ENTRY_CHECKS: dict[str, Checker] = {
    "name": ck.name,
    "task": ck.one_of(TASKS),
    "scale": ck.positive_int,
    "arch": ck.nested(
        ArchInfo, _ARCH_CHECKS, {"in_channels": 3, "bias": False, "noise_channel": False, "unshuffle": 1}
    ),
    "file": ck.file_name,
    "sha256": ck.optional(ck.sha256),
    "size": ck.optional(ck.positive_int),
    "urls": ck.urls,
    "bundled": ck.bool_,
    "default": ck.bool_,
    "format": ck.one_of(FORMATS),
    "provenance": ck.nested(
        Provenance,
        _PROVENANCE_CHECKS,
        {"data": "", "iterations": None, "command": "", "notes": "", "wall_time_s": None},
    ),
    "metrics": ck.dict_,
    "source_page": ck.optional(ck.str_),
    "description": ck.str_,
    "drive": ck.optional(ck.nested(DriveSource, _DRIVE_CHECKS, {"sha256": None})),
}
_ENTRY_DEFAULTS = {
    "urls": (),
    "bundled": False,
    "default": False,
    "format": "bbcu-safetensors",
    "provenance": Provenance(),
    "metrics": {},
    "source_page": None,
    "description": "",
    "sha256": None,
    "size": None,
    "drive": None,
}


def _family_of(entry: ManifestEntry) -> ArchFamily:
    """The registered family of ``entry`` (its name was checked against the registry)."""
    fam = find(entry.arch.name)
    assert fam is not None
    return fam


def _families_by_task() -> str:
    """``dncnn for denoise/deblock and bbcu-l/bbcu-m/bbcu-p for sr``, from the registry."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for task in reversed(TASKS):
        for fam in families():
            if task in fam.tasks:
                names = groups.setdefault(fam.tasks, [])
                names.extend([fam.name] if fam.name not in names else [])
    return " and ".join(f"{'/'.join(names)} for {'/'.join(tasks)}" for tasks, names in groups.items())


# (field, message, rule that must hold)
_ENTRY_RULES: list[tuple[str, str, Callable[[ManifestEntry], bool]]] = [
    (
        "scale",
        "must be 1 for denoise/deblock and 2, 3 or 4 for sr",
        lambda e: e.scale in ((2, 3, 4) if e.task == "sr" else (1,)),
    ),
    ("arch.name", f"must be {_families_by_task()}", lambda e: e.task in _family_of(e).tasks),
    (
        "arch.unshuffle",
        f"must be 1 except for {'/'.join(f.name for f in families() if f.unshuffle)}",
        lambda e: e.arch.unshuffle == 1 or _family_of(e).unshuffle,
    ),
    (
        "sha256",
        "may be null only for a manual official-pth entry without urls",
        lambda e: e.sha256 is not None or (e.format == "official-pth" and not e.urls and not e.bundled),
    ),
    ("size", "must be given exactly when sha256 is", lambda e: (e.size is None) == (e.sha256 is None)),
    (
        "format",
        "must be bbcu-safetensors for a bundled file",
        lambda e: not e.bundled or e.format == "bbcu-safetensors",
    ),
    (
        "drive",
        "is only for a downloadable official entry (not bundled, no urls)",
        lambda e: e.drive is None or not (e.bundled or e.urls),
    ),
]


def _entry(data: Any) -> ManifestEntry:
    if not isinstance(data, dict):
        raise FieldError("must be an object", "(entry)")
    entry = ManifestEntry(**ck.check_fields(data, _ENTRY_CHECKS, _ENTRY_DEFAULTS))
    for field_name, message, rule in _ENTRY_RULES:
        if not rule(entry):
            raise FieldError(message, field_name)
    return entry


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


def _raise(source: str, where: str, exc: FieldError) -> NoReturn:
    raise WeightsError(
        f"{source}: {where}: field '{exc.field}' {exc.message}",
        "fix the manifest entry (see weights_manifest.json for the schema)",
    ) from None


def _entries(raw: list[Any], source: str) -> tuple[ManifestEntry, ...]:
    seen: set[str] = set()
    defaults: set[tuple[str, int]] = set()
    out = []
    for i, item in enumerate(raw):
        label = f"models[{i}]" + (
            f" '{item['name']}'" if isinstance(item, dict) and isinstance(item.get("name"), str) else ""
        )
        try:
            entry = _entry(item)
            if entry.name in seen:
                raise FieldError("is used by an earlier entry", "name")
            if entry.default and (entry.task, entry.scale) in defaults:
                raise FieldError(f"is already set for another {entry.task} x{entry.scale} entry", "default")
        except FieldError as exc:
            _raise(source, label, exc)
        seen.add(entry.name)
        defaults |= {(entry.task, entry.scale)} if entry.default else set()
        out.append(entry)
    return tuple(out)


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
