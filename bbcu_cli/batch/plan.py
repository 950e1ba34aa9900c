"""Batch planning: expand inputs, decide each output path (references and shards: :mod:`.refs`).

Pure path logic (no pixels): testable without models or images.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, UsageError, option, short_names

__all__ = [
    "BatchItem",
    "Listing",
    "expand_inputs",
    "list_inputs",
    "plan_outputs",
    "default_suffix",
    "outscale_suffix",
    "default_folder",
    "check_suffix",
    "strip_own_suffixes",
    "looks_like_output",
    "is_folder_target",
]

_STDIO = "-"
#: the suffixes this tool appends (``_x4``, ``_x1.5``, ``_denoised``, ``_deblocked``), repeated
_OWN_SUFFIX = re.compile(r"(?:_(?:x[1-9](?:\.\d+)?|denoised|deblocked))+$")
#: extensions that name an image file (``-o x.png``): a file target, never a folder
_IMAGE_EXTENSIONS = {
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".gif",
    ".jp2",
    ".heic",
    ".avif",
    ".ppm",
    ".pgm",
    ".exr",
}


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
    error_cli: str | None = None
    """``error`` as the command line words it (settings as flags); None: the same as ``error``."""
    base: Path | None = None
    """For a match of a glob pattern, the folder above its first wildcard: under a folder
    target the match keeps its sub-path below it, as images found in an input folder do."""


@dataclass
class Listing:
    """The images to process and the files left out because this tool wrote them."""

    items: list[BatchItem]
    left_out: list[Path] = field(default_factory=list)


def default_suffix(task: str, scale: int) -> str:
    """``_x4`` for SR, ``_denoised``, ``_deblocked``."""
    return {"sr": f"_x{scale}", "denoise": "_denoised", "deblock": "_deblocked"}[task]


def outscale_suffix(outscale: float) -> str:
    """``_x1.5``, ``_x3`` for ``--outscale`` (same marker as the model scales)."""
    return f"_x{outscale:g}"


def check_suffix(suffix: str) -> str:
    """``--suffix`` as given, refused when it could leave the output folder (``/``, ``..``).

    Raises:
        UsageError: the suffix holds a path separator or ``..``.
    """
    seps = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if any(sep in suffix for sep in seps) or ".." in suffix or "\0" in suffix:
        raise UsageError(
            f"{option('suffix')} {suffix!r} holds a path separator or '..'",
            f"a suffix is part of a file name, e.g. {option('suffix', '_clean')}; use -o to pick a folder",
        )
    return suffix


def strip_own_suffixes(stem: str) -> str:
    """``ARMS_x4`` -> ``ARMS``, ``b00_x2_x4_denoised`` -> ``b00``; other stems unchanged."""
    stripped = _OWN_SUFFIX.sub("", stem)
    return stripped or stem


def looks_like_output(path: Path, extra_suffix: str | None = None) -> bool:
    """Whether ``path`` carries a suffix this tool appends (or this run's ``--suffix``)."""
    if extra_suffix and path.stem.endswith(extra_suffix):
        return True
    return strip_own_suffixes(path.stem) != path.stem


def expand_inputs(args: list[str], recursive: bool) -> list[BatchItem]:
    """Files, folders (their images; subfolders with ``recursive``) and globs, deduplicated.

    Everything is kept (see :func:`list_inputs` for the listing that leaves out this tool's
    outputs). An argument that yields no image becomes an item with ``error`` set.

    Raises:
        InputError: no input arguments at all.
    """
    return list_inputs(args, recursive, leave_out_outputs=False).items


def list_inputs(
    args: list[str],
    recursive: bool,
    leave_out_outputs: bool = True,
    suffix: str | None = None,
    output: str | None = None,
) -> Listing:
    """Like :func:`expand_inputs`, but folders and patterns skip what this tool wrote.

    A file found by listing a folder or matching a pattern is left out when its name carries
    one of the tool's suffixes (``_x4``, ``_x1.5``, ``_denoised``, ``_deblocked``), this run's
    ``suffix``, or when it lies under the ``output`` folder: a rerun never takes its own
    outputs as inputs. Files named explicitly are always kept.

    Raises:
        InputError: no input arguments at all.
    """
    from ..imagefiles import list_images, pattern_base

    listing = Listing([])
    seen: set[Path] = set()
    out_dir = _resolved_folder(output)
    for arg in args:
        root = Path(arg) if Path(arg).is_dir() else None
        try:
            paths = list_images([arg], recursive)
        except InputError as exc:
            listing.items.append(BatchItem(Path(arg), root, error=str(exc), error_cli=exc.for_cli()))
            continue
        listed = not Path(arg).is_file()
        for path in paths:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            if leave_out_outputs and listed and (looks_like_output(path, suffix) or _is_under(key, out_dir)):
                listing.left_out.append(path)
            else:
                listing.items.append(BatchItem(path, root, base=pattern_base(arg)))
    if not listing.items and not listing.left_out:
        raise InputError("no input images given", "pass image files, folders or glob patterns")
    if not listing.items:  # like a folder with no images: nothing to run is an error, not a silent success
        raise InputError(
            f"all {len(listing.left_out)} image(s) found were left out as outputs of bbcu ({short_names(listing.left_out)})",
            "name them in a run of their own, or choose an -o folder outside the inputs",
        )
    return listing


def _resolved_folder(output: str | None) -> Path | None:
    if output is None or output == _STDIO or Path(output).suffix.lower() in _IMAGE_EXTENSIONS:
        return None
    return Path(output).resolve()


def _is_under(path: Path, folder: Path | None) -> bool:
    return folder is not None and folder in path.parents


def _output_name(item: BatchItem, suffix: str, ext: str | None) -> str:
    return f"{item.source.stem}{suffix}{ext if ext else item.source.suffix}"


def is_folder_target(output: str, items: list[BatchItem]) -> bool:
    """Whether ``-o output`` names a folder: several inputs, a folder input, a trailing slash or an existing folder."""
    if len(items) > 1 or any(i.root is not None for i in items):
        return True
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def _check_single_file_target(output: str, items: list[BatchItem]) -> None:
    """``-o name.png`` names one file: refuse it for several inputs or a folder input."""
    if output.endswith(("/", os.sep)) or Path(output).is_dir() or Path(output).suffix.lower() not in _IMAGE_EXTENSIONS:
        return
    count = sum(1 for i in items if i.error is None)
    if count > 1 or any(i.root is not None for i in items):
        what = f"{count} inputs" if count > 1 else "a folder input"
        raise UsageError(
            f"-o {output} names one file but there are {what}",
            f"pass an output folder, e.g. -o {Path(output).with_suffix('')}/, or one input",
        )


def default_folder(root: Path, suffix: str) -> Path:
    """The default output folder for a folder input: a sibling named ``<folder><suffix>``."""
    named = root if root.name not in ("", ".", "..") else root.resolve()
    return named.parent / f"{named.name}{suffix}"


def plan_outputs(items: list[BatchItem], output: str | None, suffix: str, ext: str | None) -> list[BatchItem]:
    """Fill ``item.output``: beside the input by default, or the file/folder given by ``-o``.

    Images found in an input folder go by default to the sibling folder ``<folder><suffix>``
    (``photos/`` -> ``photos_denoised/``), so the input folder never fills with outputs. With
    a folder target, images found under an input folder keep their relative sub-path, and
    matches of a pattern their sub-path below the pattern's first wildcard. ``ext``
    (".png", ...) replaces the input's extension. An input that another input's output would
    replace and whose name carries this tool's suffix (``a_x4.png`` given with ``a.png``) is an
    earlier output: it is dropped from ``items`` and returned. Raises ``UsageError`` if an output
    would overwrite any other input, two inputs map to the same output, or ``-o FILE`` is given
    for several inputs.
    """
    if output == _STDIO and len(items) > 1:
        raise UsageError("'-o -' (stdout) takes a single input", "give one input, or an output folder")
    if output is not None and output != _STDIO:
        _check_single_file_target(output, items)
    folder = output is not None and output != _STDIO and is_folder_target(output, items)
    for item in items:
        if item.error is not None:
            continue
        item.output = _target(item, output, folder, _output_name(item, suffix, ext), suffix)
    dropped = _drop_earlier_outputs(items, suffix)
    _check_collisions(items)
    return dropped


def _target(item: BatchItem, output: str | None, folder: bool, name: str, suffix: str) -> Path:
    if output is None:
        if item.root is not None:
            return default_folder(item.root, suffix) / item.source.parent.relative_to(item.root) / name
        return item.source.with_name(name)
    if output == _STDIO:
        return Path(_STDIO)
    if folder:
        return Path(output) / _below(item.source.parent, item.root or item.base) / name
    return Path(output)


def _below(folder: Path, top: Path | None) -> Path:
    """``folder`` relative to ``top`` (``Path()`` without a top or outside it)."""
    if top is None:
        return Path()
    try:
        return folder.relative_to(top)
    except ValueError:
        return Path()


def _drop_earlier_outputs(items: list[BatchItem], suffix: str) -> list[BatchItem]:
    """Remove inputs that are the planned output of another input and are named like one."""
    targets = {str(i.output.resolve()): i for i in items if i.output is not None and str(i.output) != _STDIO}
    dropped = [
        i
        for i in items
        if i.error is None
        and str(i.source) != _STDIO
        and looks_like_output(i.source, suffix)
        and targets.get(str(i.source.resolve())) not in (None, i)
    ]
    for item in dropped:
        items.remove(item)
    return dropped


def _check_collisions(items: list[BatchItem]) -> None:
    sources = {str(i.source.resolve()) for i in items if str(i.source) != _STDIO and i.error is None}
    targets: dict[str, Path] = {}
    for item in items:
        if item.output is None or str(item.output) == _STDIO:
            continue
        key = str(item.output.resolve())
        if key in sources:
            raise UsageError(
                f"output {item.output} is an input file",
                f"choose another -o, {option('suffix')} or {option('format')}; inputs are never overwritten",
            )
        if key in targets:
            raise UsageError(
                f"{targets[key]} and {item.source} would both be written to {item.output}",
                "name their folder or a pattern instead (subfolders are then kept under -o), or rename one",
            )
        targets[key] = item.source
