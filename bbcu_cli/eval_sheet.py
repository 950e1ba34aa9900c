"""The pictures ``bbcu eval --save`` writes: the comparison sheet (input, baseline, output,
reference side by side, same crop, zoomed) and the PNG writer for the quantized outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import imagefiles
from .eval_data import quantize

__all__ = ["comparison_sheet", "SHEET_CROP", "SHEET_ZOOM", "SHEET_LABEL", "SHEET_GAP"]

SHEET_CROP, SHEET_ZOOM, SHEET_LABEL, SHEET_GAP = 96, 3, 16, 4


def _best_window(ref: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` x ``size`` window of highest variance (channel mean)."""
    luma = ref.astype(np.float64).mean(axis=2)

    def box(a: np.ndarray) -> np.ndarray:
        s = np.pad(a.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        return (s[size:, size:] - s[:-size, size:] - s[size:, :-size] + s[:-size, :-size]) / size**2

    var = box(luma * luma) - box(luma) ** 2
    top, left = np.unravel_index(int(np.argmax(var)), var.shape)
    return int(top), int(left)


def comparison_sheet(panels: list[tuple[str, np.ndarray]], reference: np.ndarray) -> np.ndarray:
    """Panels side by side, each the same crop: the ``c = min(SHEET_CROP, H, W)`` square of
    highest variance in ``reference``, zoomed ``SHEET_ZOOM`` x (nearest), under a ``SHEET_LABEL``
    px white strip with the label (Pillow's default font); panels ``SHEET_GAP`` px apart.
    ``panels`` are ``(label, uint8 (H, W, C))`` pairs, C in {1, 3}, of ``reference``'s size.
    Returns uint8 RGB ``(SHEET_LABEL + z, n z + (n - 1) SHEET_GAP, 3)``, ``z = c SHEET_ZOOM``.
    """
    size = min(SHEET_CROP, reference.shape[0], reference.shape[1])
    top, left = _best_window(reference, size)
    z = size * SHEET_ZOOM
    width = len(panels) * (z + SHEET_GAP) - SHEET_GAP
    sheet = Image.new("RGB", (width, SHEET_LABEL + z), "white")
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for k, (label, img) in enumerate(panels):
        tile = np.broadcast_to(img[top : top + size, left : left + size], (size, size, 3))
        tile = tile.repeat(SHEET_ZOOM, axis=0).repeat(SHEET_ZOOM, axis=1)
        x = k * (z + SHEET_GAP)
        sheet.paste(Image.fromarray(np.ascontiguousarray(tile)), (x, SHEET_LABEL))
        while label and draw.textlength(label, font=font) > z - 4:
            label = label[:-1]
        draw.text((x + 2, 2), label, fill="black", font=font)
    return np.asarray(sheet)


def _label(name: str, psnr: float | None) -> str:
    return name if psnr is None else f"{name} {psnr:.2f} dB"


def _save(path: Path, img_u8: np.ndarray) -> None:
    mode = "gray" if img_u8.shape[2] == 1 else "rgb"
    imagefiles.write_image(path, imagefiles.Image(imagefiles.from_uint(img_u8), None, 8, mode, None))


def _input_panel(degraded: np.ndarray, ref: np.ndarray) -> np.ndarray:
    f = ref.shape[0] // degraded.shape[0]
    return quantize(degraded).repeat(f, axis=0).repeat(f, axis=1)
