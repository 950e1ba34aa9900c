"""OpenCV, imported on first use.

Importing ``cv2`` costs about 0.1 s of start-up, and most runs never need it: it serves 16-bit
PNG/TIFF stills, the strict JPEG check, and the alpha and outscale resizes. Its own log is
silenced on first use (failed decodes come back as None and are reported by us).
"""

from __future__ import annotations

import functools
from types import ModuleType

__all__ = ["opencv"]


@functools.cache
def opencv() -> ModuleType:
    """The ``cv2`` module, imported (and its logging silenced) on the first call."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return cv2
