"""Issue #19: animated GIF / WebP and multi-page TIFF through ``bbcu upscale -s 2``.

Every frame is restored (the model is deterministic, so each output frame equals that frame
restored alone), the container, frame count, durations and loop count are kept, and
``--first-frame`` writes a still image of the first frame.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from clihelp import run_cli
from PIL import Image as PILImage

MODEL = "bbcu-fast-x2"
DURATIONS = [100, 120, 140, 160, 180]
RNG = np.random.default_rng(19)


def _frames(count: int) -> np.ndarray:
    """``count`` random 8x8 RGB frames: an x2 output has 256 pixels, so a GIF palette holds
    every colour of a frame and the GIF round trip is exact."""
    return RNG.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)


def _timing(path: Path) -> tuple[int, list[float | None], int | None]:
    with PILImage.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()
            durations.append(im.info.get("duration"))
        return im.n_frames, durations, im.info.get("loop")


def _decoded(path: Path) -> list[np.ndarray]:
    """Every frame (page) of ``path`` as RGB uint8, the way a viewer shows it."""
    with PILImage.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
        return out


def _alone(capsys: pytest.CaptureFixture[str], frame: np.ndarray, folder: Path, ext: str) -> np.ndarray:
    """``frame`` restored on its own (a still file of the same format), decoded."""
    src = folder / f"alone{ext}"
    if ext == ".tif":
        iio.imwrite(src, frame, plugin="tifffile")
    else:
        iio.imwrite(src, frame, plugin="pillow", **({"lossless": True} if ext == ".webp" else {}))
    res = run_cli(capsys, "upscale", src, "-s", 2, "-m", MODEL, "-o", folder / f"alone_x2{ext}", "-q", "--overwrite")
    assert res.code == 0, res.err
    return _decoded(folder / f"alone_x2{ext}")[0]


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_animation_keeps_frames_timing_loop(capsys: pytest.CaptureFixture[str], tmp_path: Path, ext: str) -> None:
    frames = _frames(5)
    src = tmp_path / f"anim{ext}"
    extra = {"lossless": True} if ext == ".webp" else {}
    iio.imwrite(src, frames, plugin="pillow", duration=DURATIONS, loop=3, is_batch=True, **extra)
    decoded_in = _decoded(src)
    out = tmp_path / f"anim_x2{ext}"
    res = run_cli(capsys, "upscale", src, "-s", 2, "-m", MODEL, "-o", out, "-q")
    assert res.code == 0, res.err
    count, durations, loop = _timing(out)
    assert (count, durations, loop) == (5, DURATIONS, 3)
    got = _decoded(out)
    for i in range(5):
        assert got[i].shape == (16, 16, 3)
        assert np.array_equal(got[i], _alone(capsys, decoded_in[i], tmp_path, ext)), f"frame {i}"


def test_multipage_tiff_keeps_pages(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pages = _frames(3)
    src = tmp_path / "pages.tif"
    iio.imwrite(src, pages, plugin="tifffile")
    out = tmp_path / "pages_x2.tif"
    res = run_cli(capsys, "upscale", src, "-s", 2, "-m", MODEL, "-o", out, "-q")
    assert res.code == 0, res.err
    got = _decoded(out)
    assert len(got) == 3
    for i in range(3):
        assert np.array_equal(got[i], _alone(capsys, pages[i], tmp_path, ".tif")), f"page {i}"


@pytest.mark.parametrize("ext", [".gif", ".webp", ".tif"])
def test_first_frame_writes_a_still(capsys: pytest.CaptureFixture[str], tmp_path: Path, ext: str) -> None:
    frames = _frames(3)
    src = tmp_path / f"anim{ext}"
    if ext == ".tif":
        iio.imwrite(src, frames, plugin="tifffile")
    else:
        iio.imwrite(src, frames, plugin="pillow", duration=DURATIONS[:3], loop=0, is_batch=True, lossless=True)
    out = tmp_path / f"first{ext}"
    res = run_cli(capsys, "upscale", src, "-s", 2, "-m", MODEL, "-o", out, "-q", "--first-frame")
    assert res.code == 0, res.err
    with PILImage.open(out) as im:
        assert getattr(im, "n_frames", 1) == 1 and im.size == (16, 16)
    assert np.array_equal(_decoded(out)[0], _alone(capsys, _decoded(src)[0], tmp_path, ext))


def test_animation_to_jpeg_is_refused_before_compute(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "anim.gif"
    iio.imwrite(src, _frames(2), plugin="pillow", duration=[50, 50], is_batch=True)
    res = run_cli(capsys, "upscale", src, "-s", 2, "-m", MODEL, "-o", tmp_path / "x.jpg", "--json")
    assert res.code == 1
    assert "--first-frame" in res.out and not (tmp_path / "x.jpg").exists()
