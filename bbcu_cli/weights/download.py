"""Fetch weights: bundled file, else verified cache, else download (with retries and a lock).

Downloads stream through a ``urllib`` opener built with ``ProxyHandler`` (so ``http_proxy``,
``https_proxy`` and ``no_proxy`` from the environment apply) into a temp file next to the
cache entry, hashing on the way; size and sha256 are checked before ``os.replace`` moves the
file into place, so the cache never holds a partial or corrupt file. A ``FileLock`` per file
makes parallel processes download once. Environment: ``BBCU_WEIGHTS_URL`` (mirror base URL,
tried first), ``BBCU_OFFLINE``, ``BBCU_DOWNLOAD_RETRIES`` (3, at most 10),
``BBCU_DOWNLOAD_BACKOFF`` (1 s, at most 60), ``BBCU_DOWNLOAD_TIMEOUT`` (30 s, at most 600);
out-of-range or non-finite values are refused. The pauses between attempts double from the
back-off, each at most :data:`MAX_DELAY_S` and together at most :data:`MAX_TOTAL_BACKOFF_S`
per URL.

A cached file that no longer matches the manifest is never deleted: it is renamed aside
(``<file>.corrupt-<time>``) before a fresh download, or, when nothing can replace it (no
URL, offline), left in place and refused with what was expected and what was found.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..atomicfile import writing
from ..errors import DownloadError, IntegrityError, OfflineError, WeightsError, command
from .cache import bundled_path, cache_io, cached_path, is_cached, sha256_file, weights_dir
from .manifest import ManifestEntry

if TYPE_CHECKING:  # http.client / urllib.request pull in ssl and email: imported when a download starts
    import http.client

from .settings import (  # noqa: F401 - re-exported: the download API
    MAX_DELAY_S,
    MAX_RETRIES,
    MAX_TOTAL_BACKOFF_S,
    DownloadSettings,
    backoff_delays,
    candidate_urls,
    is_offline,
    make_opener,
)

__all__ = [
    "ProgressCallback",
    "DownloadSettings",
    "fetch",
    "candidate_urls",
    "is_offline",
    "make_opener",
    "backoff_delays",
    "quarantine",
]

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total)`` while a file downloads."""

_CHUNK = 1 << 16
_TRANSIENT_HTTP = (408, 425, 429, 500, 502, 503, 504)


class _Transient(Exception):
    """A failure worth retrying on the same URL (reset, timeout, 5xx, short read)."""


# ---------------------------------------------------------------- errors


def _manual_error(entry: ManifestEntry) -> WeightsError:
    page = entry.source_page or "the model's source page"
    return WeightsError(
        f"'{entry.name}' cannot be downloaded automatically: {entry.file} is only published at {page}",
        f"download {entry.file} from {page} by hand, then run: {command(f'weights import {entry.file}', name=entry.name)}",
    )


def _offline_error(entry: ManifestEntry) -> OfflineError:
    return OfflineError(
        f"{entry.file} (model '{entry.name}') is not in the cache {weights_dir()} and offline mode is on",
        f"run `{command(f'weights download {entry.name}')}` while online, or set BBCU_WEIGHTS_URL=file:///path/to/mirror",
    )


def _no_url_error(entry: ManifestEntry) -> WeightsError:
    return WeightsError(
        f"'{entry.name}' has no download URL and {entry.file} is not in the cache",
        f"import the file again ({command('weights import FILE', name=entry.name)}) or set BBCU_WEIGHTS_URL to a mirror that has it",
    )


# ---------------------------------------------------------------- fetching


def _cached_state(entry: ManifestEntry) -> tuple[Path | None, str]:
    """(the cached file if it matches the manifest, else ``None``; what was found)."""
    path = cached_path(entry)
    if not is_cached(entry):
        return None, "nothing"
    size = path.stat().st_size
    if size != entry.size:
        return None, f"{size} bytes (expected {entry.size})"
    actual = sha256_file(path)
    return (path, "ok") if actual == entry.sha256 else (None, f"sha256 {actual} (expected {entry.sha256})")


