"""Metadata carried from the input file to the output: EXIF, XMP, PNG text chunks.

What is read (:func:`read_metadata`): EXIF (JPEG, PNG eXIf, WebP, TIFF tags outside the image
structure), XMP (JPEG APP1, WebP, TIFF tag 700, PNG ``XML:com.adobe.xmp``) and the PNG text
chunks (tEXt, zTXt, iTXt) as their raw chunk bodies, so they are written back unchanged. The
EXIF orientation is applied to the pixels when reading, so the kept EXIF says 1.

What is written (:func:`pillow_options`, :func:`add_png_chunks`): PNG gets eXIf and the text
chunks verbatim (XMP from another format as an iTXt chunk) and, for the 16-bit path, iCCP;
JPEG and WebP get EXIF and XMP; TIFF gets EXIF; BMP and GIF hold none of these.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from PIL import Image as PILImage

__all__ = [
    "Metadata",
    "read_metadata",
    "pillow_options",
    "add_png_chunks",
    "png_text_chunks",
    "upright_xmp",
    "with_pixel_size",
]

_ORIENTATION = 0x0112
_XMP_KEY = b"XML:com.adobe.xmp"
_TEXT_TAGS = (b"tEXt", b"zTXt", b"iTXt")
#: TIFF tags that describe the picture, not its pixel layout: kept as EXIF from a TIFF input
_TIFF_DESCRIPTIVE = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)
_EXIF_IFDS = (0x8769, 0x8825)  # the Exif and GPS sub-IFDs
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003  # PixelXDimension, PixelYDimension (Exif sub-IFD)
_XMP_ORIENT_ATTR = re.compile(rb"(tiff:Orientation\s*=\s*[\"'])\s*\d+\s*([\"'])")
_XMP_ORIENT_ELEM = re.compile(rb"(<tiff:Orientation>)\s*\d+\s*(</tiff:Orientation>)")
_MAX_CHUNK_SCAN = 64 << 20  # bytes walked looking for text chunks (stop after IDAT anyway)


@dataclass
class Metadata:
    """Descriptive metadata of a file (ICC lives on :class:`~._core.Image` itself).

    Attributes:
        exif: EXIF as Pillow writes it (``Exif\\0\\0`` + TIFF structure), orientation 1; or None.
        xmp: the XMP packet (UTF-8 XML bytes), or None.
        png_text: raw ``(chunk type, body)`` of every tEXt / zTXt / iTXt chunk of a PNG input,
            in file order (the XMP iTXt chunk included).
    """

    exif: bytes | None = None
    xmp: bytes | None = None
    png_text: list[tuple[bytes, bytes]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.exif or self.xmp or self.png_text)


def read_metadata(pil: PILImage.Image, fh: BinaryIO | None, fmt: str) -> Metadata:
    """EXIF, XMP and (PNG) text chunks of an opened file; never raises for damaged metadata.

    When the EXIF orientation turns the pixels, the XMP ``tiff:Orientation`` is set to 1 too."""
    meta = Metadata(exif=_exif_of(pil, fmt), xmp=_xmp_of(pil))
    if fmt == "png" and fh is not None:
        meta.png_text = png_text_chunks(fh)
        fh.seek(0)
        if meta.xmp is None:
            meta.xmp = _xmp_from_chunks(meta.png_text)
    if _turned(pil):
        meta.xmp = upright_xmp(meta.xmp) if meta.xmp else meta.xmp
        meta.png_text = [(tag, upright_xmp(body) if tag == b"iTXt" else body) for tag, body in meta.png_text]
    return meta


def _turned(pil: PILImage.Image) -> bool:
    """Whether reading applies an EXIF orientation other than 1 to the pixels."""
    try:
        return pil.getexif().get(_ORIENTATION, 1) in range(2, 9)
    except Exception:  # malformed EXIF: nothing is turned
        return False


def upright_xmp(xmp: bytes) -> bytes:
    """``xmp`` with its ``tiff:Orientation`` (attribute or element) set to 1."""
    xmp = _XMP_ORIENT_ATTR.sub(rb"\g<1>1\g<2>", xmp)
    return _XMP_ORIENT_ELEM.sub(rb"\g<1>1\g<2>", xmp)


def with_pixel_size(meta: Metadata, width: int, height: int) -> Metadata:
    """``meta`` whose EXIF PixelXDimension / PixelYDimension (when present) say ``width`` x ``height``."""
    if not meta.exif:
        return meta
    try:
        exif = PILImage.Exif()
        exif.load(meta.exif)
        ifd = exif.get_ifd(_EXIF_IFDS[0])
        if _PIXEL_X not in ifd and _PIXEL_Y not in ifd:
            return meta
        ifd[_PIXEL_X], ifd[_PIXEL_Y] = width, height
        return replace(meta, exif=exif.tobytes())
    except Exception:  # malformed EXIF is written as read
        return meta


def _exif_of(pil: PILImage.Image, fmt: str) -> bytes | None:
    """The file's EXIF with orientation 1 (it is applied on reading), or None."""
    try:
        tags = pil.getexif()  # Pillow's own copy: the decoder still reads its orientation
        exif = _descriptive_tiff_exif(tags) if fmt == "tiff" else _copy(tags)
        if not exif:
            return None
        if _ORIENTATION in exif:
            exif[_ORIENTATION] = 1
        return exif.tobytes()
    except Exception:  # malformed EXIF is dropped, never an error: the pixels are what counts
        return None


