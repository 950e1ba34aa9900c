"""The words of one finished item's line: ``ok a.png -> b.png  0.50 s  sigma 0.8  kept as is:
looks clean``, ``failed ...``, ``skipped ...`` (see :func:`item_line`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import printable

if TYPE_CHECKING:  # only for annotations: keeps numpy, the image codecs and Rich out of start-up
    from rich.text import Text

    from ..batch.item import ItemResult

__all__ = ["item_line", "weight_text", "variant_text", "SKIP_REASON"]

#: why an item is ``skipped``: its output is there already (the default rule everywhere)
SKIP_REASON = "output exists (pass --overwrite to replace it)"


def _metrics_text(item: ItemResult) -> str:
    if item.psnr is None:
        return ""
    psnr = "inf" if not math.isfinite(item.psnr) else f"{item.psnr:.2f}"
    return f"  PSNR {psnr} dB  SSIM {item.ssim:.4f}"


#: the ok-line words for an item's ``variant`` (none for ``robust``: the model itself)
_VARIANT_NOTES = {
    "clean": "input looks cleanly downscaled: clean variant",
    "alias": "input looks aliased: alias variant",
    "mixed": "frames restored by different variants",
}


#: from this JPEG quality a deblocker keeps its input as is: the last row of
#: ``batch.restore.DEBLOCK_WEIGHTS``, not imported here because that module loads numpy and this
#: one is on the start-up path (a test ties the two)
_DEBLOCK_KEEPS = 95.0


def weight_text(item: ItemResult) -> str:
    """How much of the model's change an item kept, in words; "" when all of it (or for SR).

    ``kept as is: looks clean`` / ``change x0.45 (little noise)`` for a denoiser (its noise level
    is the ``sigma`` beside it; a JPEG under quality 95 adds ``JPEG quality about 30: try bbcu
    deblock``, as compression hides noise but leaves blocks), ``kept as is: JPEG quality about
    96`` / ``change x0.60 (JPEG quality about 75)`` for a deblocker
    (:func:`bbcu_cli.batch.restore.residual_weight`).
    """
    if item.weight is None or item.weight >= 1.0:
        return ""
    if item.sigma is not None:
        why = "looks clean" if item.weight == 0.0 else "little noise"
        if item.jpeg_quality is not None and item.jpeg_quality < _DEBLOCK_KEEPS:
            why += f"; JPEG quality about {item.jpeg_quality:.0f}: try bbcu deblock"
    elif item.jpeg_quality is not None:
        why = f"JPEG quality about {item.jpeg_quality:.0f}"
    else:
        why = "nearly clean input"
    return f"kept as is: {why}" if item.weight == 0.0 else f"change x{item.weight:.2f} ({why})"


def variant_text(item: ItemResult) -> str:
    """Which variant restored an item of a model with a clean variant, in words; "" when the
    model itself did (``robust``) or it has none (:mod:`bbcu_cli.routing`)."""
    return _VARIANT_NOTES.get(item.variant or "", "")


def item_line(item: ItemResult) -> Text:
    """One line for a finished item: ``ok a.png -> out/a_x4.png  0.8 s  PSNR .. SSIM ..``, with
    the noise level and :func:`weight_text` of a denoised or deblocked one and the
    :func:`variant_text` of one restored with a clean variant."""
    from rich.text import Text

    if item.status == "failed":
        return Text.assemble(("failed", "red"), f" {item.error_for_cli()}")
    if item.status == "skipped":
        where = f"{printable(str(item.input))}: {printable(str(item.output))}"
        return Text.assemble(("skipped", "yellow"), f" {where} {SKIP_REASON.split(' (')[0]}")
    extra = f"  {item.seconds:.2f} s" if item.seconds is not None else ""
    if item.sigma is not None:
        extra += f"  sigma {item.sigma:.1f}"
    for note in (weight_text(item), variant_text(item)):
        if note:
            extra += f"  {note}"
    names = f"{printable(str(item.input))} -> {printable(str(item.output))}"  # raw names could rewrite the terminal
    return Text.assemble(("ok", "green"), f" {names}{extra}{_metrics_text(item)}")
