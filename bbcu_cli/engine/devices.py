"""Device and thread selection, and the free-memory estimate used by ``--tile 0``.

Torch is imported only when a torch device is resolved or torch's threads are set: the
torch-free runtime uses :data:`HOST_CPU` and :func:`free_memory_bytes` without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError, option

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "set_threads", "free_memory_bytes", "tune_allocator", "HOST_CPU", "check_device_name"]


@dataclass(frozen=True)
class _HostCpu:
    """The CPU as the torch-free runtime names it (``.type == "cpu"``, prints as ``cpu``)."""

    type: str = "cpu"
    index: None = None

    def __str__(self) -> str:
        return "cpu"


#: the device of the torch-free runtime
HOST_CPU = _HostCpu()

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_tuned: list[bool] = []


def tune_allocator() -> bool:
    """Keep large freed blocks in the process (glibc): big tensors are then reused, not mmapped.

    Every restore allocates tens of MB per torch op (head and tail conv outputs); glibc serves
    such blocks with fresh mmaps whose first touch page-faults. Raising ``M_MMAP_THRESHOLD`` to
    its maximum (32 MiB) and ``M_TRIM_THRESHOLD`` to 1 GiB keeps them in the heap: measured on a
    random 64 x 12 BBCU-P x4 at 320x180 (2 threads), the head conv went from 9.1 to 3.3 ms and
    the tail conv from 22.5 to 16.9 ms. Once per process; Linux/glibc only;
    ``BBCU_MALLOC_TUNING=0`` turns it off. Returns whether it was applied.
    """
    if _tuned:
        return _tuned[0]
    ok = False
    if sys.platform.startswith("linux") and os.environ.get("BBCU_MALLOC_TUNING", "1") != "0":
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
        except (OSError, AttributeError):
            ok = False
    _tuned.append(ok)
    return ok


_DEVICE_RX = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: str | None) -> str:
    """The normalised device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``); UsageError otherwise."""
    name = (name or "auto").strip().lower()
    if not _DEVICE_RX.match(name):
        raise UsageError(f"unknown device '{name}'", f"use {option('device')} auto, cpu, cuda or cuda:N")
    return name


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cpu``; ``cuda`` / ``cuda:N``.

    Raises:
        UsageError: malformed name, or CUDA asked for but not available / index out of range.
    """
    import torch

    name = check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(
                f"device '{name}' requested but CUDA is not available",
                f"use {option('device', 'cpu')}, or install a CUDA build of PyTorch",
            )
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(
                f"device '{name}' does not exist ({torch.cuda.device_count()} GPU(s))",
                "pick an index below the GPU count",
            )
        return dev
    return torch.device("cpu")


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op CPU threads (``None``/0 keeps the default); returns the count in use."""
    if threads is not None and threads < 0:
        raise UsageError(f"{option('threads')} must be >= 0, got {threads}", "0 means one per core")
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def free_memory_bytes(device: Any) -> int:
    """Memory the engine may use: free GPU memory, or available RAM (Linux), else 2 GiB.

    ``device``: a ``torch.device`` or :data:`HOST_CPU` (anything with ``.type``).
    """
    if device.type == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 << 30
