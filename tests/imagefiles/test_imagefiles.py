"""Tests for bbcu_cli.imagefiles: decoding, atomic writing, listing, helpers."""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageOps

from bbcu_cli import imagefiles
from bbcu_cli.errors import InputError, OutputError
from bbcu_cli.imagefiles import Image, _encode, from_uint, list_images, read_image, to_uint, write_image

RNG = np.random.default_rng(0)


def _rand_image(c: int, depth: int = 8, alpha: bool = False, h: int = 20, w: int = 28) -> Image:
    dtype = np.uint8 if depth == 8 else np.uint16
    ints = RNG.integers(0, np.iinfo(dtype).max + 1, size=(h, w, c + alpha), dtype=dtype)
    px = from_uint(ints)
    return Image(px[..., :c], px[..., c] if alpha else None, depth, "gray" if c == 1 else "rgb", None)


def _smooth_rgb(h: int = 32, w: int = 48) -> Image:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    px = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin(xx / 5)], axis=2).astype(np.float32)
    return Image(px, None, 8, "rgb", None)


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", zlib.compress(b"\0" * 10))


@pytest.mark.parametrize("fmt", ["png", "webp", "bmp", "tiff"])
@pytest.mark.parametrize("c", [1, 3])
def test_lossless_roundtrip_8bit(tmp_path: Path, fmt: str, c: int) -> None:
    img = _rand_image(c)
    path = tmp_path / f"x.{fmt}"
    write_image(path, img, quality=100)
    back = read_image(path)
    assert back.bit_depth == 8 and back.source_format == fmt and back.alpha is None
    if fmt == "webp" and c == 1:  # WebP has no gray: written as R = G = B
        assert back.mode == "rgb"
        np.testing.assert_array_equal(back.pixels, np.repeat(img.pixels, 3, axis=2))
    else:
        assert back.mode == img.mode and back.pixels.dtype == np.float32
        np.testing.assert_array_equal(back.pixels, img.pixels)  # shapes must match too


@pytest.mark.parametrize("c", [1, 3])
def test_jpeg_roundtrip_with_tolerance(tmp_path: Path, c: int) -> None:
    img = _smooth_rgb()
    if c == 1:
        img = Image(img.pixels[..., :1].copy(), None, 8, "gray", None)
    write_image(tmp_path / "x.jpg", img, quality=95)
    back = read_image(tmp_path / "x.jpg")
    assert back.source_format == "jpeg" and back.mode == img.mode
    assert back.pixels.shape == img.pixels.shape
    assert np.abs(back.pixels - img.pixels).mean() < 0.01


@pytest.mark.parametrize("fmt", ["png", "tiff"])
@pytest.mark.parametrize("c,alpha", [(1, False), (3, False), (3, True)])
def test_16bit_roundtrip_exact(tmp_path: Path, fmt: str, c: int, alpha: bool) -> None:
    img = _rand_image(c, depth=16, alpha=alpha)
    write_image(tmp_path / f"deep.{fmt}", img)
    back = read_image(tmp_path / f"deep.{fmt}")
    assert back.bit_depth == 16 and back.mode == img.mode
    np.testing.assert_array_equal(to_uint(back.pixels, 16), to_uint(img.pixels, 16))
    if alpha:
        np.testing.assert_array_equal(to_uint(back.alpha, 16), to_uint(img.alpha, 16))
    else:
        assert back.alpha is None


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16bit_rgb_from_opencv_is_rgb_ordered(tmp_path: Path, ext: str) -> None:
    bgr = RNG.integers(0, 65536, size=(9, 13, 3), dtype=np.uint16)
    (tmp_path / f"cv{ext}").write_bytes(cv2.imencode(ext, bgr)[1].tobytes())
    back = read_image(tmp_path / f"cv{ext}")
    assert back.bit_depth == 16 and back.mode == "rgb"
    np.testing.assert_array_equal(to_uint(back.pixels, 16), bgr[..., ::-1])


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff", "jpg", "bmp"])
def test_alpha_kept_or_dropped(tmp_path: Path, fmt: str) -> None:
    img = _rand_image(3, alpha=True)
    write_image(tmp_path / f"a.{fmt}", img, quality=100)
    back = read_image(tmp_path / f"a.{fmt}")
    if fmt in ("jpg", "bmp"):
        assert back.alpha is None and back.pixels.shape == (20, 28, 3)
    else:
        np.testing.assert_array_equal(back.alpha, img.alpha)
        np.testing.assert_array_equal(back.pixels, img.pixels)


