"""Every pixel read and write: decoding, atomic encoding, input listing and channel helpers.

Pixels travel as ``(H, W, C)`` float32 in ``[0, 1]`` with ``C = 1`` (gray) or ``3`` (RGB), or
as the decoded uint8/uint16 samples (``read_image(..., raw=True)``; ``write_image`` takes both);
alpha is kept apart as ``(H, W)``. Pillow (through imageio v3's Pillow plugin for writes and for
animations) decodes and encodes everything except 16-bit PNG stills, which go through OpenCV
(Pillow cannot hold 48/64-bit RGB(A)), and 16-bit/float TIFF, which goes through tifffile (OpenCV
reads the LZW/JPEG-compressed ones); EXIF orientation is applied. :func:`read_file` gives every frame of an
animation or multi-page TIFF as an :class:`ImageSequence`; EXIF, XMP and PNG text chunks travel
in :class:`Metadata`.
"""

from bbcu_cli.imagefiles._core import (
    SUPPORTED_EXTENSIONS,
    Image,
    ImageSequence,
    as_depth,
    collapse_to_gray,
    format_for_path,
    from_uint,
    gray_to_rgb,
    resize_alpha,
    rgb_to_gray,
    to_uint,
)
from bbcu_cli.imagefiles._listing import list_images, pattern_base
from bbcu_cli.imagefiles._meta import Metadata
from bbcu_cli.imagefiles._read import DEFAULT_MAX_PIXELS, read_file, read_image
from bbcu_cli.imagefiles._write import write_image

__all__ = [
    "Image",
    "ImageSequence",
    "Metadata",
    "SUPPORTED_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "format_for_path",
    "read_image",
    "read_file",
    "write_image",
    "to_uint",
    "from_uint",
    "list_images",
    "pattern_base",
    "gray_to_rgb",
    "rgb_to_gray",
    "collapse_to_gray",
    "resize_alpha",
    "as_depth",
]
