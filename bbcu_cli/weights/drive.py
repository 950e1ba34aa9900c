"""Google Drive access for the official checkpoints, behind a small replaceable client.

:class:`DriveClient` is all the rest of bbcu needs from Drive: list a public folder (file name
-> file id) and copy one file into an open binary stream. :class:`GdownClient` implements it
with ``gdown`` (imported only when Drive is really used); tests install a local fake with
:func:`set_client`. Whatever goes wrong on Drive's side ends as one typed error with the manual
fallback in its hint: :class:`DriveQuotaError` ("too many users", quota exceeded),
:class:`DriveAccessError` (permission or sign-in page, missing file) or a plain
:class:`~bbcu_cli.errors.DownloadError` (network).
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, BinaryIO, Protocol

from ..errors import DownloadError, command
from .manifest import ManifestEntry

__all__ = [
    "DriveClient",
    "GdownClient",
    "DriveQuotaError",
    "DriveAccessError",
    "get_client",
    "set_client",
    "manual_fallback",
    "drive_error",
    "html_error",
]

log = logging.getLogger(__name__)

_QUOTA_MARKERS = ("too many users", "quota", "rate limit", "too many requests")
_NETWORK_ERRORS = {
    "ConnectionError",
    "Timeout",
    "TimeoutError",
    "ConnectTimeout",
    "ReadTimeout",
    "ProxyError",
    "SSLError",
    "ChunkedEncodingError",
}
_ACCESS_MARKERS = ("permission", "access", "anyone with the link", "sign in", "sign-in", "forbidden", "not found")
_STATUS_KIND = {429: "quota", 401: "access", 403: "access", 404: "access"}


class DriveQuotaError(DownloadError):
    """Drive refuses the file for now: too many downloads ("quota exceeded")."""


class DriveAccessError(DownloadError):
    """Drive shows a permission / sign-in page, or the folder lacks the file."""


class DriveClient(Protocol):
    """What bbcu needs from Google Drive."""

    def list_folder(self, folder_id: str) -> dict[str, str]:
        """``{file name: file id}`` for the files in a public folder (and its sub-folders)."""
        ...

    def download(self, file_id: str, out: BinaryIO) -> None:
        """Write the file's bytes to ``out``."""
        ...


def _supported(func: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments ``func`` accepts (gdown's signature differs between versions)."""
    params = inspect.signature(func).parameters
    return {key: value for key, value in kwargs.items() if key in params}


class GdownClient:
    """:class:`DriveClient` through ``gdown`` (public files only, no cookies, quiet)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout

    @staticmethod
    def _gdown() -> Any:
        try:
            import gdown
        except ImportError:
            raise DownloadError(
                "the gdown package is not installed, so Google Drive cannot be used", "pip install 'gdown>=5.1'"
            ) from None
        return gdown

    def list_folder(self, folder_id: str) -> dict[str, str]:
        gdown = self._gdown()
        func = gdown.download_folder
        files = func(
            id=folder_id,
            **_supported(
                func, skip_download=True, quiet=True, use_cookies=False, remaining_ok=True, timeout=self.timeout
            ),
        )
        if files is None:  # gdown 5 returns None when it cannot read the folder page
            raise PermissionError("cannot retrieve the folder contents (permission)")
        return {PurePosixPath(f.path).name: f.id for f in files}

    def download(self, file_id: str, out: BinaryIO) -> None:
        gdown = self._gdown()
        func = gdown.download
        if (
            func(id=file_id, output=out, **_supported(func, quiet=True, use_cookies=False, timeout=self.timeout))
            is None
        ):
            raise PermissionError("cannot retrieve the file (permission)")


_client: DriveClient | None = None


def get_client() -> DriveClient:
    """The installed client (:func:`set_client`), else a :class:`GdownClient`."""
    return _client if _client is not None else GdownClient()


def set_client(client: DriveClient | None) -> DriveClient | None:
    """Install ``client`` for every later Drive access (``None``: gdown again); returns the old one."""
    global _client
    previous, _client = _client, client
    return previous


# ---------------------------------------------------------------- errors


def manual_fallback(entry: ManifestEntry) -> str:
    """The hint every Drive failure carries: fetch the file by hand, then import it."""
    assert entry.drive is not None
    task = entry.task if entry.task != "sr" else None
    return (
        f"download {entry.drive.file} in a browser from {entry.drive.folder_url}, "
        f"then run: {command(f'weights import {entry.drive.file}', name=entry.name, task=task)}"
    )


def _status_code(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _classify(text: str) -> str:
    """``quota``, ``access`` or ``other`` for an error text or a web page."""
    low = text.lower()
    if any(marker in low for marker in _QUOTA_MARKERS):
        return "quota"
    if any(marker in low for marker in _ACCESS_MARKERS):
        return "access"
    return "other"


def _typed(kind: str, entry: ManifestEntry, detail: str) -> DownloadError:
    assert entry.drive is not None
    name, hint = entry.drive.file, manual_fallback(entry)
    if kind == "quota":
        return DriveQuotaError(
            f"Google Drive refuses {name} for now: download quota exceeded (too many users); try again later", hint
        )
    if kind == "access":
        return DriveAccessError(
            f"Google Drive denied access to {name} in folder {entry.drive.folder} (permission or sign-in page)", hint
        )
    return DownloadError(
        f"cannot fetch {name} from Google Drive: {detail}",
        f"check the network and proxy settings (https_proxy), or {hint}",
    )


def drive_error(exc: BaseException, entry: ManifestEntry) -> DownloadError:
    """One typed, one-line error for anything a :class:`DriveClient` raised."""
    if isinstance(exc, DownloadError) and exc.hint:  # already ours (a fake client, or re-raised)
        return exc
    log.debug("Google Drive error for %s: %s: %s", entry.name, type(exc).__name__, exc)
    network = any(cls.__name__ in _NETWORK_ERRORS for cls in type(exc).__mro__)
    kind = _STATUS_KIND.get(_status_code(exc) or 0) or (
        "other" if network else _classify(f"{type(exc).__name__} {exc}")
    )
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return _typed(kind, entry, first[:160])


def html_error(head: bytes, entry: ManifestEntry) -> DownloadError | None:
    """The error for a web page saved instead of the file (``None`` when ``head`` is not HTML)."""
    text = head.decode("utf-8", "replace")
    if not re.match(r"\s*<(!doctype html|html|head|body|\?xml)", text, re.IGNORECASE):
        return None
    visible = re.sub(r"<(script|style)\b.*?</\1\s*>", " ", text, flags=re.IGNORECASE | re.DOTALL)
    kind = _classify(re.sub(r"<[^>]+>", " ", visible))
    return _typed(kind if kind != "other" else "access", entry, "Drive sent a web page instead of the file")
