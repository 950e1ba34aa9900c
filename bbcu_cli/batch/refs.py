"""A batch's ``--ref`` references (matched to inputs by file stem) and ``--shard I/N``.

Pure path logic (no pixels), like :mod:`.plan`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InputError, UsageError, option, printable
from .plan import BatchItem, strip_own_suffixes

log = logging.getLogger("bbcu_cli.batch")

__all__ = ["match_reference", "references_by_stem", "select_shard"]


def match_reference(items: list[BatchItem], ref: str | None) -> None:
    """``--ref``: a file (one input) or a folder whose images are matched by file stem.

    Raises:
        InputError: the reference path does not exist, or a file reference with several inputs.
    """
    if ref is None:
        return
    path = Path(ref)
    if path.is_file():
        if len(items) != 1:
            raise UsageError(
                f"{option('ref', ref)} is one file but there are {len(items)} inputs",
                "pass a folder of references matched by file stem",
            )
        items[0].reference = path
        return
    if not path.is_dir():
        raise InputError(f"{option('ref', ref)}: no such file or folder", "pass a reference image or a folder of them")
    by_stem = references_by_stem(path)
    for item in items:
        stem = item.source.stem
        item.reference = by_stem.get(stem) or by_stem.get(strip_own_suffixes(stem))
        if item.reference is None and item.error is None:
            log.warning(
                "no reference for %s in %s: it is restored without PSNR/SSIM", printable(str(item.source)), path
            )


def references_by_stem(folder: Path) -> dict[str, Path]:
    """The images under ``folder`` by file stem; a UsageError when two share one (``a.png``, ``a.jpg``)."""
    from ..imagefiles import list_images

    by_stem: dict[str, Path] = {}
    for found in list_images([str(folder)], True):
        if found.stem in by_stem:
            raise UsageError(
                f"references {by_stem[found.stem]} and {found} share the stem {found.stem!r}",
                "keep one reference per name in the folder",
            )
        by_stem[found.stem] = found
    return by_stem


def select_shard(items: list[BatchItem], shard: str | None) -> list[BatchItem]:
    """``--shard I/N`` keeps items ``I-1, I-1+N, ...`` of the sorted list (I from 1 to N)."""
    if not shard:
        return items
    try:
        i_str, n_str = shard.split("/")
        index, count = int(i_str), int(n_str)
    except ValueError:
        raise UsageError(f"{option('shard')} '{shard}' is not I/N", f"for example {option('shard', '2/8')}") from None
    if count < 1 or not 1 <= index <= count:
        raise UsageError(
            f"{option('shard', shard)}: need 1 <= I <= N", f"for example {option('shard', '1/3')}, 2/3, 3/3"
        )
    ordered = sorted(items, key=lambda it: str(it.source))
    return ordered[index - 1 :: count]