def test_gray_alpha_png_and_palette_modes(tmp_path: Path) -> None:
    la = _rand_image(1, alpha=True)
    write_image(tmp_path / "la.png", la)
    back = read_image(tmp_path / "la.png")
    assert back.mode == "gray" and back.alpha is not None
    gray_pal = PILImage.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("P")
    gray_pal.save(tmp_path / "gp.png")
    assert read_image(tmp_path / "gp.png").mode == "gray"
    colour_pal = PILImage.new("P", (5, 4), 1)
    colour_pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    colour_pal.save(tmp_path / "cp.png")
    cp = read_image(tmp_path / "cp.png")
    assert cp.mode == "rgb" and np.all(cp.pixels[..., 0] == 1.0) and np.all(cp.pixels[..., 1:] == 0)
    PILImage.new("1", (5, 4), 1).save(tmp_path / "bw.png")
    assert read_image(tmp_path / "bw.png").pixels.min() == 1.0
    PILImage.new("CMYK", (5, 4), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")
    cmyk = read_image(tmp_path / "cmyk.jpg")
    assert cmyk.mode == "rgb" and cmyk.pixels[..., 1].mean() < 0.1 and cmyk.pixels[..., 0].mean() > 0.9


def test_exif_orientation_jpeg(tmp_path: Path) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.new("RGB", (40, 20), (200, 10, 10)).save(tmp_path / "o.jpg", exif=exif.tobytes())
    back = read_image(tmp_path / "o.jpg")
    assert back.pixels.shape == (40, 20, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("depth", [8, 16])
def test_exif_orientation_matches_pillow(tmp_path: Path, orientation: int, depth: int) -> None:
    arr = RNG.integers(0, 250, size=(6, 10), dtype=np.uint8 if depth == 8 else np.uint16)
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    PILImage.fromarray(arr).save(path, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(PILImage.open(path)))
    back = read_image(path)
    assert back.bit_depth == depth
    np.testing.assert_array_equal(to_uint(back.pixels[..., 0], depth), expected)


def test_non_ascii_path_with_spaces(tmp_path: Path) -> None:
    folder = tmp_path / "dír ñame"
    folder.mkdir()
    for path in (folder / "ïmage 1.png", folder / "ïmage 2.tiff"):
        img = _rand_image(3, depth=16 if path.suffix == ".tiff" else 8)
        write_image(path, img)
        np.testing.assert_array_equal(read_image(str(path)).pixels, img.pixels)
    assert [p.name for p in list_images([str(folder)], False)] == ["ïmage 1.png", "ïmage 2.tiff"]


def test_streams(tmp_path: Path) -> None:
    img = _rand_image(3)
    buf = io.BytesIO()
    write_image(buf, img, fmt="png")
    back = read_image(io.BytesIO(buf.getvalue()))
    np.testing.assert_array_equal(back.pixels, img.pixels)
    with pytest.raises(OutputError, match="format"):
        write_image(io.BytesIO(), img)


def _bad_files() -> dict[str, bytes]:
    png, jpg, ppm = io.BytesIO(), io.BytesIO(), io.BytesIO()
    PILImage.new("RGB", (4, 4)).save(ppm, "PPM")  # GIF is read since #19: an unsupported format
    PILImage.fromarray(RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(png, "PNG")
    PILImage.fromarray(RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(jpg, "JPEG")
    deep = cv2.imencode(".png", RNG.integers(0, 65535, (64, 64, 3), dtype=np.uint16))[1].tobytes()
    return {
        "empty.png": b"",
        "trunc.png": png.getvalue()[:3000],
        "trunc.jpg": jpg.getvalue()[:2000],
        "trunc16.png": deep[: len(deep) // 2],
        "noise.png": bytes(RNG.integers(0, 256, 500, np.uint8)),
        "notes.jpg": b"hello, this is text\n" * 20,
        "pic.ppm": ppm.getvalue(),
    }


def test_bad_files_raise_input_error_naming_file(tmp_path: Path) -> None:
    for name, data in _bad_files().items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as info:
            read_image(tmp_path / name)
        assert name in str(info.value), (name, str(info.value))
    for missing in (tmp_path / "missing.png", tmp_path):
        with pytest.raises(InputError, match=str(missing.name)):
            read_image(missing)


def test_max_pixels_checked_from_header(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(30000, 30000))
    with pytest.raises(InputError, match=r"huge\.png is 30000x30000 = 900 MP.*max_pixels"):
        read_image(path, max_pixels=10_000_000)
    with pytest.raises(InputError, match="over the max_pixels limit"):
        read_image(path)  # default limit
    small = tmp_path / "small.png"
    write_image(small, _rand_image(3))
    with pytest.raises(InputError, match="560"):
        read_image(small, max_pixels=559)
    assert read_image(small, max_pixels=560).pixels.shape == (20, 28, 3)


def test_atomic_write_success_leaves_no_temp(tmp_path: Path) -> None:
    write_image(tmp_path / "out.png", _rand_image(3))
    write_image(tmp_path / "out.png", _rand_image(1))  # replaces
    assert os.listdir(tmp_path) == ["out.png"]
    assert read_image(tmp_path / "out.png").mode == "gray"


def test_encode_failure_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("encoder exploded")

    monkeypatch.setattr(PILImage.Image, "save", broken)
    monkeypatch.setattr(_encode, "encode_png8", broken)  # 8-bit PNG stills: the compiled writer
    for name in ("out.png", "out.jpg"):
        with pytest.raises(OutputError, match=rf"{name}.*encoder exploded"):
            write_image(tmp_path / name, _rand_image(3))
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError):
        write_image(tmp_path / "out.png", Image(np.zeros((4, 4, 2), np.float32), None, 8, "rgb", None))
    assert os.listdir(tmp_path) == []


def test_disk_full_removes_temp_and_keeps_old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match=r"out\.png.*disk is full"):
        write_image(target, _rand_image(3))
    assert os.listdir(tmp_path) == ["out.png"] and target.read_bytes() == b"old"


def test_write_path_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"x\.ico.*\.ico") as info:  # .gif is written since #19
        write_image(tmp_path / "x.ico", _rand_image(3))
    assert "png" in info.value.hint
    with pytest.raises(OutputError, match="does not exist"):
        write_image(tmp_path / "nope" / "x.png", _rand_image(3))
    assert imagefiles.format_for_path("a.JPG", None) == "jpeg"
    assert imagefiles.format_for_path("a.png", "tif") == "tiff"


def _tree(tmp_path: Path) -> Path:
    for rel in ["b.png", "a.JPG", "c.txt", ".hidden.png", "sub/d.webp", "sub/deeper/e.tif", ".thumbs/t.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_list_images_folders_and_globs(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    names = lambda paths: [p.relative_to(root).as_posix() for p in paths]  # noqa: E731
    assert names(list_images([str(root)], False)) == ["a.JPG", "b.png"]
    assert names(list_images([str(root)], True)) == ["a.JPG", "b.png", "sub/d.webp", "sub/deeper/e.tif"]
    assert names(list_images([str(root / "*.png")], False)) == ["b.png"]
    assert names(list_images([str(root / "**" / "*.tif")], True)) == ["sub/deeper/e.tif"]
    assert names(list_images([str(root / "**" / ".thumbs" / "*.png")], True)) == [".thumbs/t.png"]  # named: kept
    both = list_images([str(root / "b.png"), str(root), str(root / "b.png")], False)
    assert names(both) == ["b.png", "a.JPG"]
    assert names(list_images([str(root / "c.txt")], False)) == ["c.txt"]  # explicit file kept


def test_list_images_errors(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    with pytest.raises(InputError, match="missing.png"):
        list_images([str(root / "missing.png")], False)
    with pytest.raises(InputError, match=r"\*\.bmp"):
        list_images([str(root / "*.bmp")], False)
    with pytest.raises(InputError, match="holds no images") as info:
        list_images([str(root / "empty")], False)
    assert "-r" in info.value.hint and "empty" in info.value.message


def test_list_images_warns_about_what_it_skips(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken link, a folder named like an image and an unreadable subfolder are skipped with
    a warning naming each (they used to vanish from a batch without a word)."""
    root = _tree(tmp_path)
    (root / "broken.png").symlink_to(root / "nowhere.png")
    (root / "folder.png").mkdir()
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        if Path(str(path)).name == "deeper":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    with caplog.at_level("WARNING", logger="bbcu_cli.imagefiles"):
        found = list_images([str(root)], True)
    assert [p.relative_to(root).as_posix() for p in found] == ["a.JPG", "b.png", "sub/d.webp"]
    text = caplog.text
    assert "skipped folder" in text and "deeper: Permission denied" in text
    assert "broken.png: not a readable file" in text and "folder.png: not a readable file" in text


def test_quantize_helpers() -> None:
    all8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint(from_uint(all8), 8), all8)
    some16 = np.arange(0, 65536, 7, dtype=np.uint16)
    np.testing.assert_array_equal(to_uint(from_uint(some16), 16), some16)
    x = np.array([-1.0, 0.5 / 255, 1.5 / 255, 2.0, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(to_uint(x, 8), [0, 0, 2, 255, 0])
    with pytest.raises(ValueError):
        to_uint(x, 12)


def test_channel_helpers() -> None:
    rgb = RNG.random((5, 6, 3), dtype=np.float32)
    gray = imagefiles.rgb_to_gray(rgb)
    assert gray.shape == (5, 6, 1)
    np.testing.assert_allclose(gray[..., 0], 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2], atol=1e-6)
    g3 = imagefiles.gray_to_rgb(gray)
    assert g3.shape == (5, 6, 3) and np.all(g3 == gray)
    np.testing.assert_allclose(imagefiles.collapse_to_gray(g3), gray, atol=1e-7)
    alpha = imagefiles.resize_alpha(RNG.random((5, 6), dtype=np.float32), 4)
    assert alpha.shape == (20, 24) and alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert np.all(imagefiles.resize_alpha(np.ones((3, 3), np.float32), 2) == 1.0)
