"""Colour profiles that fit the pixels they travel with, and what a format cannot hold.

An ICC profile names its colour space in header bytes 16..20 (``RGB ``, ``GRAY``, ``CMYK``...).
A profile is written only over pixels of that space: a GRAY profile over pixels written as RGB
(WebP) is dropped, with a warning naming the file. CMYK input with a CMYK profile is converted
to sRGB through that profile (Pillow's ImageCms) on reading, and no CMYK profile travels on.
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image as PILImage

__all__ = ["profile_space", "checked_profile", "cmyk_to_srgb", "warn_losses"]

log = logging.getLogger("bbcu_cli.imagefiles")
_NO_PROFILE = frozenset({"bmp", "gif"})
_NO_ALPHA = frozenset({"jpeg", "bmp"})


def profile_space(icc: bytes | None) -> str | None:
    """The colour space an ICC profile declares (``"RGB"``, ``"GRAY"``, ``"CMYK"``...), or None."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("latin-1").strip() or None


def checked_profile(icc: bytes | None, gray: bool, target: str) -> bytes | None:
    """``icc`` when its colour space fits pixels written as gray (``gray``) or RGB, else None
    (and a warning naming ``target``)."""
    space = profile_space(icc)
    if icc is None or space is None:
        return icc
    want = "GRAY" if gray else "RGB"
    if space == want:
        return icc
    log.warning(
        "%s: the input's %s colour profile does not fit the %s pixels written; the profile is dropped",
        target,
        space,
        want,
    )
    return None


def cmyk_to_srgb(pil: PILImage.Image) -> tuple[PILImage.Image, bytes | None]:
    """A CMYK image as RGB, through its CMYK profile to sRGB when it has one (no profile is
    returned then: the pixels are sRGB); else Pillow's plain conversion and the profile as is."""
    icc = pil.info.get("icc_profile")
    if profile_space(icc) != "CMYK":
        return pil.convert("RGB"), icc
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(pil, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except Exception as exc:  # no LittleCMS, or a profile it refuses: the plain formula
        warnings.warn(f"its CMYK colour profile could not be applied ({exc}); colours are approximate", stacklevel=2)
        return pil.convert("RGB"), None
    assert converted is not None
    return converted, None


def warn_losses(has_alpha: bool, icc: bytes | None, fmt: str, target: str) -> None:
    """One warning per thing ``fmt`` cannot hold: alpha (JPEG, BMP), a colour profile (BMP, GIF)."""
    if has_alpha and fmt in _NO_ALPHA:
        log.warning(
            "%s: %s holds no alpha; the alpha channel is dropped and transparent areas show the colour "
            "stored under them",
            target,
            fmt.upper(),
        )
    if icc and fmt in _NO_PROFILE:
        log.warning("%s: %s holds no colour profile; the profile is dropped (viewers assume sRGB)", target, fmt.upper())
