"""Temporary output files: named after their owner, and swept when the owner is gone.

An output is encoded into ``.<name>.bbcu-<host>-<pid>-<random>.tmp`` beside its target and
renamed when complete. A run killed hard (SIGKILL, power loss) cannot remove its temporary
file; the next run that writes into the same folder removes the ones that are ours and stale:
the name matches the pattern above, the file is a regular file owned by the current user, and
either its process is no longer running on this host or it is older than a day. Files of any
other name, of other users, or of processes still running are never touched.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["make_temp", "sweep_stale", "STALE_SECONDS"]

log = logging.getLogger("bbcu_cli.imagefiles")
STALE_SECONDS = 24 * 3600
_NAME_KEEP = 100  # characters of the target's name kept in the temporary name (NAME_MAX is 255)
_PATTERN = re.compile(r"^\..*\.bbcu-(?P<host>[A-Za-z0-9]{0,16})-(?P<pid>\d+)-[a-z0-9_]{8}\.tmp$", re.DOTALL)
_swept: set[str] = set()
_swept_lock = threading.Lock()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16]


def make_temp(folder: Path, target_name: str) -> tuple[int, str]:
    """``mkstemp`` (``O_EXCL``, mode 0600) in ``folder`` under our naming; returns (fd, path)."""
    prefix = f".{target_name[:_NAME_KEEP]}.bbcu-{_host()}-{os.getpid()}-"
    return tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)


def sweep_stale(folder: Path, now: float | None = None) -> list[str]:
    """Remove our stale temporary files in ``folder`` (once per folder per process unless ``now``
    is given); returns the names removed. Errors are ignored: sweeping is best effort."""
    key = str(folder)
    with _swept_lock:
        if now is None and key in _swept:
            return []
        _swept.add(key)
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if _is_stale(entry, time.time() if now is None else now) and _unlink(entry.path):
            removed.append(entry.name)
            log.info("removed stale temporary file %r left by an earlier run", entry.path)
    return removed


def _is_stale(entry: os.DirEntry[str], now: float) -> bool:
    match = _PATTERN.match(entry.name)
    if match is None:
        return False
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        return False
    if now - info.st_mtime > STALE_SECONDS:
        return True
    return match["host"] == _host() and not _running(int(match["pid"]))


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's) or cannot tell: keep the file
    return True


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
