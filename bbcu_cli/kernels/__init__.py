"""Compiled XNOR/popcount kernels (optional C extension ``_bitconv``), called through ctypes.

Building: ``pip install .``, ``pip install -e .`` and ``pip wheel .`` compile the extension when
a C compiler is available; a failed compile only warns and the package runs on the float path.
In a source checkout, ``python setup.py build_ext --inplace`` builds it next to this file.

ISA: picked when this module is imported, the best of AVX-512 VPOPCNTDQ, AVX2, NEON, portable
that both the build and the CPU support. ``BBCU_KERNEL_ISA=avx512|avx2|neon|portable`` forces
one; if the CPU lacks it the kernels report unavailable with the reason (no silent downgrade).
AMX: on CPUs with AMX-INT8 (Linux), the AVX-512 ISA runs the units' binary convs on AMX tiles,
bit for bit the same outputs; ``BBCU_KERNEL_AMX=0`` keeps them on VPOPCNTQ (:func:`use_amx`).
ctypes releases the GIL during kernel calls; the kernels use their own pthread pool.
Importing this module never fails: :func:`status` says why the kernels are off.
Developer hook: ``BBCU_KERNEL_LIB=/path/to/lib.so`` loads another build of the same C source
(e.g. one compiled with ``-DBC_EMULATE_AVX512`` to check the AVX-512 code without AVX-512).
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass, field

from ..errors import KernelUnavailable
from .structs import ChainArgs, EntryArgs, FinishArgs, HeadArgs, PngArgs, UnitArgs

__all__ = [
    "ISA_NAMES",
    "KernelStatus",
    "UnitArgs",
    "EntryArgs",
    "FinishArgs",
    "HeadArgs",
    "ChainArgs",
    "status",
    "backend_status",
    "built",
    "usable_isas",
    "select_isa",
    "use_amx",
    "amx_usable",
    "configure_from_env",
    "run_unit",
    "run_entry",
    "run_chain",
    "run_finish",
    "run_head",
    "OUT_DTYPES",
    "FIN_SR",
    "FIN_DN",
    "ACT_NONE",
    "ACT_RELU",
    "ACT_LRELU",
]

ISA_NAMES = ("portable", "avx2", "avx512", "neon")
ACT_NONE, ACT_RELU, ACT_LRELU = 0, 1, 2
FIN_SR, FIN_DN = 0, 1
#: output dtypes of :func:`run_finish` by numpy name
OUT_DTYPES = {"float32": 0, "uint8": 1, "uint16": 2}
_ABI_VERSION = 7
_FEATURES = {1: "popcnt", 2: "avx2", 4: "avx512f", 8: "avx512bw", 16: "avx512vpopcntdq", 32: "neon", 64: "fma"}
_NEEDS = {"avx2": ("avx2", "popcnt"), "avx512": ("avx512f", "avx512bw", "avx512vpopcntdq", "popcnt"), "neon": ("neon",)}


@dataclass
class KernelStatus:
    """Whether the compiled kernels can run, and why not."""

    available: bool
    reason: str
    isa: str
    features: list[str] = field(default_factory=list)
    amx: bool = False  # units' binary convs on AMX tiles

    @property
    def label(self) -> str:
        """The ISA as users see it, e.g. ``avx512`` or ``avx512 + amx``."""
        return f"{self.isa} + amx" if self.amx else self.isa


def _library_path() -> str:
    override = os.environ.get("BBCU_KERNEL_LIB")
    if override:
        return override
    from . import _bitconv  # type: ignore[attr-defined]  # raises ImportError when not built

    return str(_bitconv.__file__)


def _declare(lib: ctypes.CDLL) -> None:
    for name in ("bc_cpu_features", "bc_compiled_isas"):
        getattr(lib, name).restype = ctypes.c_uint
        getattr(lib, name).argtypes = []
    for name in ("bc_abi_version", "bc_best_isa", "bc_get_isa", "bc_amx_usable", "bc_get_amx"):
        getattr(lib, name).restype = ctypes.c_int
        getattr(lib, name).argtypes = []
    for name in ("bc_isa_usable", "bc_set_isa", "bc_set_amx"):
        getattr(lib, name).restype = ctypes.c_int
        getattr(lib, name).argtypes = [ctypes.c_int]
    lib.bc_unit_run.argtypes = [ctypes.POINTER(UnitArgs), ctypes.c_int]
    lib.bc_unit_run.restype = ctypes.c_int
    lib.bc_entry_run.argtypes = [ctypes.POINTER(EntryArgs), ctypes.c_int]
    lib.bc_entry_run.restype = ctypes.c_int
    lib.bc_chain_run.argtypes = [ctypes.POINTER(ChainArgs), ctypes.c_int]
    lib.bc_chain_run.restype = ctypes.c_int
    lib.bc_finish_run.argtypes = [ctypes.POINTER(FinishArgs), ctypes.c_int]
    lib.bc_finish_run.restype = ctypes.c_int
    lib.bc_head_run.argtypes = [ctypes.POINTER(HeadArgs), ctypes.c_int]
    lib.bc_head_run.restype = ctypes.c_int
    lib.bc_png_paeth.argtypes = [ctypes.POINTER(PngArgs), ctypes.c_int]
    lib.bc_png_paeth.restype = ctypes.c_int


_BUILD_HINT = "build it with: pip install -e . or python setup.py build_ext --inplace"


def _not_built_reason() -> str:
    """Why ``_bitconv`` cannot be imported: not built, or built for another Python only (its
    file name then does not match this interpreter's extension suffix)."""
    here = os.path.dirname(os.path.abspath(__file__))
    others = sorted(f for f in os.listdir(here) if f.startswith("_bitconv.") and f.endswith((".so", ".pyd")))
    if others:
        return f"extension not built for this Python ({sys.implementation.cache_tag}; found {', '.join(others)})"
    return "extension not built"


def _load() -> tuple[ctypes.CDLL | None, str]:
    try:
        lib = ctypes.CDLL(_library_path())
        _declare(lib)
    except ImportError:  # the module import found no _bitconv for this interpreter
        return None, f"{_not_built_reason()} ({_BUILD_HINT})"
    except (OSError, AttributeError) as exc:
        return None, f"extension not built: {exc} ({_BUILD_HINT})"
    if lib.bc_abi_version() != _ABI_VERSION:
        return None, f"extension ABI {lib.bc_abi_version()} does not match {_ABI_VERSION}: rebuild it"
    return lib, ""


_LIB, _LOAD_ERROR = _load()
_ISA_ERROR = ""


def _features() -> list[str]:
    if _LIB is None:
        return []
    mask = _LIB.bc_cpu_features()
    return [name for bit, name in _FEATURES.items() if mask & bit]


def built() -> bool:
    """Whether the compiled extension could be loaded (independent of BBCU_KERNEL_ISA)."""
    return _LIB is not None


def usable_isas() -> list[str]:
    """ISAs that are compiled in and supported by this CPU, best first."""
    if _LIB is None:
        return []
    order = ("avx512", "avx2", "neon", "portable")
    return [n for n in order if _LIB.bc_isa_usable(ISA_NAMES.index(n))]


def _current_isa() -> str:
    return ISA_NAMES[_LIB.bc_get_isa()] if _LIB is not None else "none"


def select_isa(name: str) -> None:
    """Force the kernel variant ``name`` for this process.

    Raises:
        KernelUnavailable: extension missing, unknown name, or not usable on this CPU.
    """
    global _ISA_ERROR
    if _LIB is None:
        raise KernelUnavailable(_LOAD_ERROR, "use the float backend")
    if name not in ISA_NAMES:
        raise KernelUnavailable(f"unknown kernel ISA '{name}'", f"use one of {', '.join(ISA_NAMES)}")
    rc = _LIB.bc_set_isa(ISA_NAMES.index(name))
    if rc == -1:
        raise KernelUnavailable(f"kernel ISA '{name}' is not compiled into this build", "use another ISA")
    if rc == -2:
        missing = [f for f in _NEEDS.get(name, ()) if f not in _features()]
        raise KernelUnavailable(f"CPU lacks {', '.join(missing) or name}", f"usable here: {', '.join(usable_isas())}")
    _ISA_ERROR = ""


def amx_usable() -> bool:
    """Whether units can run on AMX tiles here (built in, CPU with AMX-INT8, OS grants it)."""
    return bool(_LIB is not None and _LIB.bc_amx_usable())


def use_amx(on: bool) -> bool:
    """Run units on AMX tiles (where usable) or not; returns whether they now do."""
    if _LIB is None:
        return False
    _LIB.bc_set_amx(1 if on and amx_usable() else 0)
    return bool(_LIB.bc_get_amx())


def configure_from_env() -> None:
    """Apply ``BBCU_KERNEL_ISA`` (or the best ISA when unset) and ``BBCU_KERNEL_AMX``; called at
    import."""
    global _ISA_ERROR
    if _LIB is None:
        return
    use_amx(os.environ.get("BBCU_KERNEL_AMX", "").strip() not in ("0", "off", "no"))
    wanted = os.environ.get("BBCU_KERNEL_ISA", "").strip().lower()
    if not wanted or wanted == "auto":
        _LIB.bc_set_isa(_LIB.bc_best_isa())
        _ISA_ERROR = ""
        return
    try:
        select_isa(wanted)
    except KernelUnavailable as exc:
        _ISA_ERROR = f"BBCU_KERNEL_ISA={wanted} but {exc.message}"


def status() -> KernelStatus:
    """Availability, active ISA and CPU features."""
    if _LIB is None:
        return KernelStatus(False, _LOAD_ERROR, "none", [])
    if _ISA_ERROR:
        return KernelStatus(False, _ISA_ERROR, "none", _features())
    return KernelStatus(True, "", _current_isa(), _features(), bool(_LIB.bc_get_amx()))


def backend_status() -> KernelStatus:
    """:func:`status`, also off when ``BBCU_DISABLE_PACKED`` is set (not empty, not 0)."""
    ks = status()
    disabled = os.environ.get("BBCU_DISABLE_PACKED", "").strip()
    if disabled not in ("", "0"):
        return KernelStatus(False, f"disabled by BBCU_DISABLE_PACKED={disabled}", ks.isa, ks.features, ks.amx)
    return ks


def _check(rc: int, what: str) -> None:
    if rc == -1:
        raise ValueError(f"{what}: invalid arguments")
    if rc != 0:
        raise MemoryError(f"{what}: out of memory")


def run_unit(args: UnitArgs, threads: int) -> None:
    """Run one binary unit (see ``bc_unit`` in bitconv.h) on ``threads`` threads."""
    if _LIB is None or _ISA_ERROR:
        raise KernelUnavailable(status().reason, "use the float backend")
    _check(_LIB.bc_unit_run(ctypes.byref(args), int(threads)), "bc_unit_run")


def run_entry(args: EntryArgs, threads: int) -> None:
    """Activation + NCHW->NHWC + first packing (see ``bc_entry`` in bitconv.h)."""
    if _LIB is None or _ISA_ERROR:
        raise KernelUnavailable(status().reason, "use the float backend")
    _check(_LIB.bc_entry_run(ctypes.byref(args), int(threads)), "bc_entry_run")


def run_chain(args: ChainArgs, threads: int) -> None:
    """Entry (optional) + plain units as a wavefront over row bands (``bc_chain`` in bitconv.h)."""
    if _LIB is None or _ISA_ERROR:
        raise KernelUnavailable(status().reason, "use the float backend")
    _check(_LIB.bc_chain_run(ctypes.byref(args), int(threads)), "bc_chain_run")


def run_finish(args: FinishArgs, threads: int) -> None:
    """Full-precision tail conv (optional) + shuffle + base + output store (``bc_finish``)."""
    if _LIB is None or _ISA_ERROR:
        raise KernelUnavailable(status().reason, "use the float backend")
    _check(_LIB.bc_finish_run(ctypes.byref(args), int(threads)), "bc_finish_run")


def run_head(args: HeadArgs, threads: int) -> None:
    """Full-precision head conv in float64, rounded to float32 (``bc_head`` in bitconv.h)."""
    if _LIB is None or _ISA_ERROR:
        raise KernelUnavailable(status().reason, "use the float backend")
    _check(_LIB.bc_head_run(ctypes.byref(args), int(threads)), "bc_head_run")


def png_paeth(src: int, dst: int, rowbytes: int, rows: int, bpp: int, threads: int) -> bool:
    """PNG Paeth filtering of ``rows`` rows of ``rowbytes`` bytes at address ``src`` into ``dst``
    (``rows`` x ``1 + rowbytes``: filter byte, then the filtered row); ``bpp`` bytes a pixel.
    False when the extension is not built (the caller then lets Pillow encode); plain C, so the
    kernel ISA and ``BBCU_DISABLE_PACKED`` do not matter."""
    if _LIB is None:
        return False
    _check(_LIB.bc_png_paeth(ctypes.byref(PngArgs(src, dst, rowbytes, rows, bpp)), int(threads)), "bc_png_paeth")
    return True


configure_from_env()
