"""Typed, validated weights manifest (``weights_manifest.json`` / the user's ``models.json``).

``load_manifest`` turns JSON into frozen dataclasses. Validation is table-driven: each field
has a checker; cross-field rules are listed in ``_ENTRY_RULES``. Any problem raises
:class:`WeightsError` naming the source, the entry (index and name) and the field.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from ..errors import WeightsError

__all__ = ["SCHEMA_VERSION", "TASKS", "ArchInfo", "Provenance", "ManifestEntry", "Manifest", "load_manifest"]

SCHEMA_VERSION = 1
TASKS = ("sr", "denoise", "deblock")
ARCHS = ("bbcu-l", "bbcu-m", "dncnn")
FORMATS = ("bbcu-safetensors", "official-pth")
_NAME_RX = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_SHA_RX = re.compile(r"^[0-9a-f]{64}$")


class _FieldError(Exception):
    """Raised by checkers; ``field`` is filled in by the caller."""

    def __init__(self, message: str, field_name: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field_name


# ---------------------------------------------------------------- checkers

Checker = Callable[[Any], Any]


def _rule(ok: Callable[[Any], bool], message: str, convert: Callable[[Any], Any] = lambda v: v) -> Checker:
    """Checker that accepts ``value`` when ``ok(value)``; ``message`` may use ``{value!r}``."""

    def check(value: Any) -> Any:
        if not ok(value):
            raise _FieldError(message.format(value=value))
        return convert(value)

    return check


def _optional(check: Checker) -> Checker:
    return lambda value: None if value is None else check(value)


def _one_of(choices: tuple[str, ...]) -> Checker:
    return _rule(lambda v: v in choices, f"must be one of {', '.join(choices)} (got {{value!r}})")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_bool = _rule(lambda v: isinstance(v, bool), "must be true or false")
_str = _rule(lambda v: isinstance(v, str), "must be a string")
_dict = _rule(lambda v: isinstance(v, dict), "must be an object")
_positive_int = _rule(lambda v: isinstance(v, int) and _is_number(v) and v > 0, "must be a positive integer (got {value!r})")
_positive_number = _rule(lambda v: _is_number(v) and v > 0, "must be a positive number (got {value!r})", float)
_name = _rule(lambda v: isinstance(v, str) and bool(_NAME_RX.match(v)), "must be lower-case letters, digits, '.', '_' or '-' (at most 80)")
_sha256 = _rule(lambda v: isinstance(v, str) and bool(_SHA_RX.match(v)), "must be 64 hex characters")
_file_name = _rule(
    lambda v: isinstance(v, str) and bool(v) and not re.search(r"[/\\]|^\.", v), "must be a plain file name (no folders, not hidden)"
)
_urls = _rule(
    lambda v: isinstance(v, list) and all(isinstance(u, str) and u.startswith(("https://", "http://", "file://")) for u in v),
    "must be a list of http(s):// or file:// URLs (got {value!r})",
    tuple,
)


def _nested(cls: type, checks: Mapping[str, Checker], defaults: Mapping[str, Any]) -> Checker:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _FieldError("must be an object")
        return cls(**_check_fields(value, checks, defaults))

    return check


def _check_fields(data: Mapping[str, Any], checks: Mapping[str, Checker], defaults: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(checks))
    if unknown:
        raise _FieldError("is not a known field", unknown[0])
    out: dict[str, Any] = {}
    for key, check in checks.items():
        if key not in data and key not in defaults:
            raise _FieldError("is missing", key)
        try:
            out[key] = check(data[key]) if key in data else copy.copy(defaults[key])
        except _FieldError as exc:
            raise _FieldError(exc.message, f"{key}.{exc.field}" if exc.field else key) from None
    return out


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
        unit = "layers" if self.name == "dncnn" else "blocks"
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
class ManifestEntry:
    """One model. ``sha256``/``size`` are ``None`` only for manual ``official-pth`` entries."""

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

    @property
    def manual(self) -> bool:
        """No checksum: the file must be fetched by hand and imported (``bbcu weights import``)."""
        return self.sha256 is None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["urls"] = list(self.urls)
        return data


_ARCH_CHECKS: dict[str, Checker] = {
    "name": _one_of(ARCHS),
    "num_feat": _positive_int,
    "depth": _positive_int,
    "k": _positive_number,
    "in_channels": _positive_int,
    "bias": _bool,
    "noise_channel": _bool,
    "unshuffle": _positive_int,
}
_PROVENANCE_CHECKS: dict[str, Checker] = {
    "data": _str,
    "iterations": _optional(_positive_int),
    "command": _str,
    "notes": _str,
    "wall_time_s": _optional(_positive_number),
}
_ENTRY_CHECKS: dict[str, Checker] = {
    "name": _name,
    "task": _one_of(TASKS),
    "scale": _positive_int,
    "arch": _nested(ArchInfo, _ARCH_CHECKS, {"in_channels": 3, "bias": False, "noise_channel": False, "unshuffle": 1}),
    "file": _file_name,
    "sha256": _optional(_sha256),
    "size": _optional(_positive_int),
    "urls": _urls,
    "bundled": _bool,
    "default": _bool,
    "format": _one_of(FORMATS),
    "provenance": _nested(Provenance, _PROVENANCE_CHECKS, {"data": "", "iterations": None, "command": "", "notes": "", "wall_time_s": None}),
    "metrics": _dict,
    "source_page": _optional(_str),
    "description": _str,
}
_ENTRY_DEFAULTS = {"urls": (), "bundled": False, "default": False, "format": "bbcu-safetensors", "provenance": Provenance(),
                   "metrics": {}, "source_page": None, "description": "", "sha256": None, "size": None}

# (field, message, rule that must hold)
_ENTRY_RULES: list[tuple[str, str, Callable[[ManifestEntry], bool]]] = [
    ("scale", "must be 1 for denoise/deblock and 2, 3 or 4 for sr", lambda e: e.scale in ((2, 3, 4) if e.task == "sr" else (1,))),
    ("arch.name", "must be dncnn for denoise/deblock and bbcu-l/bbcu-m for sr", lambda e: (e.arch.name != "dncnn") == (e.task == "sr")),
    ("arch.unshuffle", "must be 1 except for dncnn", lambda e: e.arch.unshuffle == 1 or e.arch.name == "dncnn"),
    ("sha256", "may be null only for a manual official-pth entry without urls", lambda e: e.sha256 is not None or (e.format == "official-pth" and not e.urls and not e.bundled)),
    ("size", "must be given exactly when sha256 is", lambda e: (e.size is None) == (e.sha256 is None)),
    ("format", "must be bbcu-safetensors for a bundled file", lambda e: not e.bundled or e.format == "bbcu-safetensors"),
]


def _entry(data: Any) -> ManifestEntry:
    if not isinstance(data, dict):
        raise _FieldError("must be an object", "(entry)")
    entry = ManifestEntry(**_check_fields(data, _ENTRY_CHECKS, _ENTRY_DEFAULTS))
    for field_name, message, rule in _ENTRY_RULES:
        if not rule(entry):
            raise _FieldError(message, field_name)
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
        """``override``'s entries replace same-named ones (and take over their defaults)."""
        taken = {(m.task, m.scale) for m in override.models if m.default}
        new = {m.name: m for m in override.models}
        kept = [new.pop(m.name, None) or replace(m, default=m.default and (m.task, m.scale) not in taken) for m in self.models]
        return Manifest(tuple(kept) + tuple(new.values()), self.schema_version)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "models": [m.to_dict() for m in self.models]}