def quarantine(path: Path) -> Path:
    """Rename ``path`` aside to a fresh ``<name>.corrupt-<time>`` beside it (never deleted)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        aside = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(path, aside)  # fails if ``aside`` exists: never replaces an earlier one
        except FileExistsError:
            continue
        except OSError:  # no hard links here (some network file systems): plain rename
            if aside.exists():
                continue
            os.rename(path, aside)
            return aside
        path.unlink()
        return aside
    raise WeightsError(
        f"cannot move {path} aside: too many earlier .corrupt copies", f"delete old {path.name}.corrupt-* files"
    )


def _corrupt_error(entry: ManifestEntry, path: Path, found: str, aside: Path | None) -> IntegrityError:
    where = f"moved aside to {aside}" if aside else "left in place"
    how = (
        f"re-import the original checkpoint: {command('weights import FILE', name=entry.name)}"
        if not entry.urls
        else f"run `{command(f'weights download {entry.name}')}` while online, or set BBCU_WEIGHTS_URL to a mirror"
    )
    return IntegrityError(f"{path} (model '{entry.name}') is damaged: found {found}; it was {where}", how)


def _replace_damaged(
    entry: ManifestEntry, urls: list[str], settings: DownloadSettings, progress: ProgressCallback | None
) -> Path:
    """Under the download lock: the cached file if valid, else download, first moving a
    damaged cached file aside (:func:`quarantine`); a failed download says where it went."""
    path, found = _cached_state(entry)
    if path is not None:
        return path
    aside = quarantine(cached_path(entry)) if found != "nothing" else None
    try:
        return _download_any(entry, urls, settings, progress)
    except WeightsError as exc:
        if aside is not None:
            exc.raw_message += f" (the damaged cached copy, {found}, was moved aside to {aside})"
        raise


def _check_not_damaged(entry: ManifestEntry) -> None:
    """Refuse, naming expected and found, when a damaged cached file cannot be replaced."""
    path, found = _cached_state(entry)
    if path is None and found != "nothing":
        raise _corrupt_error(entry, cached_path(entry), found, None)


def fetch(entry: ManifestEntry, *, offline: bool = False, progress: ProgressCallback | None = None) -> Path:
    """Local path of ``entry``'s file: bundled, else verified cache, else downloaded (from
    Google Drive for an entry with a ``drive`` source: :mod:`.drive_fetch`).

    Raises:
        OfflineError: the file is needed from the network and offline mode is on.
        WeightsError: a manual entry (no checksum/URL), or no URL at all.
        IntegrityError: a download does not match the manifest's size/sha256.
        DownloadError: every URL failed.
    """
    bundled = bundled_path(entry)
    if bundled is not None:
        return bundled
    if entry.drive is not None:  # an official file on Google Drive (imports this module)
        from .drive_fetch import fetch_from_drive

        return fetch_from_drive(entry, offline=offline, progress=progress)
    if entry.manual:
        raise _manual_error(entry)
    settings = DownloadSettings.from_env(offline)
    with cache_io(f"use the weights cache {weights_dir()}"):
        return _cached_state(entry)[0] or _download_locked(entry, settings, progress)


def _download_locked(entry: ManifestEntry, settings: DownloadSettings, progress: ProgressCallback | None) -> Path:
    urls = candidate_urls(entry, settings)
    if settings.offline:
        urls = [u for u in urls if u.startswith("file://")]
    if not urls:
        _check_not_damaged(entry)
        raise _offline_error(entry) if settings.offline else _no_url_error(entry)
    from filelock import FileLock, Timeout  # lazy, like hashlib below: only a download pays the import

    lock = FileLock(str(weights_dir(create=True) / f"{entry.file}.lock"), timeout=settings.lock_timeout)
    try:
        with lock:  # another process may have finished the download while we waited
            return _replace_damaged(entry, urls, settings, progress)
    except Timeout:
        raise DownloadError(
            f"timed out waiting for another download of {entry.file}",
            f"remove {lock.lock_file} if no bbcu process is running",
        ) from None


def _download_any(
    entry: ManifestEntry, urls: list[str], settings: DownloadSettings, progress: ProgressCallback | None
) -> Path:
    failures: list[str] = []
    integrity: IntegrityError | None = None
    for url in urls:
        try:
            return _download_with_retries(url, entry, settings, progress)
        except IntegrityError as exc:
            integrity = integrity or exc
            failures.append(exc.message)
        except DownloadError as exc:
            failures.append(exc.message)
    if integrity is not None:
        raise integrity
    raise DownloadError(
        f"could not download {entry.file} for '{entry.name}': " + "; ".join(failures),
        "check the network and proxy settings (https_proxy), or set BBCU_WEIGHTS_URL to a mirror made with 'bbcu weights mirror'",
    )


def _download_with_retries(
    url: str, entry: ManifestEntry, settings: DownloadSettings, progress: ProgressCallback | None
) -> Path:
    last: Exception | None = None
    delays = backoff_delays(settings)
    for attempt in range(len(delays) + 1):
        if attempt:
            time.sleep(delays[attempt - 1])
        try:
            return _download_once(url, entry, settings, progress)
        except _Transient as exc:
            last = exc
    raise DownloadError(f"{url}: {last} (gave up after {len(delays) + 1} attempts)")


def _download_once(
    url: str, entry: ManifestEntry, settings: DownloadSettings, progress: ProgressCallback | None
) -> Path:
    weights_dir(create=True)
    target = cached_path(entry)
    with writing(target) as fh:
        actual = _stream(url, fh, entry, settings, progress)
        if actual != entry.sha256:
            raise IntegrityError(
                f"{url}: sha256 mismatch for {entry.file}: expected {entry.sha256}, got {actual}",
                "the download is corrupt or the file on the server changed; try again, and report it if it persists",
            )
    return target


def _open(url: str, settings: DownloadSettings) -> http.client.HTTPResponse:
    import http.client
    import urllib.error

    try:
        return make_opener().open(url, timeout=settings.timeout)
    except urllib.error.HTTPError as exc:
        if exc.code in _TRANSIENT_HTTP:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, ConnectionError)):
            raise _Transient(str(exc.reason)) from None
        raise DownloadError(f"{url}: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{type(exc).__name__}: {exc}") from None
    except ValueError as exc:  # a URL urllib cannot parse (bad host, port or scheme)
        raise DownloadError(f"{url}: not a valid URL ({exc})") from None


def _read(resp: http.client.HTTPResponse, done: int, size: int) -> bytes:
    import http.client

    try:
        return resp.read(_CHUNK)
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{type(exc).__name__} after {done} of {size} bytes") from None


def _stream(
    url: str, fh: BinaryIO, entry: ManifestEntry, settings: DownloadSettings, progress: ProgressCallback | None
) -> str:
    """Copy ``url`` into ``fh``; returns the sha256. Checks the size against the manifest."""
    import hashlib

    digest, done, size = hashlib.sha256(), 0, entry.size or 0
    with _open(url, settings) as resp:
        announced = resp.headers.get("Content-Length")
        if announced and announced.isdigit() and int(announced) != size:
            raise IntegrityError(
                f"{url}: {entry.file} is {announced} bytes on the server, the manifest says {size}",
                "the mirror holds another version of the file; update it",
            )
        if progress:
            progress(0, size)
        while done <= size and (block := _read(resp, done, size)):
            digest.update(block)
            fh.write(block)
            done += len(block)
            if progress:
                progress(min(done, size), size)
    if done < size:
        raise _Transient(f"connection closed after {done} of {size} bytes")
    if done > size:
        raise IntegrityError(
            f"{url}: {entry.file} is larger than the {size} bytes the manifest says",
            "the mirror holds another version of the file; update it",
        )
    return digest.hexdigest()
