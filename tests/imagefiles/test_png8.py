"""The fast 8-bit PNG writer: Paeth rows (compiled) and zlib pieces deflated on threads."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from bbcu_cli import kernels
from bbcu_cli.imagefiles import Image, Metadata, _png, read_image, write_image

needs_kernel = pytest.mark.skipif(not kernels.built(), reason="compiled extension not built")


def _decoded(data: bytes) -> np.ndarray:
    arr = np.asarray(PILImage.open(io.BytesIO(data)))
    return arr[..., None] if arr.ndim == 2 else arr


def _photo(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: every Paeth branch (left, up, up-left) gets taken."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (yy * 3 + xx * 5)[..., None] + np.arange(c) * 40
    return ((base + rng.integers(0, 9, (h, w, c))) % 256).astype(np.uint8)


@needs_kernel
@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (37, 53, 1), (20, 31, 2), (64, 40, 3), (17, 9, 4), (1, 300, 3), (300, 1, 3)]
)
def test_decodes_to_the_same_samples(shape: tuple[int, int, int]) -> None:
    arr = _photo(*shape)
    data = _png.encode_png8(arr)
    assert data is not None
    assert np.array_equal(_decoded(data), arr)
    filtered = zlib.decompress(data[data.index(b"IDAT") + 4 :])[: 1 + shape[1] * shape[2]]
    assert filtered[0] == 4  # every row says Paeth


@needs_kernel
def test_pieces_on_threads_join_into_one_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deflated in several pieces (small pieces forced), the file decodes as one zlib stream."""
    arr = _photo(120, 97, 3, seed=1)
    one = _png.encode_png8(arr)
    monkeypatch.setattr(_png, "_PIECE_BYTES", 1000)
    for threads in (2, 3, 7):
        _png.set_encode_threads(threads)
        try:
            many = _png.encode_png8(arr)
        finally:
            _png.set_encode_threads(0)
        assert many is not None and many != one
        assert np.array_equal(_decoded(many), arr)


def test_without_the_extension_pillow_writes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "png_paeth", lambda *a, **k: False)
    assert _png.encode_png8(_photo(8, 8, 3)) is None
    out = tmp_path / "p.png"
    arr = _photo(30, 20, 3)
    write_image(out, Image(arr, None, 8, "rgb", None))
    assert np.array_equal(np.asarray(PILImage.open(out)), arr)


@needs_kernel
def test_written_file_keeps_alpha_profile_and_text(tmp_path: Path) -> None:
    """write_image's PNG through the fast encoder: samples, alpha, ICC and text chunks survive."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    arr, alpha = _photo(25, 33, 3), _photo(25, 33, 1, seed=3)[..., 0]
    meta = Metadata(png_text=[(b"tEXt", b"Comment\0kept")])
    out = tmp_path / "a.png"
    write_image(out, Image(arr, alpha, 8, "rgb", None, icc_profile=icc, metadata=meta))
    im = PILImage.open(out)
    assert im.mode == "RGBA" and im.info.get("icc_profile") == icc and im.info.get("Comment") == "kept"
    back = read_image(out)
    assert np.array_equal(np.asarray(im)[..., :3], arr) and np.array_equal(np.asarray(im)[..., 3], alpha)
    assert back.alpha is not None