def _raise(source: str, where: str, exc: _FieldError) -> NoReturn:
    raise WeightsError(f"{source}: {where}: field '{exc.field}' {exc.message}", "fix the manifest entry (see weights_manifest.json for the schema)") from None


def _entries(raw: list[Any], source: str) -> tuple[ManifestEntry, ...]:
    seen: set[str] = set()
    defaults: set[tuple[str, int]] = set()
    out = []
    for i, item in enumerate(raw):
        label = f"models[{i}]" + (f" '{item['name']}'" if isinstance(item, dict) and isinstance(item.get("name"), str) else "")
        try:
            entry = _entry(item)
            if entry.name in seen:
                raise _FieldError("is used by an earlier entry", "name")
            if entry.default and (entry.task, entry.scale) in defaults:
                raise _FieldError(f"is already set for another {entry.task} x{entry.scale} entry", "default")
        except _FieldError as exc:
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
            raise WeightsError(f"{path}: cannot read the weights manifest ({exc})", "restore the file or delete it") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise WeightsError(f"{label}: 'schema_version' must be {SCHEMA_VERSION}", "this manifest was written for another version of bbcu")
    if not isinstance(data.get("models"), list):
        raise WeightsError(f"{label}: 'models' must be a list", "see weights_manifest.json for the schema")
    return Manifest(_entries(data["models"], label))
