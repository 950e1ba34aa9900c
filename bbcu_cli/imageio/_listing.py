"""Input listing: files, folders and glob patterns -> a de-duplicated list of image paths."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Sequence

from bbcu_cli.errors import InputError
from bbcu_cli.imageio._core import EXT_LIST as _EXT_LIST
from bbcu_cli.imageio._core import SUPPORTED_EXTENSIONS


def list_images(inputs: Sequence[str], recursive: bool) -> list[Path]:
    """Expand files, folders and glob patterns (``* ? [..]``, ``**`` with ``recursive``) to files.

    Folders yield their files with a supported extension (case-insensitive, dot-files skipped),
    sorted, descending into subfolders only when ``recursive``. Explicit files are kept whatever
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
    hits = sorted(glob.glob(item, recursive=recursive))
    files = [Path(h) for h in hits if Path(h).is_file() and _is_image_name(Path(h))]
    for folder in (Path(h) for h in hits if Path(h).is_dir()):
        files += _folder_images(folder, recursive, must_exist=False)
    if not files:
        raise InputError(f"pattern {item} matches no images", f"images must end in {_EXT_LIST}")
    return files


def _folder_images(folder: Path, recursive: bool, must_exist: bool = True) -> list[Path]:
    entries = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(p for p in entries if p.is_file() and _is_image_name(p))
    if not files and must_exist:
        hint = "no subfolder holds any either" if recursive else "pass -r to search subfolders"
        raise InputError(f"folder {folder} holds no images ({_EXT_LIST})", hint)
    return files


def _is_image_name(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower().lstrip(".") in SUPPORTED_EXTENSIONS
