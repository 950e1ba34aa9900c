"""Field validation of manifest entries: the per-field checkers, the cross-field rules
(``_ENTRY_RULES``) and the checks across entries (unique names, one default per task/scale).

A broken field raises :class:`~.checks.FieldError`; ``_entries`` turns it into a
:class:`WeightsError` naming the source, the entry (index and name) and the field. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from ..archs import TASKS, families, find
from ..archs import names as arch_names
from ..errors import WeightsError
from . import checks as ck
from .checks import Checker, FieldError
from .manifest_entry import ArchInfo, DriveSource, ManifestEntry, Provenance

if TYPE_CHECKING:
    from ..archs import ArchFamily

ARCHS = arch_names()  # the registered architecture families (bbcu_cli.archs)
FORMATS = ("bbcu-safetensors", "official-pth")
COPY_COUNTS = (1, 2, 4, 8)  # bbcu_cli.engine.ensemble.COPY_COUNTS, without importing numpy here


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
    "clean_variant": ck.optional(ck.str_),
    "alias_variant": ck.optional(ck.str_),
    "copies": ck.rule(
        lambda v: ck.is_number(v) and v in COPY_COUNTS and isinstance(v, int),
        "must be 1, 2, 4 or 8 (self-ensemble copies; got {value!r})",
    ),
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
    "clean_variant": None,
    "alias_variant": None,
    "copies": 1,
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


def _variants_ok(entry: ManifestEntry) -> bool:
    named = entry.variants().values()
    return not named or (entry.task == "sr" and entry.name not in named)


def _check_variants(entries: list[ManifestEntry], source: str) -> None:
    """Every ``clean_variant`` / ``alias_variant`` names an entry of the same task and scale
    that names no variants itself."""
    by_name = {e.name: e for e in entries}
    for i, entry in enumerate(entries):
        for kind, name in entry.variants().items():
            other = by_name.get(name)
            if other is None or (other.task, other.scale) != (entry.task, entry.scale) or other.variants():
                message = f"must name another sr x{entry.scale} entry without variants of its own"
                _raise(source, f"models[{i}] '{entry.name}'", FieldError(message, f"{kind}_variant"))


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
    ("clean_variant", "and alias_variant are only for sr entries and must not name the entry itself", _variants_ok),
]


def _entry(data: Any) -> ManifestEntry:
    if not isinstance(data, dict):
        raise FieldError("must be an object", "(entry)")
    entry = ManifestEntry(**ck.check_fields(data, _ENTRY_CHECKS, _ENTRY_DEFAULTS))
    for field_name, message, rule in _ENTRY_RULES:
        if not rule(entry):
            raise FieldError(message, field_name)
    return entry


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
    _check_variants(out, source)
    return tuple(out)
