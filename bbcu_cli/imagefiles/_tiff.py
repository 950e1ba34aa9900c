"""Deep TIFF (16-bit, 32-bit integer, float samples) through tifffile, page by page.

Reading (:func:`read_page`): every page is decoded on its own (a file written page by page
has no common series), as a viewer shows it: planar samples interleaved, MinIsWhite inverted
(``max - v``), associated (premultiplied) alpha divided out, the page's orientation tag
applied. Gray, gray + alpha, RGB and RGBA pages are read; other photometric kinds are refused.

Writing (:func:`write_pages`): one page per frame, zlib level 1, alpha as an unassociated
extra sample (``ExtraSamples`` = 2, so libtiff and Pillow see alpha), the ICC profile on every
page, and the ASCII descriptive tags of the kept EXIF (the Exif/GPS sub-IFDs are not written).

tifffile is imported on first use (about 0.2 s): only 16-bit and multi-page TIFFs need it.
"""

from __future__ import annotations

from types import ModuleType
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage

from bbcu_cli.imagefiles._orient import orient

__all__ = ["CompressionError", "read_page", "read_pages", "write_pages", "TiffHeader", "tiff_header"]

_MINISWHITE, _MINISBLACK, _RGB = 0, 1, 2
_ASSOCALPHA = 1
_ORIENTATION = 274
#: ASCII TIFF tags of the kept EXIF that a 16-bit TIFF output carries (see ``_meta``)
_ASCII_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)


def _tifffile() -> ModuleType:
    import tifffile

    return tifffile


def read_pages(fh: BinaryIO, count: int | None = None) -> list[np.ndarray]:
    """The first ``count`` pages (all when None) of a TIFF, each as :func:`read_page` gives it."""
    fh.seek(0)
    with _tifffile().TiffFile(fh) as tif:
        pages = list(tif.pages)[: count if count is not None else None]
        for page in pages:
            if int(page.compression) not in _tifffile().TIFF.DECOMPRESSORS:
                raise CompressionError(page.compression.name)
        return [read_page(page) for page in pages]


class CompressionError(ValueError):
    """A page compressed in a way tifffile cannot decode here (LZW, JPEG without imagecodecs)."""


def read_page(page: object) -> np.ndarray:
    """One tifffile page -> ``(H, W[, C])`` samples (C: 1/2 gray[+alpha], 3/4 RGB[+alpha])."""
    photometric = int(page.photometric)  # type: ignore[attr-defined]
    if photometric not in (_MINISWHITE, _MINISBLACK, _RGB):
        raise ValueError(f"photometric interpretation {photometric} is not supported at this bit depth")
    arr = page.asarray()  # type: ignore[attr-defined]
    if int(page.planarconfig) == 2 and int(page.samplesperpixel) > 1:  # type: ignore[attr-defined]
        arr = np.moveaxis(arr, -3, -1)
    arr = arr[..., : (3 if photometric == _RGB else 1) + 1] if arr.ndim == 3 else arr  # colour, alpha
    extras = tuple(int(e) for e in page.extrasamples)  # type: ignore[attr-defined]
    arr = as_displayed(arr, photometric, int(page.bitspersample), extras)  # type: ignore[attr-defined]
    return orient(arr, _orientation(page))


def as_displayed(arr: np.ndarray, photometric: int, bits: int, extras: tuple[int, ...]) -> np.ndarray:
    """Decoded gray/RGB[+alpha] samples as a viewer shows them: MinIsWhite inverted, associated
    (premultiplied) alpha divided out. Either decoder (tifffile, OpenCV) leaves both as stored."""
    if photometric not in (_MINISWHITE, _MINISBLACK, _RGB):
        return arr
    ncol = 3 if photometric == _RGB else 1
    if photometric == _MINISWHITE:
        arr = _invert(arr, bits)
    if arr.ndim == 3 and arr.shape[2] > ncol and extras[:1] == (_ASSOCALPHA,):
        arr = unpremultiply(arr, ncol)
    return arr


def tag_values(tags: dict[int, object]) -> tuple[int, int, tuple[int, ...]]:
    """Photometric, bits per sample and extra samples from a Pillow ``tag_v2``-like mapping."""
    photometric, bits, extras = tags.get(262, _RGB), tags.get(258, (8,)), tags.get(338, ())
    bits = bits if isinstance(bits, tuple) else (bits,)
    extras = extras if isinstance(extras, tuple) else (extras,)
    return int(photometric), int(bits[0]), tuple(int(e) for e in extras)  # type: ignore[call-overload]


def _orientation(page: object) -> int:
    tag = page.tags.get(_ORIENTATION)  # type: ignore[attr-defined]
    try:
        return int(tag.value) if tag is not None else 1
    except (TypeError, ValueError):
        return 1


