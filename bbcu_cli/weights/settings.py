"""Download settings: what the ``BBCU_*`` environment asks for, read with one rule everywhere.

``BBCU_OFFLINE`` (:func:`is_offline`), ``BBCU_WEIGHTS_URL`` (mirror base URL, tried first),
``BBCU_DOWNLOAD_RETRIES`` (3, at most 10), ``BBCU_DOWNLOAD_BACKOFF`` (1 s, at most 60),
``BBCU_DOWNLOAD_TIMEOUT`` (30 s, at most 600); out-of-range or non-finite values are refused
with a :class:`~bbcu_cli.errors.WeightsError` naming the variable. Also the proxy-aware opener
and the order in which URLs are tried.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import WeightsError
from .manifest import ManifestEntry

if TYPE_CHECKING:
    import urllib.request

__all__ = [
    "DownloadSettings",
    "is_offline",
    "make_opener",
    "backoff_delays",
    "candidate_urls",
    "MAX_RETRIES",
    "MAX_DELAY_S",
    "MAX_TOTAL_BACKOFF_S",
]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")
MAX_RETRIES = 10
MAX_DELAY_S = 30.0
MAX_TOTAL_BACKOFF_S = 120.0


def is_offline(offline: bool = False) -> bool:
    """``offline``, else ``BBCU_OFFLINE`` read with the one rule every command uses.

    ``1``, ``true``, ``yes``, ``on`` (any case, spaces ignored) mean offline; unset, empty,
    ``0``, ``false``, ``no``, ``off`` mean online; any other value is refused, so that a typo
    never silently decides whether the network is used.

    Raises:
        WeightsError: ``BBCU_OFFLINE`` has another value (read only when ``offline`` is false).
    """
    if offline:
        return True
    raw = os.environ.get("BBCU_OFFLINE", "")
    value = raw.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise WeightsError(
        f"BBCU_OFFLINE={raw!r} is neither on nor off",
        "set BBCU_OFFLINE=1 to never use the network, or 0 (or unset it) to allow downloads",
    )


def _env_number(name: str, default: float, minimum: float, maximum: float, integer: bool = False) -> float:
    """``$name`` as a finite number in ``[minimum, maximum]`` (``default`` when unset)."""
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = math.nan
    whole = not integer or (math.isfinite(value) and value == int(value))
    if not (whole and math.isfinite(value) and minimum <= value <= maximum):
        kind = "an integer" if integer else "a number"
        raise WeightsError(
            f"{name}={raw!r} is not {kind} from {minimum:g} to {maximum:g}",
            f"unset {name} (default {default:g}) or give it a value in that range",
        )
    return value


def _mirror_from_env() -> str | None:
    """``$BBCU_WEIGHTS_URL``, checked to be a parseable http(s):// (with a host) or file:// URL."""
    mirror = os.environ.get("BBCU_WEIGHTS_URL", "").strip() or None
    if mirror is None:
        return None
    hint = "e.g. BBCU_WEIGHTS_URL=file:///srv/bbcu-mirror or https://host/bbcu-weights"
    try:
        parts = urllib.parse.urlsplit(mirror)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as exc:
        raise WeightsError(f"BBCU_WEIGHTS_URL={mirror!r} is not a valid URL ({exc})", hint) from None
    if parts.scheme not in ("https", "http", "file") or (parts.scheme != "file" and not parts.hostname):
        raise WeightsError(f"BBCU_WEIGHTS_URL={mirror!r} is not an http(s)://host/... or file:// URL", hint)
    return mirror


@dataclass(frozen=True)
class DownloadSettings:
    """Download behaviour; ``from_env`` reads the ``BBCU_*`` variables."""

    retries: int = 3
    backoff: float = 1.0
    timeout: float = 30.0
    mirror: str | None = None
    offline: bool = False
    lock_timeout: float = 3600.0

    @classmethod
    def from_env(cls, offline: bool = False) -> "DownloadSettings":
        """Settings from ``BBCU_*``; a :class:`WeightsError` names any variable with a bad value."""
        return cls(
            retries=int(_env_number("BBCU_DOWNLOAD_RETRIES", 3, 0, MAX_RETRIES, integer=True)),
            backoff=_env_number("BBCU_DOWNLOAD_BACKOFF", 1.0, 0, MAX_DELAY_S * 2),
            timeout=_env_number("BBCU_DOWNLOAD_TIMEOUT", 30.0, 0.1, 600),
            mirror=_mirror_from_env(),
            offline=is_offline(offline),
        )


def backoff_delays(settings: DownloadSettings) -> list[float]:
    """Pauses before attempts 2, 3, ...: doubling from ``backoff``, each at most
    :data:`MAX_DELAY_S`, at most :data:`MAX_RETRIES` of them, and none once their sum would
    pass :data:`MAX_TOTAL_BACKOFF_S` (so a misconfigured retry count cannot wait forever)."""
    delays: list[float] = []
    for attempt in range(min(settings.retries, MAX_RETRIES)):
        delay = min(settings.backoff * 2.0**attempt, MAX_DELAY_S)
        if sum(delays) + delay > MAX_TOTAL_BACKOFF_S:
            break
        delays.append(delay)
    return delays


def make_opener() -> urllib.request.OpenerDirector:
    """urllib opener honouring the environment's proxies (``ProxyHandler``) and file:// URLs."""
    import urllib.request  # with http.client, ssl and email: only when a download starts

    opener = urllib.request.build_opener(urllib.request.ProxyHandler())
    opener.addheaders = [("User-Agent", "bbcu-cli")]
    return opener


def candidate_urls(entry: ManifestEntry, settings: DownloadSettings) -> list[str]:
    """Mirror URL (``$BBCU_WEIGHTS_URL/<file>``) first, then the entry's own URLs."""
    mirror = [f"{settings.mirror.rstrip('/')}/{urllib.parse.quote(entry.file)}"] if settings.mirror else []
    return mirror + [u for u in entry.urls if u not in mirror]
