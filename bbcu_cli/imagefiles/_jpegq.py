"""The JPEG quality a file was saved at, estimated from its luminance quantization table.

Encoders built on the IJG library (libjpeg, Pillow, OpenCV, most cameras' and apps' "quality"
sliders) scale the example luminance table of the JPEG standard (ITU-T T.81, Annex K.1) by
``s = 5000 / q`` for ``q < 50`` and ``200 - 2q`` above, each entry clamped to 1..255. The
estimate inverts that from the ratio of the table sums, so it is independent of the table's
order and gives an "equivalent IJG quality" for other encoders' tables too. Tables clamped at
255 (q below ~15) or at 1 (q above ~97) read a few points off, which no caller depends on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["estimate_jpeg_quality"]

#: luminance quantization table of T.81 Annex K.1 (natural order); its sum is what matters here
_ANNEX_K_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_ANNEX_K_SUM = sum(map(sum, _ANNEX_K_LUMA))


def estimate_jpeg_quality(tables: Mapping[int, Sequence[int]] | None) -> float | None:
    """IJG-equivalent quality (1..100) of Pillow's ``quantization`` tables (table 0 is
    luminance), or None when there is no usable table.

    Formula: ``s = 100 * sum(Q0) / sum(K1)``; ``q = 5000 / s`` if ``s > 100`` else ``(200 - s) / 2``.
    """
    luma = (tables or {}).get(0)
    if not luma or len(luma) != 64:
        return None
    s = 100.0 * sum(luma) / _ANNEX_K_SUM
    q = 5000.0 / s if s > 100 else (200.0 - s) / 2
    return min(100.0, max(1.0, q))
