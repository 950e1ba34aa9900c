"""Import a checkpoint (official ``.pth`` or project ``.safetensors``) into the cache.

The file is loaded with :func:`bbcu_cli.loading.load_model` (strict, ``weights_only``),
re-saved in the project format (packed sign bits + alpha, ``save_model``) under
``<cache>/weights/<name>.safetensors`` and registered in the user manifest. Importing under
the name of a manual official entry (``bbcu-l-x4-official``...) fills that entry in locally.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import archs
from ..atomicfile import make_temp, publish
from ..checkpoint_checks import read_safetensors_header
from ..errors import ModelFormatError, WeightsError, option
from ..loading import LoadedModel, ModelSpec, load_model, save_model
from .cache import cache_io, load_shipped_manifest, load_user_manifest, register_user_entry, sha256_file, weights_dir
from .manifest import SCHEMA_VERSION, ArchInfo, ManifestEntry, Provenance, load_manifest

__all__ = [
    "import_checkpoint",
    "manifest_entry_for",
    "arch_from_spec",
    "default_import_name",
    "check_matches",
    "load_checked",
    "convert_into_cache",
]


def arch_from_spec(spec: ModelSpec) -> ArchInfo:
    """Manifest ``arch`` block for a loaded model's spec."""
    return ArchInfo(
        spec.arch,
        spec.num_feat,
        spec.depth,
        float(spec.k),
        spec.in_channels,
        spec.bias,
        spec.noise_channel,
        spec.unshuffle,
    )


def default_import_name(spec: ModelSpec, sha256: str) -> str:
    """``imported-bbcu-m-x4-1a2b3c4d`` (SR) or ``imported-dncnn-denoise-1a2b3c4d``."""
    kind = f"{spec.arch}-x{spec.scale}" if spec.task == "sr" else f"{spec.arch}-{spec.task}"
    return f"imported-{kind}-{sha256[:8]}"


def _validated(data: dict[str, Any], source: str) -> ManifestEntry:
    return load_manifest({"schema_version": SCHEMA_VERSION, "models": [data]}, source=source).models[0]


def _official_base(name: str | None) -> ManifestEntry | None:
    """The shipped entry ``name`` replaces: only checksum-less official entries may be filled in."""
    shipped = load_shipped_manifest().find(name) if name else None
    if shipped is not None and shipped.sha256 is not None:
        raise WeightsError(
            f"'{name}' is a model shipped with bbcu and cannot be replaced by an import",
            f"choose another {option('name')}",
        )
    return shipped


def _shape_of(arch: str, task: str, scale: int, channels: int, feat: int, depth: int) -> str:
    """``bbcu-l sr x4, 3-channel, 64 features, 16 blocks``: what an import is compared on."""
    return f"{arch} {task} x{scale}, {channels}-channel, {feat} features, depth {depth}"


def check_matches(base: ManifestEntry, spec: ModelSpec, label: str, hint: str | None = None) -> None:
    """A file under an official entry's name must be that model: architecture, task, scale,
    input channels, width and depth as the entry states them (``label`` names the file)."""
    got = _shape_of(spec.arch, spec.task, spec.scale, spec.in_channels, spec.num_feat, spec.depth)
    want = _shape_of(base.arch.name, base.task, base.scale, base.arch.in_channels, base.arch.num_feat, base.arch.depth)
    if got != want:
        raise WeightsError(
            f"{label} holds a {got} model, but '{base.name}' is {want}",
            hint
            or f"is it the right file? {base.name} expects {base.file}; to keep this one, import it with another {option('name')}",
        )


def _new_entry(
    name: str, spec: ModelSpec, sha: str, size: int, base: ManifestEntry | None, note: str, src_sha: str
) -> ManifestEntry:
    fields: dict[str, Any] = dict(
        name=name,
        task=spec.task,
        scale=spec.scale,
        arch=arch_from_spec(spec),
        file=f"{name}.safetensors",
        sha256=sha,
        size=size,
        urls=(),
        bundled=False,
        format="bbcu-safetensors",
    )
    if base is not None:
        notes = base.provenance.notes if note in base.provenance.notes else f"{base.provenance.notes} {note}".strip()
        drive = replace(base.drive, sha256=src_sha) if base.drive is not None else None  # pinned: trust on first use
        return replace(base, provenance=replace(base.provenance, notes=notes), drive=drive, **fields)
    return ManifestEntry(**fields, provenance=Provenance(notes=note), description=f"{spec.describe()} (imported)")


def _task_hint(spec: ModelSpec) -> str:
    """Which task to ask for: the model's own, or one of its family's when it can do several."""
    fam = archs.find(spec.arch)
    tasks = fam.tasks if fam is not None else (spec.task,)
    if len(tasks) > 1:
        return "pass " + " or ".join(option("task", t) for t in tasks)
    return f"drop {option('task')} or pass {option('task', spec.task)}"