def _copy(tags: PILImage.Exif) -> PILImage.Exif:
    """A detached copy of ``tags`` (sub-IFDs included)."""
    exif = PILImage.Exif()
    if tags:
        exif.load(tags.tobytes())
    return exif


def _descriptive_tiff_exif(tags: PILImage.Exif) -> PILImage.Exif:
    """A TIFF's EXIF: its descriptive tags and Exif/GPS sub-IFDs (no strip offsets, sizes...)."""
    exif = PILImage.Exif()
    for tag in _TIFF_DESCRIPTIVE:
        if tag in tags:
            exif[tag] = tags[tag]
    for tag in _EXIF_IFDS:
        ifd = tags.get_ifd(tag) if tag in tags else {}
        if ifd:
            exif.get_ifd(tag).update(ifd)
    return exif


def _xmp_of(pil: PILImage.Image) -> bytes | None:
    xmp = pil.info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return xmp if isinstance(xmp, bytes) and xmp else None


def png_text_chunks(fh: BinaryIO) -> list[tuple[bytes, bytes]]:
    """The tEXt / zTXt / iTXt chunks of a PNG (``fh`` at any position), raw, in file order.

    Stops at IEND, at a damaged chunk header, or after 64 MiB (the CRCs are checked elsewhere).
    """
    fh.seek(8)
    found: list[tuple[bytes, bytes]] = []
    pos = 8
    while pos < _MAX_CHUNK_SCAN:
        header = fh.read(8)
        if len(header) < 8:
            break
        length, tag = struct.unpack(">I4s", header)
        if tag == b"IEND" or length > 0x7FFFFFFF:
            break
        if tag in _TEXT_TAGS:
            found.append((tag, fh.read(length)))
            fh.seek(4, 1)
        else:
            fh.seek(length + 4, 1)
        pos += 12 + length
    return found


def _xmp_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes | None:
    """The XMP packet of an uncompressed ``XML:com.adobe.xmp`` iTXt chunk, or None."""
    for tag, body in chunks:
        if tag == b"iTXt" and body.startswith(_XMP_KEY + b"\0"):
            rest = body[len(_XMP_KEY) + 1 :]
            if rest[:1] == b"\0":  # not compressed: skip method, language and translated key
                return rest[2:].split(b"\0", 2)[-1] or None
    return None


def pillow_options(meta: Metadata, fmt: str) -> dict[str, object]:
    """Keyword arguments of Pillow's encoder for ``fmt`` that carry ``meta`` (PNG: none, see
    :func:`add_png_chunks`)."""
    opts: dict[str, object] = {}
    if fmt in ("jpeg", "webp", "tiff") and meta.exif:
        opts["exif"] = meta.exif
    if fmt in ("jpeg", "webp") and meta.xmp:
        opts["xmp"] = meta.xmp
    return opts


def png_chunks(meta: Metadata, icc: bytes | None = None) -> list[tuple[bytes, bytes]]:
    """The ancillary chunks a PNG output gets for ``meta`` (and ``icc`` as iCCP when given)."""
    chunks: list[tuple[bytes, bytes]] = []
    if icc:
        chunks.append((b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc)))
    if meta.exif:
        chunks.append((b"eXIf", meta.exif[6:] if meta.exif.startswith(b"Exif\0\0") else meta.exif))
    chunks.extend(meta.png_text)
    if meta.xmp and _xmp_from_chunks(meta.png_text) is None:
        chunks.append((b"iTXt", _XMP_KEY + b"\0\0\0\0\0" + meta.xmp))
    return chunks


def add_png_chunks(png: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """``png`` with ``chunks`` inserted right after IHDR (before any PLTE, acTL or IDAT)."""
    if not chunks:
        return png
    end = 8 + 12 + struct.unpack(">I", png[8:12])[0]  # signature + IHDR
    body = b"".join(
        struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data)) for tag, data in chunks
    )
    return png[:end] + body + png[end:]
