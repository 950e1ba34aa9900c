"""What a viewer shows survives a read and a write: TIFF pages, MinIsWhite, premultiplied alpha,
orientation of every frame, colour profiles that fit their pixels, XMP orientation, EXIF pixel
size, and a warning for what the output format cannot hold."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageCms, PngImagePlugin

from bbcu_cli.imagefiles import Image, ImageSequence, read_file, read_image, write_image

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _as(space: bytes, icc: bytes = SRGB) -> bytes:
    """``icc`` with its header's colour space set to ``space`` (a profile that claims it)."""
    return icc[:16] + space + icc[20:]


def _roundtrip(src: Path, out: Path) -> None:
    write_image(out, read_file(src, raw=True))


def test_multipage_gray_tiff_keeps_its_pages(tmp_path: Path) -> None:
    for depth, dtype in ((8, np.uint8), (16, np.uint16)):
        src = tmp_path / f"mt{depth}.tif"
        with tifffile.TiffWriter(src) as w:
            for v in (50, 120, 200):
                w.write(np.full((40, 48), v * (257 if depth == 16 else 1), dtype), photometric="minisblack")
        _roundtrip(src, tmp_path / f"up{depth}.tif")
        with PILImage.open(tmp_path / f"up{depth}.tif") as im:
            assert (im.n_frames, im.size) == (3, (48, 40))
        pages = tifffile.TiffFile(tmp_path / f"up{depth}.tif").pages
        assert [p.shape for p in pages] == [(40, 48)] * 3
        assert [int(p.asarray()[0, 0]) for p in pages] == [v * (257 if depth == 16 else 1) for v in (50, 120, 200)]


def test_16bit_miniswhite_reads_as_shown(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "w.tif", np.full((40, 48), 10000, np.uint16), photometric="miniswhite")
    img = read_image(tmp_path / "w.tif", raw=True)
    assert int(img.pixels[0, 0, 0]) == 65535 - 10000
    write_image(tmp_path / "w2.tif", img)
    page = tifffile.TiffFile(tmp_path / "w2.tif").pages[0]
    assert int(page.photometric) == 1 and int(page.asarray()[0, 0]) == 55535


@pytest.mark.parametrize("ext", [".webp", ".png", ".tif"])
def test_every_frame_is_turned_by_exif_orientation(tmp_path: Path, ext: str) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6
    frames = [PILImage.new("RGB", (32, 48), c) for c in ("red", "blue")]
    frames[0].paste((0, 255, 0), (0, 0, 4, 4))  # top-left marker: turned to the top-right
    src = tmp_path / f"a{ext}"
    extra = {"lossless": True} if ext == ".webp" else {}
    frames[0].save(src, save_all=True, append_images=frames[1:], exif=exif, **extra)
    seq = read_file(src, raw=True)
    assert isinstance(seq, ImageSequence)
    still = read_image(src, raw=True)
    for frame in seq.frames:
        assert frame.pixels.shape[:2] == (32, 48)
    np.testing.assert_array_equal(seq.frames[0].pixels, still.pixels)
    assert tuple(seq.frames[0].pixels[0, -1]) == (0, 255, 0)
    write_image(tmp_path / f"out{ext}", seq)
    with PILImage.open(tmp_path / f"out{ext}") as im:
        assert im.size == (48, 32) and im.getexif().get(0x0112, 1) == 1


def test_16bit_premultiplied_alpha_is_divided_out(tmp_path: Path) -> None:
    a = np.zeros((40, 48, 4), np.uint16)
    a[..., 2], a[..., 3] = 16384, 32768
    tifffile.imwrite(tmp_path / "p.tif", a, photometric="rgb", extrasamples=["assocalpha"])
    img = read_image(tmp_path / "p.tif", raw=True)
    assert int(img.pixels[0, 0, 2]) in (32767, 32768) and int(img.alpha[0, 0]) == 32768
    write_image(tmp_path / "p2.tif", img)
    page = tifffile.TiffFile(tmp_path / "p2.tif").pages[0]
    assert [int(e) for e in page.extrasamples] == [2]  # unassociated alpha, marked
    with PILImage.open(tmp_path / "p2.tif") as im:
        assert im.convert("RGBA").getpixel((5, 5))[2:] in ((127, 128), (128, 128))


def test_16bit_gray_alpha_tiff_output_marks_alpha(tmp_path: Path) -> None:
    a = np.zeros((20, 24, 2), np.uint16)
    a[..., 0], a[..., 1] = 30000, 40000
    tifffile.imwrite(tmp_path / "ga.tif", a, photometric="minisblack", extrasamples=["unassalpha"])
    img = read_image(tmp_path / "ga.tif", raw=True)  # Pillow cannot open it: tifffile reads it
    assert img.mode == "gray" and int(img.pixels[0, 0, 0]) == 30000 and int(img.alpha[0, 0]) == 40000
    write_image(tmp_path / "ga2.tif", img)
    page = tifffile.TiffFile(tmp_path / "ga2.tif").pages[0]
    assert page.shape == (20, 24, 2) and [int(e) for e in page.extrasamples] == [2]


def test_16bit_rgb_tiff_written_page_by_page_is_read(tmp_path: Path) -> None:
    with tifffile.TiffWriter(tmp_path / "s.tif") as w:
        for v in (1000, 2000):
            w.write(np.full((40, 48, 3), v, np.uint16), photometric="rgb")
    seq = read_file(tmp_path / "s.tif", raw=True)
    assert isinstance(seq, ImageSequence)
    assert [int(f.pixels[0, 0, 0]) for f in seq.frames] == [1000, 2000]


