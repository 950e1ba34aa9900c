"""Every pixel read and write: decoding, atomic encoding, input listing and channel helpers.

Pixels travel as ``(H, W, C)`` float32 in ``[0, 1]`` with ``C = 1`` (gray) or ``3`` (RGB), or
as the decoded uint8/uint16 samples (``read_image(..., raw=True)``; ``write_image`` takes both);
alpha is kept apart as ``(H, W)``. Pillow decodes and encodes everything except 16-bit PNG/TIFF, which
go through OpenCV (Pillow cannot hold 48/64-bit RGB(A)); EXIF orientation is applied for both.
"""

from bbcu_cli.imagefiles._core import (
    SUPPORTED_EXTENSIONS,
    Image,
    as_depth,
    collapse_to_gray,
    format_for_path,
    from_uint,
    gray_to_rgb,
    resize_alpha,
    rgb_to_gray,
    to_uint,
)
from bbcu_cli.imagefiles._listing import list_images
from bbcu_cli.imagefiles._read import DEFAULT_MAX_PIXELS, read_image
from bbcu_cli.imagefiles._write import write_image

__all__ = [
    "Image", "SUPPORTED_EXTENSIONS", "DEFAULT_MAX_PIXELS", "format_for_path", "read_image",
    "write_image", "to_uint", "from_uint", "list_images", "gray_to_rgb", "rgb_to_gray",
    "collapse_to_gray", "resize_alpha", "as_depth",
]