def load_checked(
    src: Path, base: ManifestEntry | None, k: float | None = None, task: str | None = None, label: str | None = None
) -> LoadedModel:
    """Load ``src`` (strict, ``weights_only``) and check it is a ``task`` model and, under an
    official entry ``base``, that model (:func:`check_matches`)."""
    loaded = load_model(src, k=k, task=task or (base.task if base else None))  # type: ignore[arg-type]
    if task is not None and loaded.spec.task != task:
        raise WeightsError(
            f"{src}: holds a {loaded.spec.describe()} ({loaded.spec.task} model), not a {task} model",
            _task_hint(loaded.spec),
        )
    if base is not None:
        check_matches(base, loaded.spec, label or src.name)
    return loaded


def convert_into_cache(
    src: Path,
    loaded: LoadedModel,
    name: str | None,
    base: ManifestEntry | None,
    *,
    source_name: str | None = None,
    note: str = "",
    replace_existing: bool = True,
) -> ManifestEntry:
    """Re-save ``loaded`` in the project format as ``<cache>/weights/<name>.safetensors`` (atomic
    rename) and return its validated entry, not yet registered. ``src`` is the original file
    (hashed for the provenance note and the Drive pin), ``source_name`` its name for messages.
    Without ``replace_existing``, an imported model of that name with other weights is kept
    (:class:`WeightsError`)."""
    src_sha, source_name = sha256_file(src), source_name or src.name
    with cache_io(f"write into {weights_dir()}"):
        fd, tmp_name = make_temp(weights_dir(create=True), "import.safetensors")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_model(tmp, loaded.model, loaded.spec, {"source_file": source_name, "source_sha256": src_sha})
        sha, size = sha256_file(tmp), tmp.stat().st_size
        final = name or default_import_name(loaded.spec, sha)
        if not replace_existing:
            _keep_other_import(final, src_sha, loaded.spec)
        note = note or f"Imported from {source_name} (sha256 {src_sha})."
        entry = _validated(
            _new_entry(final, loaded.spec, sha, size, base, note, src_sha).to_dict(), source=f"import of {source_name}"
        )
        with cache_io(f"write {entry.file} into {weights_dir()}"):
            publish(tmp, weights_dir() / entry.file)
    finally:
        tmp.unlink(missing_ok=True)
    return entry


def _same_source(path: Path, src_sha: str, spec: ModelSpec) -> bool:
    """Whether the cached ``path`` was converted from the file ``src_sha`` as ``spec`` (the bytes
    themselves differ between conversions: safetensors does not keep the metadata order)."""
    if not path.is_file():
        return True  # nothing there to keep
    try:
        meta = read_safetensors_header(path)
    except ModelFormatError:
        return False
    return meta.get("source_sha256") == src_sha and meta.get("spec") == json.dumps(spec.to_dict())


def _keep_other_import(name: str, src_sha: str, spec: ModelSpec) -> None:
    """Refuse to register ``name`` over an earlier import of that name with other weights."""
    earlier = load_user_manifest().find(name)
    if earlier is not None and not _same_source(weights_dir() / earlier.file, src_sha, spec):
        raise WeightsError(
            f"'{name}' is already imported with other weights (sha256 {earlier.sha256[:12]}...)",
            f"pick another {option('name')}, or pass {option('replace', True)} to replace it",
        )


def import_checkpoint(
    file: str | Path,
    name: str | None = None,
    k: float | None = None,
    task: str | None = None,
    *,
    replace: bool = False,
) -> ManifestEntry:
    """Convert ``file`` to the project format in the cache and register it; returns the entry.

    Raises:
        ModelFormatError: the file is missing, unreadable or of an unknown architecture.
        WeightsError: ``name`` is invalid, belongs to a shipped model, the file does not
            match the official entry it is imported as, or it is not a ``task`` model (a
            denoiser imported with ``--task sr``), or ``name`` is an earlier import with
            other weights and ``replace`` is False.
    """
    src = Path(file).expanduser()
    base = _official_base(name)
    loaded = load_checked(src, base, k, task)
    entry = convert_into_cache(src, loaded, name, base, replace_existing=replace)
    register_user_entry(entry)
    return entry


def manifest_entry_for(
    path: str | Path,
    name: str,
    task: str,
    provenance: Mapping[str, Any],
    metrics: Mapping[str, Any],
    *,
    urls: tuple[str, ...] = (),
    bundled: bool = True,
    default: bool = False,
    description: str = "",
) -> dict[str, Any]:
    """Validated manifest entry (a JSON-ready dict) for a project ``.safetensors`` file.

    sha256, size and ``arch`` are computed from the file itself (via ``load_model``); paste the
    result into ``bbcu_cli/weights_manifest.json`` (the top-level file links to it) and, for a bundled model, copy
    the file to ``bbcu_cli/weights/bundled/``.
    """
    p = Path(path)
    spec = load_model(p, task=task).spec  # type: ignore[arg-type]
    entry = ManifestEntry(
        name=name,
        task=spec.task,
        scale=spec.scale,
        arch=arch_from_spec(spec),
        file=p.name,
        sha256=sha256_file(p),
        size=p.stat().st_size,
        urls=tuple(urls),
        bundled=bundled,
        default=default,
        metrics=dict(metrics),
        description=description or spec.describe(),
    ).to_dict()
    entry["provenance"] = dict(provenance)
    return _validated(entry, source=str(p)).to_dict()
