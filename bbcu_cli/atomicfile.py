"""Atomic file writes: the one way bbcu writes a file (images, weights, manifests, checkpoints).

A file is written into a temporary file beside its target and renamed over it when complete
(:func:`replacing`, :func:`writing`, :func:`write_bytes`), so a reader sees the old file or the
new one, never a part; the temporary file is removed on any failure, KeyboardInterrupt
included. One file-mode policy: a published file gets :data:`NEW_FILE_MODE`, what ``open()``
would give (``0o666`` minus the umask), although ``mkstemp`` creates it ``0600``. With
``overwrite=False`` the publish is a hard link, which fails with :class:`FileExistsError` if
the target appeared meanwhile (a check-then-rename where the file system has no hard links).

Temporary names are ``.<name>.bbcu-<host>-<pid>-<random>.tmp`` (``mkstemp``: ``O_EXCL``, not
predictable, so a planted file or symlink cannot redirect a write). A run killed hard (SIGKILL,
power loss) cannot remove its temporary file; :func:`sweep_stale` removes the ones that are
ours and stale: the name matches the pattern above, the file is a regular file owned by the
current user, and either its process is no longer running on this host or it is older than a
day. Files of any other name, of other users, or of processes still running are never touched.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = [
    "NEW_FILE_MODE",
    "make_temp",
    "publish",
    "replacing",
    "writing",
    "write_bytes",
    "sweep_stale",
    "STALE_SECONDS",
]

log = logging.getLogger("bbcu_cli.atomicfile")
STALE_SECONDS = 24 * 3600
_NAME_KEEP = 100  # characters of the target's name kept in the temporary name (NAME_MAX is 255)
_PATTERN = re.compile(r"^\..*\.bbcu-(?P<host>[A-Za-z0-9]{0,16})-(?P<pid>\d+)-[a-z0-9_]{8}\.tmp$", re.DOTALL)
_swept: set[str] = set()
_swept_lock = threading.Lock()
#: errno values meaning "this file system has no hard links"
_LINK_UNSUPPORTED = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it
    os.umask(mask)
    return mask


#: mode of every published file: what ``open()`` would give (``0o666`` minus the umask)
NEW_FILE_MODE = 0o666 & ~_umask()


def _host() -> str:
    if hasattr(os, "uname"):  # POSIX: no socket import (~5 ms of start-up)
        name = os.uname().nodename
    else:
        import socket

        name = socket.gethostname()
    return re.sub(r"[^A-Za-z0-9]", "", name)[:16]


def make_temp(folder: Path, target_name: str) -> tuple[int, str]:
    """``mkstemp`` (``O_EXCL``, mode 0600) in ``folder`` under our naming; returns (fd, path)."""
    prefix = f".{target_name[:_NAME_KEEP]}.bbcu-{_host()}-{os.getpid()}-"
    return tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)


def publish(tmp: str | Path, target: Path, overwrite: bool = True) -> None:
    """Give ``tmp`` the :data:`NEW_FILE_MODE` and move it to ``target``.

    Raises:
        FileExistsError: ``overwrite`` is false and ``target`` exists.
        OSError: the rename or link failed.
    """
    os.chmod(tmp, NEW_FILE_MODE)
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno not in _LINK_UNSUPPORTED:
            raise
        if os.path.lexists(target):  # no hard links here: check, then rename
            raise FileExistsError(errno.EEXIST, "file exists", str(target)) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


@contextmanager
def replacing(target: str | Path, *, overwrite: bool = True, sweep: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``target``; write it (by path), and on normal exit it
    is published as ``target`` (:func:`publish`). On any exception it is removed.

    ``sweep`` first removes stale temporary files of killed runs from the folder.
    """
    target = Path(target)
    if sweep:
        sweep_stale(target.parent)
    fd, tmp = make_temp(target.parent, target.name)
    os.close(fd)
    try:
        yield Path(tmp)
        publish(tmp, target, overwrite)
        tmp = ""
    finally:
        if tmp:
            _unlink(tmp)


@contextmanager
def writing(target: str | Path, *, overwrite: bool = True, sweep: bool = False) -> Iterator[BinaryIO]:
    """:func:`replacing`, yielding the temporary file open for binary writing; it is flushed and
    fsynced before it is published."""
    with replacing(target, overwrite=overwrite, sweep=sweep) as tmp, open(tmp, "r+b") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_bytes(target: str | Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``target`` atomically (:func:`writing`)."""
    with writing(target, overwrite=overwrite) as fh:
        fh.write(data)


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
