"""Issue #19: alpha edges get no fringe. A red square with a hard alpha edge on black
transparent pixels, upscaled x4 and composited on white, is nowhere darker than the composite
of bicubic-resized premultiplied colour by more than 2 levels (the old way, colour resized as
it is, leaves a dark rim)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from clihelp import run_cli
from PIL import Image as PILImage

from bbcu_cli.batch.alpha import fill_transparent


def _red_square(size: int = 20, inner: tuple[int, int] = (6, 14)) -> np.ndarray:
    rgba = np.zeros((size, size, 4), np.uint8)  # black, fully transparent
    rgba[inner[0] : inner[1], inner[0] : inner[1]] = (255, 0, 0, 255)
    return rgba


def _on_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite in 0..255 floats: ``C * a + 255 * (1 - a)``, with ``colour`` straight (not premultiplied)."""
    a = np.clip(alpha, 0, 1)[..., None]
    return colour * a + 255.0 * (1 - a)


def _premultiplied_bicubic(rgba: np.ndarray, scale: int) -> np.ndarray:
    """The reference: bicubic resize of premultiplied colour and of alpha, composited on white."""
    a = rgba[..., 3:].astype(np.float32) / 255
    premul = rgba[..., :3].astype(np.float32) * a
    size = (rgba.shape[1] * scale, rgba.shape[0] * scale)
    p = cv2.resize(premul, size, interpolation=cv2.INTER_CUBIC)
    alpha = np.clip(cv2.resize(a[..., 0], size, interpolation=cv2.INTER_CUBIC), 0, 1)
    return np.clip(p + 255.0 * (1 - alpha[..., None]), 0, 255)


def test_upscaled_red_square_has_no_dark_fringe(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rgba = _red_square()
    PILImage.fromarray(rgba, "RGBA").save(tmp_path / "square.png")
    res = run_cli(
        capsys, "upscale", tmp_path / "square.png", "-s", 4, "-m", "bbcu-fast-x4", "-o", tmp_path / "up.png", "-q"
    )
    assert res.code == 0, res.err
    out = np.asarray(PILImage.open(tmp_path / "up.png").convert("RGBA")).astype(np.float32)
    ours = np.clip(_on_white(out[..., :3], out[..., 3] / 255), 0, 255)
    reference = _premultiplied_bicubic(rgba, 4)
    assert ours.shape == reference.shape == (80, 80, 3)
    darker = (reference - ours).max()
    assert darker <= 2.0, f"a pixel is {darker:.1f} levels darker than the premultiplied bicubic composite"


def test_straight_colour_resize_would_fail_the_bar() -> None:
    """The check has teeth: plain bicubic of the straight colour leaves a dark rim."""
    rgba = _red_square()
    size = (80, 80)
    colour = cv2.resize(rgba[..., :3].astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    alpha = cv2.resize(rgba[..., 3].astype(np.float32) / 255, size, interpolation=cv2.INTER_CUBIC)
    assert (_premultiplied_bicubic(rgba, 4) - np.clip(_on_white(colour, alpha), 0, 255)).max() > 20


def test_fill_leaves_visible_pixels_alone() -> None:
    rgba = _red_square()
    rgba[6, 6, 3] = 128  # semi-transparent: keeps its own colour
    filled = fill_transparent(rgba[..., :3], rgba[..., 3])
    visible = rgba[..., 3] > 0
    assert np.array_equal(filled[visible], rgba[..., :3][visible])
    assert (filled[~visible] == (255, 0, 0)).all()  # the only colour around is red
    opaque = np.full((4, 4), 255, np.uint8)
    assert fill_transparent(rgba[:4, :4, :3], opaque) is rgba[:4, :4, :3] or np.array_equal(
        fill_transparent(rgba[:4, :4, :3], opaque), rgba[:4, :4, :3]
    )
