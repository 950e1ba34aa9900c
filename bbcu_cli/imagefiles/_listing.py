"""Input listing: files, folders and glob patterns -> a de-duplicated list of image paths.

Recursion (``-r`` folders and ``**`` patterns) follows symlinked folders but enters each real
folder once (tracked by device and inode), so a symlink loop or a link back to a parent ends
the walk instead of running forever.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

from bbcu_cli.errors import InputError, printable
from bbcu_cli.imagefiles._core import EXT_LIST as _EXT_LIST
from bbcu_cli.imagefiles._core import SUPPORTED_EXTENSIONS

log = logging.getLogger("bbcu_cli.imagefiles")


def list_images(inputs: Sequence[str], recursive: bool) -> list[Path]:
    """Expand files, folders and glob patterns (``* ? [..]``, ``**`` with ``recursive``) to files.

    Folders yield their files with a supported extension (case-insensitive, dot-files skipped),
    sorted, descending into subfolders (not dot-folders) only when ``recursive``; image-named entries that are not
    readable files (broken links, folders) are skipped with a warning. Explicit files are kept whatever
    their extension. Order follows ``inputs``; duplicates are dropped. Raises InputError for a
    missing path, a pattern matching no image, or a folder holding none.
    """
    seen: set[Path] = set()
    out: list[Path] = []
    for item in inputs:
        for found in _expand(item, recursive):
            key = found.resolve()
            if key not in seen:
                seen.add(key)
                out.append(found)
    return out


def _expand(item: str, recursive: bool) -> list[Path]:
    item = str(item)  # tolerate Path objects
    path = Path(item)
    if path.is_dir():
        return _folder_images(path, recursive)
    if path.exists():
        return [path]
    if not any(c in item for c in "*?["):
        raise InputError(f"{item} does not exist", "check the path")
    hits = sorted(_recursive_glob(item) if recursive and "**" in item else glob.glob(item))
    files = [Path(h) for h in hits if Path(h).is_file() and _is_image_name(Path(h))]
    for folder in (Path(h) for h in hits if Path(h).is_dir()):
        files += _folder_images(folder, recursive, must_exist=False)
    if not files:
        raise InputError(f"pattern {item} matches no images", f"images must end in {_EXT_LIST}")
    return files


def _folder_images(folder: Path, recursive: bool, must_exist: bool = True) -> list[Path]:
    entries = [p for p in (walk(folder, enter_hidden=False) if recursive else folder.iterdir()) if _is_image_name(p)]
    files = sorted(p for p in entries if p.is_file())
    for odd in sorted(set(entries) - set(files)):  # a broken link, a link loop, a folder named x.png
        log.warning("skipped %s: not a readable file (broken link or a folder)", printable(str(odd)))
    if not files and must_exist:
        hint = "no subfolder holds any either" if recursive else "pass -r to search subfolders"
        raise InputError(f"folder {folder} holds no images ({_EXT_LIST})", hint)
    return files


def _is_image_name(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower().lstrip(".") in SUPPORTED_EXTENSIONS


def walk(root: Path, enter_hidden: bool = True) -> Iterator[Path]:
    """Every entry below ``root`` (not ``root`` itself), each real folder entered once.

    Symlinked folders are followed; a folder already entered (same device and inode: a loop,
    or a second link to it) is listed but not entered again. Unreadable folders are skipped
    with a warning that names them. Without ``enter_hidden``, folders whose name starts with
    ``.`` (``.git``, ``.thumbnails``) are listed but not entered.
    """
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            log.warning("skipped folder %s: %s", printable(str(folder)), exc.strerror or exc)
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        for entry in entries:
            path = folder / entry.name
            yield path
            if _is_dir(entry) and (enter_hidden or not entry.name.startswith(".")):
                stack.append(path)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def pattern_base(pattern: str) -> Path | None:
    """The folder above a glob pattern's first wildcard part (``photos/**/*.png`` -> ``photos``,
    ``*.png`` -> ``.``); None when ``pattern`` is an existing path or has no wildcard."""
    if Path(pattern).exists() or not glob.has_magic(pattern):
        return None
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return Path(*parts[:fixed]) if fixed else Path(".")


def _recursive_glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)`` without its endless descent into symlink loops:
    ``**`` matches zero or more folders; names starting with ``.`` match only a pattern part
    that starts with ``.``, as in :mod:`glob`."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    root = Path(*parts[:fixed]) if fixed else Path(".")
    rest = tuple(parts[fixed:])
    if not root.is_dir():
        return []
    prefix = "" if fixed == 0 else str(root)
    found = [path.relative_to(root).parts for path in walk(root)]
    return [os.path.join(prefix, *rel) for rel in found if _matches(rel, rest)] + (
        [prefix] if prefix and rest == ("**",) else []
    )


@lru_cache(maxsize=4096)
def _matches(names: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """Whether the relative path ``names`` matches the pattern ``parts`` (``**`` = any folders)."""
    if not parts:
        return not names
    if parts[0] == "**":
        if _matches(names, parts[1:]):
            return True
        return bool(names) and not names[0].startswith(".") and _matches(names[1:], parts)
    if not names or (names[0].startswith(".") and not parts[0].startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], parts[0]) and _matches(names[1:], parts[1:])
