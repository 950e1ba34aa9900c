"""Decoder diagnostics, caught and attached to the file they concern.

Image decoders report problems three ways: exceptions, Python warnings (Pillow) and lines on
the process's stderr (libpng, libtiff and libjpeg inside OpenCV). :func:`decode_guard` collects
the last two while one file is decoded and sorts them: a diagnostic of truncated or damaged
pixel data becomes an :class:`InputError` naming the file; anything else (a metadata quirk) is
logged as a warning that names the file. Nothing reaches the terminal without a file name.

Python's warning filters and file descriptor 2 are process-wide, so decodes that run inside a
guard are serialized by one lock (``--jobs`` readers decode one at a time; encoding and the
model still overlap with decoding).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator

from bbcu_cli.errors import InputError, printable

__all__ = ["decode_guard", "Diagnostics", "is_damage"]

log = logging.getLogger("bbcu_cli.imagefiles")
_LOCK = threading.Lock()
_MAX_CAPTURE = 64 * 1024
_DAMAGE = re.compile(
    r"truncat|premature end|corrupt jpeg data|bad huffman|huffman table|incorrect data check|"
    r"invalid (stored|code|literal|distance|block)|crc error|bad adaptive filter|decoding error|"
    r"extraneous bytes|must resync|inconsistent progression|not enough (image )?data|"
    r"unexpected end|read error|too much image data|extra compressed data|broken data stream|"
    r"incorrect value for|can't read data|failed to read|unable to decode",
    re.IGNORECASE,
)
_METADATA = re.compile(r"exif|metadata|iccp|profile|unknown field|text chunk", re.IGNORECASE)


def is_damage(text: str) -> bool:
    """Whether a decoder diagnostic reports truncated or damaged pixel data (not metadata)."""
    return bool(_DAMAGE.search(text)) and not _METADATA.search(text)


class Diagnostics:
    """What the decoders said while one file was read (lines, control characters escaped)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str) -> None:
        """Keep each non-empty line of ``text``, escaped, without repeats."""
        for line in text.splitlines():
            line = printable(line.strip())
            if line and line not in self.lines:
                self.lines.append(line)

    def settle(self, name: str) -> None:
        """Raise InputError for the first damage report; log the rest as warnings naming the file."""
        damage = [line for line in self.lines if is_damage(line)]
        if damage:
            raise InputError(f"{name} is truncated or corrupt: {damage[0]}", "re-export or re-download it")
        for line in self.lines:
            log.warning("%s: %s", name, line)


@contextmanager
def decode_guard(name: str) -> Iterator[Diagnostics]:
    """Serialize one decode; collect Pillow warnings and stderr lines; then :meth:`Diagnostics.settle`.

    ``name`` is the file's display name (already escaped). Exceptions from the body pass
    through unchanged (the caller turns them into InputErrors); diagnostics are settled only
    when the body succeeded.
    """
    diag = Diagnostics()
    with _LOCK, warnings.catch_warnings(record=True) as caught, _stderr_into(diag):
        warnings.simplefilter("always")
        yield diag
    for item in caught:
        diag.add(f"{item.category.__name__}: {item.message}")
    diag.settle(name)


_capture_fd: list[int] = []


def _capture_file() -> int | None:
    """One reusable temporary file (descriptor) for stderr capture, or None if none can be made."""
    if not _capture_fd:
        try:
            fd, path = tempfile.mkstemp(prefix=".bbcu-stderr-")
            os.unlink(path)
        except OSError:
            return None
        _capture_fd.append(fd)
    return _capture_fd[0]


@contextmanager
def _stderr_into(diag: Diagnostics) -> Iterator[None]:
    """Point file descriptor 2 at a temporary file for the body; its text goes to ``diag``."""
    fd = _capture_file()
    try:
        saved = os.dup(2) if fd is not None else None
    except OSError:  # stderr is closed: nothing to capture
        saved = None
    if fd is None or saved is None:
        yield
        return
    _flush_stderr()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        _flush_stderr()
        os.dup2(saved, 2)
        os.close(saved)
        diag.add(_captured_text(fd))


def _flush_stderr() -> None:
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _captured_text(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, _MAX_CAPTURE)
    if b"\x1b[" in data:  # terminal output of another thread (a progress bar): give it back
        os.write(2, data)
        return ""
    return data.decode("utf-8", "replace")