def test_16bit_gray_alpha_png_stays_gray(tmp_path: Path) -> None:
    gray, alpha = np.full((20, 24, 1), 30000, np.uint16), np.full((20, 24), 40000, np.uint16)
    write_image(tmp_path / "ga.png", Image(gray, alpha, 16, "gray", None))
    data = (tmp_path / "ga.png").read_bytes()
    assert data[24:26] == bytes([16, 4])  # IHDR: 16 bits, colour type 4 (gray + alpha)
    back = read_image(tmp_path / "ga.png", raw=True)
    assert back.mode == "gray" and int(back.pixels[0, 0, 0]) == 30000 and int(back.alpha[0, 0]) == 40000


def test_16bit_tiff_keeps_icc_and_descriptive_exif(tmp_path: Path) -> None:
    exif = PILImage.Exif()
    exif[0x010F] = "TestCam"
    img = read_image(_write_rgb16(tmp_path / "in.tif"), raw=True)
    img.icc_profile, img.metadata.exif = SRGB, exif.tobytes()
    write_image(tmp_path / "out.tif", img)
    with PILImage.open(tmp_path / "out.tif") as im:
        assert im.info.get("icc_profile") == SRGB
        assert im.getexif().get(0x010F) == "TestCam"


def _write_rgb16(path: Path) -> Path:
    tifffile.imwrite(path, np.full((10, 12, 3), 1234, np.uint16), photometric="rgb")
    return path


def test_cmyk_profile_never_reaches_rgb_output(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    PILImage.new("CMYK", (16, 12), (0, 255, 255, 0)).save(tmp_path / "c.jpg", icc_profile=_as(b"CMYK"))
    with caplog.at_level(logging.WARNING, logger="bbcu_cli.imagefiles"):
        img = read_image(tmp_path / "c.jpg", raw=True)
        write_image(tmp_path / "c.png", img)
    with PILImage.open(tmp_path / "c.png") as im:
        assert im.mode == "RGB" and (im.info.get("icc_profile") or b"")[16:20] != b"CMYK"


def test_gray_profile_dropped_on_rgb_pixels(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    PILImage.new("L", (16, 12), 90).save(tmp_path / "g.png", icc_profile=_as(b"GRAY"))
    with caplog.at_level(logging.WARNING, logger="bbcu_cli.imagefiles"):
        write_image(tmp_path / "g.webp", read_image(tmp_path / "g.png", raw=True))
        write_image(tmp_path / "g2.png", read_image(tmp_path / "g.png", raw=True))
    with PILImage.open(tmp_path / "g.webp") as im:
        assert "icc_profile" not in im.info or not im.info["icc_profile"]
    with PILImage.open(tmp_path / "g2.png") as im:
        assert im.info["icc_profile"][16:20] == b"GRAY"  # gray pixels: the gray profile fits
    assert any("g.webp" in r.getMessage() and "GRAY" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_xmp_orientation_reset_with_exif(tmp_path: Path, fmt: str) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    )
    exif = PILImage.Exif()
    exif[0x0112] = 6
    src = tmp_path / f"x.{fmt}"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    extra = {"pnginfo": info} if fmt == "png" else {"xmp": xmp}
    PILImage.new("RGB", (20, 12), "red").save(src, exif=exif, **extra)
    write_image(tmp_path / f"out.{fmt}", read_image(src, raw=True))
    with PILImage.open(tmp_path / f"out.{fmt}") as im:
        out_xmp = im.info.get("xmp")
        out_xmp = out_xmp.encode() if isinstance(out_xmp, str) else out_xmp
        assert im.size == (12, 20) and im.getexif().get(0x0112) == 1
    assert re.findall(rb'tiff:Orientation="(\d)"', out_xmp) == [b"1"]


def test_exif_pixel_dimensions_follow_the_output(tmp_path: Path) -> None:
    exif = PILImage.Exif()
    exif.get_ifd(0x8769).update({0xA002: 20, 0xA003: 12})
    PILImage.new("RGB", (20, 12), "red").save(tmp_path / "d.jpg", exif=exif)
    img = read_image(tmp_path / "d.jpg", raw=True)
    img.pixels = np.repeat(np.repeat(img.pixels, 2, axis=0), 2, axis=1)
    write_image(tmp_path / "d2.jpg", img)
    with PILImage.open(tmp_path / "d2.jpg") as im:
        ifd = im.getexif().get_ifd(0x8769)
        assert (ifd[0xA002], ifd[0xA003]) == (40, 24)


def test_lost_alpha_and_profile_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    PILImage.new("RGBA", (16, 12), (10, 20, 30, 0)).save(tmp_path / "t.png", icc_profile=SRGB)
    img = read_image(tmp_path / "t.png", raw=True)
    with caplog.at_level(logging.WARNING, logger="bbcu_cli.imagefiles"):
        write_image(tmp_path / "t.jpg", img)
        write_image(tmp_path / "t.gif", img)
        write_image(tmp_path / "t2.png", img)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"{tmp_path / 't.jpg'}: JPEG holds no alpha") for m in messages)
    assert any(m.startswith(f"{tmp_path / 't.gif'}: GIF holds no colour profile") for m in messages)
    assert not any("t2.png" in m for m in messages)


def test_deep_tiff_pages_are_turned_by_their_orientation(tmp_path: Path) -> None:
    page = np.zeros((48, 32, 3), np.uint16)
    page[:4, :4] = 60000  # top-left marker: orientation 6 turns it to the top-right
    with tifffile.TiffWriter(tmp_path / "o.tif") as w:
        for _ in range(2):
            w.write(page, photometric="rgb", extratags=[(0x0112, 3, 1, 6, True)])
    for image in [*read_file(tmp_path / "o.tif", raw=True).frames, read_image(tmp_path / "o.tif", raw=True)]:
        assert image.pixels.shape == (32, 48, 3) and int(image.pixels[0, -1, 0]) == 60000
