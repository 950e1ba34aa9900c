"""Process-level concerns of the ``bbcu`` command: SIGTERM and closed standard streams.

* SIGTERM (``kill``, ``timeout``, systemd, Slurm, ``docker stop``) is handled like Ctrl-C: the
  item in progress is dropped (its temporary file removed), finished items stay, the summary
  is printed, and the exit code is 143 (128 + SIGTERM; Ctrl-C gives 130). A second SIGTERM
  during that cleanup is ignored; SIGKILL cannot be handled (the next run sweeps what is left).
* A standard stream the process was started without (``>&-``, ``<&-``) is a stream whose every
  use fails with ``EBADF``: writing an image or ``--json`` there becomes a one-line error.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

__all__ = ["Terminated", "terminate_as_interrupt", "exit_code", "ClosedStream", "fill_closed_streams"]

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
