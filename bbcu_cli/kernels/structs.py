"""ctypes mirrors of the argument structs of ``bitconv.h`` (field order matters)."""

from __future__ import annotations

import ctypes

__all__ = ["UnitArgs", "EntryArgs", "ChainArgs", "FinishArgs", "HeadArgs", "PngArgs"]

_P = ctypes.c_void_p
_I = ctypes.c_int32


class UnitArgs(ctypes.Structure):
    """Mirror of ``bc_unit`` in bitconv.h (field order matters)."""

    _fields_ = [
        (n, _I) for n in ("H", "W", "cin", "nw_in", "cout", "co8", "r", "chr", "nw_out", "post_act", "has_bias")
    ] + [
        (n, _P)
        for n in (
            "pin",
            "min",
            "zin",
            "wt",
            "ecorr",
            "alpha",
            "bias",
            "b0",
            "pa",
            "b1",
            "xres",
            "yout",
            "bnext",
            "pout",
            "mout",
            "zout",
            "counts",
        )
    ]


class EntryArgs(ctypes.Structure):
    """Mirror of ``bc_entry`` in bitconv.h."""

    _fields_ = [(n, _I) for n in ("H", "W", "C", "nw", "act")] + [
        (n, _P) for n in ("src", "dst", "bnext", "pout", "mout", "zout")
    ]


class FinishArgs(ctypes.Structure):
    """Mirror of ``bc_finish`` in bitconv.h (the fused full-precision tail and output)."""

    _fields_ = (
        [
            (n, _I)
            for n in (
                "Hc",
                "Wc",
                "cin",
                "cz",
                "r",
                "C",
                "Hx",
                "Wx",
                "sb",
                "mode",
                "y0",
                "y1",
                "x0",
                "x1",
                "dtype",
                "gy0",
                "gx0",
            )
        ]
        + [
            ("k", ctypes.c_float),
            ("dst_row", ctypes.c_int64),
        ]
        + [(n, _P) for n in ("feat", "wt", "bias", "zin", "x", "dst")]
    )


class HeadArgs(ctypes.Structure):
    """Mirror of ``bc_head`` in bitconv.h (the float64 head conv)."""

    _fields_ = [(n, _I) for n in ("H", "W", "cin", "cout")] + [(n, _P) for n in ("src", "wt", "bias", "dst")]


class PngArgs(ctypes.Structure):
    """Mirror of ``bc_png`` in bitconv.h (PNG Paeth filtering)."""

    _fields_ = [("src", _P), ("dst", _P), ("rowbytes", ctypes.c_int64), ("h", _I), ("bpp", _I)]


class ChainArgs(ctypes.Structure):
    """Mirror of ``bc_chain`` in bitconv.h: ``n`` plain units run as a wavefront over row bands
    of ``band`` rows (0: the kernel chooses from the row size), after the optional ``entry``."""

    _fields_ = [("n", _I), ("band", _I), ("entry", ctypes.POINTER(EntryArgs)), ("units", ctypes.POINTER(UnitArgs))]
