"""On-demand download of an official checkpoint (a manifest entry with a ``drive`` source).

Order of sources: the ``BBCU_WEIGHTS_URL`` mirror (the converted file, when its sha256 is
known, then the authors' file by its Drive name), then the public Google Drive folder
(:mod:`.drive`). ``BBCU_OFFLINE`` leaves only ``file://`` mirrors. The authors' file is
streamed into a temporary file in the cache folder (size-capped, hashed on the way), under the
same per-file lock as every download; then it must

1. match the sha256 recorded on its first download, if any (trust on first use),
2. load as a checkpoint of the entry's architecture, task, scale, widths and depth,

before it is converted to the project format (:mod:`.importer`), renamed into place and its
entry, with the original file's sha256 pinned, written to the user manifest. A cached
converted file is checked against its sha256 on every use; nothing is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

from ..atomicfile import make_temp
from ..checkpoint_checks import MAX_TENSOR_BYTES
from ..errors import BbcuError, DownloadError, IntegrityError, ModelFormatError, OfflineError, WeightsError, command
from .cache import (
    cache_io,
    cached_path,
    get_manifest,
    is_cached,
    register_user_entry,
    user_manifest_path,
    verify,
    weights_dir,
)
from .download import DownloadSettings, ProgressCallback, fetch, make_opener
from .drive import drive_error, get_client, html_error, manual_fallback
from .manifest import ManifestEntry

__all__ = ["fetch_from_drive", "converted_path"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_HEAD = 1 << 16


class _Sink:
    """Write-only stream over a temp file: hashes, counts, reports progress, caps the size."""

    def __init__(self, fh: BinaryIO, label: str, progress: ProgressCallback | None) -> None:
        self.fh, self.label, self.progress = fh, label, progress
        self.digest, self.done, self.head = hashlib.sha256(), 0, b""

    def write(self, data: bytes) -> int:
        self.done += len(data)
        if self.done > MAX_TENSOR_BYTES:
            raise IntegrityError(
                f"{self.label} is larger than {MAX_TENSOR_BYTES >> 20} MiB: not a BBCU checkpoint",
                "report it; the file on the server is not the expected one",
            )
        self.digest.update(data)
        if len(self.head) < _HEAD:
            self.head += bytes(data[: _HEAD - len(self.head)])
        if self.progress:
            self.progress(self.done, None)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()

    def writable(self) -> bool:
        return True


def converted_path(entry: ManifestEntry) -> Path:
    """Where the converted project-format file of a Drive entry lives in the cache."""
    return weights_dir() / f"{entry.name}.safetensors"


# ---------------------------------------------------------------- cache


def _cache_hit(entry: ManifestEntry) -> Path | None:
    """The verified cached file of an entry fetched before (``None`` when nothing is cached); a
    damaged one is refused and left in place, never replaced silently."""
    if entry.sha256 is None or not is_cached(entry):
        return None
    ok, actual = verify(entry)
    if ok:
        return cached_path(entry)
    raise IntegrityError(
        f"{cached_path(entry)} (model '{entry.name}') is damaged: found sha256 {actual}, expected {entry.sha256}; it was left in place",
        f"the converted file changed since it was downloaded; remove it with `{command(f'weights rm {entry.name}')}`, "
        f"then fetch it again with `{command(f'weights download {entry.name}')}`",
    )


def _from_mirror_converted(entry: ManifestEntry, settings: DownloadSettings) -> Path | None:
    """A converted file of known sha256 from the mirror (what ``bbcu weights mirror`` writes)."""
    if entry.sha256 is None or settings.mirror is None:
        return None
    if settings.offline and not settings.mirror.startswith("file://"):
        return None
    try:
        return fetch(replace(entry, drive=None), offline=settings.offline)  # the plain verified download
    except WeightsError as exc:
        log.debug("mirror has no usable converted %s: %s", entry.file, exc)
        return None


# ---------------------------------------------------------------- sources


Source = tuple[str, Callable[[BinaryIO], None]]


def _mirror_source(entry: ManifestEntry, settings: DownloadSettings) -> list[Source]:
    assert entry.drive is not None
    if settings.mirror is None or (settings.offline and not settings.mirror.startswith("file://")):
        return []
    url = f"{settings.mirror.rstrip('/')}/{urllib.parse.quote(entry.drive.file)}"

    def copy(out: BinaryIO) -> None:
        try:
            with make_opener().open(url, timeout=settings.timeout) as resp:
                while block := resp.read(_CHUNK):
                    out.write(block)
        except (OSError, ValueError) as exc:
            raise DownloadError(f"{url}: {exc}") from None

    return [(url, copy)]


def _drive_source(entry: ManifestEntry) -> Source:
    drive = entry.drive
    assert drive is not None

    def copy(out: BinaryIO) -> None:
        client = get_client()
        try:
            file_id = client.list_folder(drive.folder).get(drive.file)
            if file_id is None:
                raise FileNotFoundError(f"{drive.file} not found in the folder")
            client.download(file_id, out)
        except DownloadError as exc:
            raise drive_error(exc, entry) from None
        except BbcuError:
            raise
        except Exception as exc:  # noqa: BLE001 -- gdown/requests raise many kinds; all become one typed line
            raise drive_error(exc, entry) from None

    return (f"Google Drive folder {drive.folder}", copy)


def _sources(entry: ManifestEntry, settings: DownloadSettings) -> list[Source]:
    return _mirror_source(entry, settings) + ([] if settings.offline else [_drive_source(entry)])


def _offline_error(entry: ManifestEntry) -> OfflineError:
    assert entry.drive is not None
    return OfflineError(
        f"'{entry.name}' is not in the cache {weights_dir()} and offline mode is on, so Google Drive is not used",
        f"run `{command(f'weights download {entry.name}')}` while online, set BBCU_WEIGHTS_URL to a mirror holding {entry.drive.file}, or {manual_fallback(entry)}",
    )


# ---------------------------------------------------------------- fetching


def fetch_from_drive(entry: ManifestEntry, *, offline: bool = False, progress: ProgressCallback | None = None) -> Path:
    """Local converted file of a Drive entry: cached (verified), else downloaded and converted.

    Raises:
        OfflineError: not cached, offline, and no ``file://`` mirror.
        DriveQuotaError, DriveAccessError, DownloadError: Drive (or the mirror) failed.
        IntegrityError: a cached file or a new download does not match the recorded sha256.
        WeightsError, ModelFormatError: the file is not the entry's model.
    """
    settings = DownloadSettings.from_env(offline)
    with cache_io(f"use the weights cache {weights_dir()}"):
        hit = _cache_hit(entry) or _from_mirror_converted(entry, settings)
        if hit is not None:
            return hit
        if not _sources(entry, settings):
            raise _offline_error(entry)
        lock = FileLock(
            str(weights_dir(create=True) / f"{converted_path(entry).name}.lock"), timeout=settings.lock_timeout
        )
        try:
            with lock:  # another process may have fetched it while we waited
                current = get_manifest().find(entry.name) or entry
                return _cache_hit(current) or _fetch_new(current, settings, progress)
        except Timeout:
            raise DownloadError(
                f"timed out waiting for another download of {entry.name}",
                f"remove {lock.lock_file} if no bbcu process is running",
            ) from None


def _fetch_new(entry: ManifestEntry, settings: DownloadSettings, progress: ProgressCallback | None) -> Path:
    assert entry.drive is not None
    fd, tmp_name = make_temp(weights_dir(create=True), entry.drive.file)
    raw = Path(tmp_name)
    try:
        with os.fdopen(fd, "r+b") as fh:
            where, sha = _download_any(entry, _sources(entry, settings), fh, progress)
        return _convert(entry, raw, where, sha)
    finally:
        raw.unlink(missing_ok=True)


def _download_any(
    entry: ManifestEntry, sources: list[Source], fh: BinaryIO, progress: ProgressCallback | None
) -> tuple[str, str]:
    """Copy the first source that works into ``fh``; returns (where from, sha256)."""
    failures: list[str] = []
    for i, (where, copy) in enumerate(sources):
        fh.seek(0)
        fh.truncate()
        sink = _Sink(fh, f"{entry.drive.file} from {where}" if entry.drive else where, progress)
        try:
            copy(sink)  # type: ignore[arg-type]
            page = html_error(sink.head, entry)
            if page is not None:
                raise page
            fh.flush()
            return where, sink.digest.hexdigest()
        except WeightsError as exc:
            if i == len(sources) - 1:
                exc.raw_message += f" (also tried: {'; '.join(failures)})" if failures else ""
                raise
            failures.append(exc.message)
    raise AssertionError("no sources")  # _fetch_new is only called with at least one


def _convert(entry: ManifestEntry, raw: Path, where: str, sha: str) -> Path:
    """Check the downloaded ``raw`` file against the pin and the entry, convert and register it."""
    from ..loading import load_model
    from .importer import check_matches, convert_into_cache

    drive = entry.drive
    assert drive is not None
    label = f"{drive.file} from {where}"
    if drive.sha256 is not None and sha != drive.sha256:
        raise IntegrityError(
            f"{label} has sha256 {sha}, but the first download of '{entry.name}' had {drive.sha256} (recorded in {user_manifest_path()})",
            f"the file changed on the server or was tampered with on the way; if the authors replaced it on purpose, trust the new one with "
            f"`{command(f'weights rm {entry.name}', unpin=True)}`, then download again",
        )
    try:
        loaded = load_model(raw, task=entry.task)  # type: ignore[arg-type]
    except ModelFormatError as exc:
        raise ModelFormatError(
            exc.message.replace(str(raw), label),
            f"the server did not send a usable checkpoint; {manual_fallback(entry)}",
        ) from None
    check_matches(
        entry,
        loaded.spec,
        label,
        f"the file on the server is not the model '{entry.name}' describes; report it, or {manual_fallback(entry)}",
    )
    note = f"Downloaded {drive.file} from {where} (sha256 {sha})."
    new = convert_into_cache(raw, loaded, entry.name, entry, source_name=drive.file, note=note)
    register_user_entry(new)
    if drive.sha256 is None:
        log.warning(
            "trust on first use: %s for '%s' has sha256 %s; recorded in %s, later downloads must match it",
            label,
            entry.name,
            sha,
            user_manifest_path(),
        )
    return cached_path(new)
