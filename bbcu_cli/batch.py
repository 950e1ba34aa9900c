"""Batch planning: expand inputs, decide each output path, match references.

Pure path logic (no pixels): testable without models or images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, UsageError

__all__ = ["BatchItem", "expand_inputs", "plan_outputs", "default_suffix", "match_reference", "select_shard"]

_STDIO = "-"


@dataclass
class BatchItem:
    """One image to process: where it comes from, where it goes, its reference (if any).

    ``error`` is set for an input argument that yields no image (missing path, folder without
    images, pattern matching nothing): the batch reports it as failed and goes on.
    """

    source: Path
    root: Path | None
    output: Path | None = None
    reference: Path | None = None
    error: str | None = None


def default_suffix(task: str, scale: int) -> str:
    """``_x4`` for SR, ``_denoised``, ``_deblocked``."""
    return {"sr": f"_x{scale}", "denoise": "_denoised", "deblock": "_deblocked"}[task]


def expand_inputs(args: list[str], recursive: bool) -> list[BatchItem]:
    """Files, folders (their images; subfolders with ``recursive``) and globs, deduplicated.

    An argument that yields no image becomes an item with ``error`` set, so the other inputs
    are still processed.

    Raises:
        InputError: no input arguments at all.
    """
    from .imageio import list_images

    items: list[BatchItem] = []
    seen: set[Path] = set()
    for arg in args:
        root = Path(arg) if Path(arg).is_dir() else None
        try:
            paths = list_images([arg], recursive)
        except InputError as exc:
            items.append(BatchItem(Path(arg), root, error=str(exc)))
            continue
        for path in paths:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                items.append(BatchItem(path, root))
    if not items:
        raise InputError("no input images given", "pass image files, folders or glob patterns")
    return items


def _output_name(item: BatchItem, suffix: str, ext: str | None) -> str:
    return f"{item.source.stem}{suffix}{ext if ext else item.source.suffix}"


def _is_folder_target(output: str, items: list[BatchItem]) -> bool:
    if len(items) > 1 or any(i.root is not None for i in items):
        return True
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def plan_outputs(items: list[BatchItem], output: str | None, suffix: str, ext: str | None) -> None:
    """Fill ``item.output``: beside the input by default, or the file/folder given by ``-o``.

    With a folder target, images found under an input folder keep their relative sub-path.
    ``ext`` (".png", ...) replaces the input's extension. Raises ``UsageError`` if an output
    would overwrite an input or two inputs map to the same output.
    """
    if output == _STDIO and len(items) > 1:
        raise UsageError("'-o -' (stdout) takes a single input", "give one input, or an output folder")
    folder = output is not None and output != _STDIO and _is_folder_target(output, items)
    for item in items:
        if item.error is not None:
            continue
        name = _output_name(item, suffix, ext)
        if output is None:
            item.output = item.source.with_name(name)
        elif output == _STDIO:
            item.output = Path(_STDIO)
        elif folder:
            rel = item.source.parent.relative_to(item.root) if item.root else Path()
            item.output = Path(output) / rel / name
        else:
            item.output = Path(output)
    _check_collisions(items)


def _check_collisions(items: list[BatchItem]) -> None:
    sources = {str(i.source.resolve()) for i in items if str(i.source) != _STDIO and i.error is None}
    targets: dict[str, Path] = {}
    for item in items:
        if item.output is None or str(item.output) == _STDIO:
            continue
        key = str(item.output.resolve())
        if key in sources:
            raise UsageError(f"output {item.output} is an input file", "choose another -o, --suffix or --format; inputs are never overwritten")
        if key in targets:
            raise UsageError(f"{targets[key]} and {item.source} would both be written to {item.output}", "use an output folder or distinct names")
        targets[key] = item.source


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
            raise UsageError(f"--ref {ref} is one file but there are {len(items)} inputs", "pass a folder of references matched by file stem")
        items[0].reference = path
        return
    if not path.is_dir():
        raise InputError(f"--ref {ref}: no such file or folder", "pass a reference image or a folder of them")
    from .imageio import list_images

    by_stem = {p.stem: p for p in list_images([str(path)], True)}
    for item in items:
        item.reference = by_stem.get(item.source.stem)


def select_shard(items: list[BatchItem], shard: str | None) -> list[BatchItem]:
    """``--shard I/N`` keeps items ``I-1, I-1+N, ...`` of the sorted list (I from 1 to N)."""
    if not shard:
        return items
    try:
        i_str, n_str = shard.split("/")
        index, count = int(i_str), int(n_str)
    except ValueError:
        raise UsageError(f"--shard '{shard}' is not I/N", "for example --shard 2/8") from None
    if count < 1 or not 1 <= index <= count:
        raise UsageError(f"--shard {shard}: need 1 <= I <= N", "for example --shard 1/3, 2/3, 3/3")
    ordered = sorted(items, key=lambda it: str(it.source))
    return ordered[index - 1 :: count]
