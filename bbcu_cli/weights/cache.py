"""Where weights live: bundled in the package, or in the user cache.

``cache_dir()`` is ``$BBCU_CACHE_DIR`` or the platform cache folder (``platformdirs``). Files
are stored under ``<cache>/weights/<file>``; ``<cache>/models.json`` is a user manifest (same
schema as the shipped one) whose entries override shipped ones by name. Environment variables
are read on every call, so tests and long-running processes see changes.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..atomicfile import write_bytes
from ..errors import WeightsError
from .manifest import SCHEMA_VERSION, Manifest, ManifestEntry, load_manifest

__all__ = [
    "cache_dir",
    "weights_dir",
    "bundled_dir",
    "shipped_manifest_path",
    "user_manifest_path",
    "load_shipped_manifest",
    "load_user_manifest",
    "get_manifest",
    "register_user_entry",
    "forget_user_entry",
    "bundled_path",
    "cached_path",
    "local_path",
    "is_cached",
    "status",
    "sha256_file",
    "verify",
    "write_atomic",
    "cache_io",
]

_PACKAGE = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """``$BBCU_CACHE_DIR`` if set, else the user cache folder for ``bbcu``."""
    env = os.environ.get("BBCU_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("bbcu"))


def weights_dir(create: bool = False) -> Path:
    """``<cache>/weights`` (created when ``create``)."""
    path = cache_dir() / "weights"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def bundled_dir() -> Path:
    return _PACKAGE / "weights" / "bundled"


def shipped_manifest_path() -> Path:
    return _PACKAGE / "weights_manifest.json"


def user_manifest_path() -> Path:
    return cache_dir() / "models.json"


# ---------------------------------------------------------------- manifests


def load_shipped_manifest() -> Manifest:
    """The manifest that comes with the package, read and validated once per process (a run
    asks for it 3-4 times: ~3 ms each)."""
    path = shipped_manifest_path()
    stat = path.stat()
    return _read_manifest(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _read_manifest(path: Path, mtime_ns: int, size: int) -> Manifest:
    """``load_manifest(path)``, remembered while the file keeps its time stamp and size."""
    return load_manifest(path)


def load_user_manifest() -> Manifest:
    """The user's ``models.json`` (empty when there is none)."""
    path = user_manifest_path()
    return load_manifest(path, source=str(path)) if path.is_file() else Manifest()


def get_manifest() -> Manifest:
    """Shipped manifest with the user's entries merged over it (by name)."""
    return load_shipped_manifest().merged(load_user_manifest())


@contextmanager
def cache_io(what: str) -> Iterator[None]:
    """Turn local file-system failures (permissions, disk full) into a :class:`WeightsError`."""
    try:
        yield
    except OSError as exc:
        raise WeightsError(
            f"cannot {what}: {exc}", "check free space and permissions, or set BBCU_CACHE_DIR to a writable folder"
        ) from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)


def _edit_user_manifest(edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    path = user_manifest_path()
    with cache_io(f"update {path}"):
        path.parent.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock  # lazy: only edits of the user manifest lock

        with FileLock(str(path) + ".lock"):
            models = [m.to_dict() for m in load_user_manifest().models]
            data = {"schema_version": SCHEMA_VERSION, "models": edit(models)}
            load_manifest(data, source=str(path))  # never write an invalid manifest
            write_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def register_user_entry(entry: ManifestEntry) -> None:
    """Add or replace ``entry`` (by name) in the user manifest, atomically and under a lock."""

    def edit(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
        others = [m for m in models if m["name"] != entry.name]
        if entry.default:
            others = [
                dict(m, default=False) if (m["task"], m["scale"]) == (entry.task, entry.scale) else m for m in others
            ]
        return others + [entry.to_dict()]

    _edit_user_manifest(edit)


def forget_user_entry(name: str) -> bool:
    """Drop ``name`` from the user manifest; ``True`` if it was there."""
    if load_user_manifest().find(name) is None:
        return False
    _edit_user_manifest(lambda models: [m for m in models if m["name"] != name])
    return True


# ---------------------------------------------------------------- files


def bundled_path(entry: ManifestEntry) -> Path | None:
    """The packaged file of a bundled entry, if present."""
    path = bundled_dir() / entry.file
    return path if entry.bundled and path.is_file() else None


def cached_path(entry: ManifestEntry) -> Path:
    """Where the entry's file lives (or would live) in the cache."""
    return weights_dir() / entry.file


def is_cached(entry: ManifestEntry) -> bool:
    return cached_path(entry).is_file()


def local_path(entry: ManifestEntry) -> Path | None:
    """Bundled file, else cached file, else ``None``."""
    bundled = bundled_path(entry)
    if bundled is not None:
        return bundled
    return cached_path(entry) if is_cached(entry) else None


def status(entry: ManifestEntry) -> str:
    """``bundled`` | ``cached`` | ``manual`` (fetch by hand, then import) | ``missing``."""
    if bundled_path(entry) is not None:
        return "bundled"
    if is_cached(entry):
        return "cached"
    return "manual" if entry.manual else "missing"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    import hashlib  # lazy: OpenSSL's import is only paid when something is hashed

    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(entry: ManifestEntry) -> tuple[bool, str | None]:
    """Re-hash the local (bundled or cached) file: ``(matches, actual sha256)``.

    ``(False, None)`` when there is no local file. An entry without a checksum cannot be
    verified and counts as a mismatch.
    """
    path = local_path(entry)
    if path is None:
        return False, None
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read ({exc})", "check the file permissions") from None
    return entry.sha256 == actual and entry.size == path.stat().st_size, actual
