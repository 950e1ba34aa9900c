"""Process-level concerns of the ``bbcu`` command: SIGTERM and closed standard streams.

* SIGTERM (``kill``, ``timeout``, systemd, Slurm, ``docker stop``) is handled like Ctrl-C: the
  item in progress is dropped (its temporary file removed), finished items stay, the summary
  is printed, and the exit code is 143 (128 + SIGTERM; Ctrl-C gives 130). A second SIGTERM
  during that cleanup is ignored; SIGKILL cannot be handled (the next run sweeps what is left).
* A standard stream the process was started without (``>&-``, ``<&-``) is a stream whose every
  use fails with ``EBADF``: writing an image or ``--json`` there becomes a one-line error.
* Python-level stderr (Rich, logging) writes through a duplicate of descriptor 2, so that
  :func:`bbcu_cli.imagefiles._guard.decode_guard`, which points descriptor 2 at a file while one
  image is decoded to catch what C decoders print, never takes another thread's status line
  (``--jobs``) for a decoder message about that image.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator, TextIO

__all__ = [
    "Terminated",
    "terminate_as_interrupt",
    "exit_code",
    "ClosedStream",
    "fill_closed_streams",
    "python_stderr_apart",
]

TERMINATED_EXIT = 128 + signal.SIGTERM
INTERRUPTED_EXIT = 130
_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives (a KeyboardInterrupt, so every Ctrl-C
    path, from the batch loop to the temporary-file cleanup, handles it the same way)."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the cleanup finish
    raise Terminated()


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (elsewhere: no-op)."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def exit_code(code: int) -> int:
    """``code``, with the interrupted code 130 turned into 143 when SIGTERM was the cause."""
    return TERMINATED_EXIT if code == INTERRUPTED_EXIT and _received else code


class ClosedStream:
    """Stands in for ``sys.stdout``/``sys.stdin`` when the process has none: every use fails."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.buffer = self

    def _closed(self, *args: object) -> None:
        raise OSError(errno.EBADF, f"{self.name} is closed")

    write = read = readline = fileno = _closed

    def flush(self) -> None:
        """Nothing is ever buffered (and interpreter shutdown flushes without complaint)."""

    def isatty(self) -> bool:
        return False


def fill_closed_streams() -> None:
    """Put a :class:`ClosedStream` where Python found no stdout (stdin stays None: readers check)."""
    if sys.stdout is None:
        sys.stdout = ClosedStream("<stdout>")  # type: ignore[assignment]


_apart: list[TextIO] = []  # one duplicate of descriptor 2 per process, never closed (handlers keep it)


@contextmanager
def python_stderr_apart() -> Iterator[None]:
    """For the body, ``sys.stderr`` writes to a duplicate of descriptor 2 (same terminal or file).

    Only when ``sys.stderr`` is descriptor 2 itself (a real process, not a test runner's
    capture); ``sys.stderr`` is restored afterwards.
    """
    stream = sys.stderr
    apart = _duplicate(stream)
    if apart is None:
        yield
        return
    sys.stderr = apart
    try:
        yield
    finally:
        apart.flush()
        sys.stderr = stream


def _duplicate(stream: TextIO | None) -> TextIO | None:
    if _apart:
        return _apart[0]
    try:
        if stream is None or stream.fileno() != 2:
            return None
        stream.flush()
        fd = os.dup(2)
    except (AttributeError, OSError, ValueError):  # closed, or no descriptor (io.UnsupportedOperation)
        return None
    _apart.append(os.fdopen(fd, "w", buffering=1, encoding=stream.encoding, errors=stream.errors))
    return _apart[0]
