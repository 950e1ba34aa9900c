"""File mode for new files written through a temporary file (``mkstemp`` and safetensors
create them 0600): what ``open()`` would give, ``0o666`` minus the process umask."""

from __future__ import annotations

import os

__all__ = ["NEW_FILE_MODE"]


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it
    os.umask(mask)
    return mask


NEW_FILE_MODE = 0o666 & ~_umask()
