"""Issue #19: EXIF, PNG text chunks and XMP survive ``bbcu denoise``; ``--strip-metadata``
drops them; the applied EXIF orientation is reset to 1; a lossless input gives lossless WebP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from PIL import Image as PILImage
from PIL import PngImagePlugin

from bbcu_cli.imagefiles import read_image

MODEL = "bbcu-denoise-u2"
MAKE, DATE = "TestCam", "2024:01:02 03:04:05"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'


def _exif(orientation: int = 6) -> PILImage.Exif:
    exif = PILImage.Exif()
    exif[0x010F], exif[0x0132], exif[0x0112] = MAKE, DATE, orientation
    return exif


def _photo(tmp_path: Path, fmt: str) -> Path:
    """A 12x20 photo (turned by EXIF orientation 6) with EXIF, and text chunks for PNG."""
    pixels = np.random.default_rng(3).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    path = tmp_path / f"photo.{fmt}"
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hello bbcu")
    info.add_text("Long", "z" * 3000, zip=True)
    info.add_itxt("Title", "\u00fcn\u00ef", lang="de", tkey="Titel")
    extra = {"pnginfo": info} if fmt == "png" else {"xmp": XMP, "quality": 95}
    PILImage.fromarray(pixels).save(path, exif=_exif(), **extra)
    return path


def _denoise(capsys: pytest.CaptureFixture[str], src: Path, out: Path, *extra: object) -> PILImage.Image:
    res = run_cli(capsys, "denoise", src, "-m", MODEL, "--sigma", 10, "-o", out, "-q", *extra)
    assert res.code == 0, res.err
    return PILImage.open(out)


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_exif_text_and_xmp_survive(capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str) -> None:
    src = _photo(tmp_path, fmt)
    with _denoise(capsys, src, tmp_path / f"out.{fmt}") as out:
        exif = out.getexif()
        assert (exif.get(0x010F), exif.get(0x0132), exif.get(0x0112)) == (MAKE, DATE, 1)
        assert out.size == (12, 20)  # orientation 6 applied once: a turned 20x12 picture
        if fmt == "png":
            assert out.text["Comment"] == "hello bbcu" and out.text["Long"] == "z" * 3000
            assert out.text["Title"] == "\u00fcn\u00ef" and out.text["Title"].tkey == "Titel"
        else:
            assert XMP in out.info.get("xmp", b"")


def test_png_text_chunks_kept_verbatim(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """tEXt, zTXt and iTXt come back as the same chunk types."""
    src = _photo(tmp_path, "png")
    _denoise(capsys, src, tmp_path / "out.png").close()
    kinds = [c for c in (b"tEXt", b"zTXt", b"iTXt", b"eXIf") if c in (tmp_path / "out.png").read_bytes()]
    assert kinds == [b"tEXt", b"zTXt", b"iTXt", b"eXIf"]


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_strip_metadata_drops_them(capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str) -> None:
    src = _photo(tmp_path, fmt)
    with _denoise(capsys, src, tmp_path / f"out.{fmt}", "--strip-metadata") as out:
        assert not out.getexif()
        assert not getattr(out, "text", {}) and "xmp" not in out.info
        assert out.size == (12, 20)


def test_metadata_crosses_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """JPEG's EXIF and XMP go into a PNG output (XMP as its iTXt chunk) and into WebP."""
    src = _photo(tmp_path, "jpg")
    with _denoise(capsys, src, tmp_path / "out.png") as png:
        assert png.getexif().get(0x010F) == MAKE and XMP in read_image(tmp_path / "out.png").metadata.xmp
    with _denoise(capsys, src, tmp_path / "out.webp") as webp:
        assert webp.getexif().get(0x0132) == DATE and XMP in webp.info.get("xmp", b"")


def test_lossless_input_gives_lossless_webp(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _photo(tmp_path, "png")
    _denoise(capsys, src, tmp_path / "out.png").close()
    _denoise(capsys, src, tmp_path / "out.webp").close()
    assert b"VP8L" in (tmp_path / "out.webp").read_bytes()[:4096]
    png, webp = read_image(tmp_path / "out.png"), read_image(tmp_path / "out.webp")
    assert np.array_equal(png.pixels, webp.pixels)
    _denoise(capsys, src, tmp_path / "lossy.webp", "--quality", 80).close()
    assert b"VP8L" not in (tmp_path / "lossy.webp").read_bytes()[:4096]
    jpg = _photo(tmp_path, "jpg")
    _denoise(capsys, jpg, tmp_path / "from_jpeg.webp").close()
    assert b"VP8L" not in (tmp_path / "from_jpeg.webp").read_bytes()[:4096]