def _invert(arr: np.ndarray, bits: int) -> np.ndarray:
    """MinIsWhite gray (alpha, if any, untouched) -> MinIsBlack."""
    out = arr.copy()
    gray = out[..., 0] if out.ndim == 3 else out
    if out.dtype.kind == "f":
        gray[...] = 1.0 - gray
    else:
        top = min((1 << bits) - 1, int(np.iinfo(out.dtype).max))
        gray[...] = top - np.minimum(gray, top)
    return out


def unpremultiply(arr: np.ndarray, ncol: int) -> np.ndarray:
    """Colour samples divided by alpha (the last sample), rounded and clipped; alpha 0 -> colour 0."""
    alpha = arr[..., ncol : ncol + 1].astype(np.float64)
    colour = arr[..., :ncol].astype(np.float64)
    top = 1.0 if arr.dtype.kind == "f" else float(np.iinfo(arr.dtype).max)
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(alpha > 0, colour * top / alpha, 0.0)
    straight = np.clip(straight, 0.0, top)
    if arr.dtype.kind != "f":
        straight = np.rint(straight)
    return np.concatenate([straight.astype(arr.dtype), arr[..., ncol : ncol + 1]], axis=2)


def write_pages(fh: BinaryIO, pages: list[np.ndarray], icc: bytes | None, exif: bytes | None) -> None:
    """``pages`` (``(H, W, C)`` uint8/uint16, C 1..4) as one TIFF: one page each."""
    options = _page_options(pages[0].shape[2], icc, exif)
    with _tifffile().TiffWriter(fh) as writer:
        for page in pages:
            writer.write(page[..., 0] if page.shape[2] == 1 else page, **options)


def _page_options(channels: int, icc: bytes | None, exif: bytes | None) -> dict[str, object]:
    options: dict[str, object] = {
        "photometric": "minisblack" if channels <= 2 else "rgb",
        "compression": "zlib",
        "compressionargs": {"level": 1},
        "metadata": None,
        "software": False,
    }
    if channels in (2, 4):
        options["extrasamples"] = ["unassalpha"]
    if icc:
        options["iccprofile"] = icc
    tags = _ascii_tags(exif)
    if tags:
        options["extratags"] = tags
    return options


def _ascii_tags(exif: bytes | None) -> list[tuple[int, int, int, str, bool]]:
    """``(code, dtype 2 = ASCII, count, value, writeonce)`` of the kept EXIF's descriptive tags."""
    if not exif:
        return []
    tags = PILImage.Exif()
    try:
        tags.load(exif)
    except Exception:  # malformed EXIF is dropped, never an error
        return []
    found = [(code, tags.get(code)) for code in _ASCII_TAGS]
    return [(code, 2, 0, value, True) for code, value in found if isinstance(value, str) and value]


class TiffHeader:
    """The little of a lazily opened Pillow image that reading needs, for a TIFF Pillow cannot
    open (16-bit gray + alpha) but tifffile can: size, format, tags, info, frame count, EXIF."""

    format = "TIFF"

    def __init__(self, tags: dict[int, object], size: tuple[int, int], n_frames: int, icc: bytes | None) -> None:
        self.tag_v2 = tags
        self.size = size
        self.n_frames = n_frames
        self.info: dict[str, object] = {"icc_profile": icc} if icc else {}
        self.mode = "LA"

    def getexif(self) -> PILImage.Exif:
        exif = PILImage.Exif()
        for code in (_ORIENTATION,) + _ASCII_TAGS:
            value = self.tag_v2.get(code)
            if isinstance(value, (int, str)):
                exif[code] = int(value) if code == _ORIENTATION else value
        return exif


def tiff_header(fh: BinaryIO) -> TiffHeader | None:
    """A :class:`TiffHeader` for a 9..16-bit integer gray + alpha TIFF, else None."""
    fh.seek(0)
    try:
        with _tifffile().TiffFile(fh) as tif:
            page = tif.pages[0]
            dtype = page.dtype
            ok = dtype is not None and dtype.kind == "u" and dtype.itemsize >= 2 and page.samplesperpixel == 2
            if not ok or int(page.photometric) not in (_MINISWHITE, _MINISBLACK):
                return None
            tags = {tag.code: tag.value for tag in page.tags}
            icc = tags.get(34675)
            size = (int(page.imagewidth), int(page.imagelength))
            return TiffHeader(tags, size, len(tif.pages), icc if isinstance(icc, bytes) else None)
    except Exception:  # not a TIFF tifffile reads either: the caller refuses it
        return None
    finally:
        fh.seek(0)


def readable_tiff_kind(pil: object) -> bool:
    """Whether :func:`read_page` reads the first page: gray or RGB, compressed in a way tifffile
    decodes by itself (no LZW or JPEG without the optional ``imagecodecs``: OpenCV reads those)."""
    tags = getattr(pil, "tag_v2", {})
    kind, compression = tags.get(262, _RGB), tags.get(259, 1)
    if not isinstance(kind, int) or kind not in (_MINISWHITE, _MINISBLACK, _RGB):
        return False
    return isinstance(compression, int) and compression in _tifffile().TIFF.DECOMPRESSORS
