"""Make the metadata of kept weights portable: no absolute path of the training machine.

    python training/portable_metadata.py [--check] [FILE.safetensors ...]

Files: the given ones, by default ``bbcu_cli/weights/bundled/*.safetensors`` and
``training/weights/*.safetensors``. Each file's header metadata goes through
:func:`bbcu_cli.train.checkpoint.portable_metadata` (the rules ``bbcu train`` now exports with:
``datasets/...`` for the shared datasets, repository-relative paths, ``<abs>/NAME`` otherwise).
A ``train_config`` without a ``datasets`` list gets one (:func:`dataset_records` of its data and
validation folders) when its training folders are found here and hold as many images large
enough for its patches as its provenance line names. The tensors are re-saved as read and checked bit for bit (same keys,
dtypes and values) before the file is replaced. The manifest (``bbcu_cli/weights_manifest.json``; the top-level file links to it) then gets
the new ``sha256`` and ``size`` of every rewritten bundled file, and portable strings too.
Idempotent: a file with nothing to change is left as it is.

``--check``: change nothing; list the files that hold an absolute path, exit 1 if any do.
With FILE arguments the manifests are not checked, and updated only when a bundled file was rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bbcu_cli.train.checkpoint import (  # noqa: E402
    dataset_records,
    metadata_absolute_paths,
    portable_metadata,
    portable_value,
    sha256_file,
    value_absolute_paths,
)
from bbcu_cli.train.config import locate_data  # noqa: E402
from bbcu_cli.train.data import list_images  # noqa: E402

BUNDLED = REPO / "bbcu_cli" / "weights" / "bundled"
KEPT = REPO / "training" / "weights"
MANIFESTS = (REPO / "bbcu_cli" / "weights_manifest.json",)  # the top-level file is a link to it
_IMAGE_COUNT = re.compile(r"\((\d+) (?:RGB|gray) images\)")


def shown(path: Path) -> str:
    """``path`` relative to the repository when inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def default_files() -> list[Path]:
    """Every bundled and kept ``.safetensors`` file."""
    return sorted(BUNDLED.glob("*.safetensors")) + sorted(KEPT.glob("*.safetensors"))


def read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and header metadata of a safetensors file."""
    with safe_open(str(path), framework="pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})


def _here(ref: str) -> str:
    """Where a recorded folder is on this machine (relative ones are relative to the repository)."""
    found = locate_data(ref)
    return found if Path(found).is_absolute() else str(REPO / found)


def _with_datasets(meta: dict[str, str]) -> dict[str, str]:
    """``meta`` with a ``datasets`` list in its ``train_config`` when it can be made truthfully."""
    if "train_config" not in meta:
        return meta
    config = json.loads(meta["train_config"])
    if "datasets" in config:
        return meta
    val = config.get("val")
    folders = [_here(d) for d in config["data"]]
    records = dataset_records(folders, None if val in (None, "none") else _here(val))
    named = _IMAGE_COUNT.search(json.loads(meta.get("provenance", "{}")).get("data", ""))
    if (
        named is None
        or int(named.group(1)) != _usable_images(folders, config)
        or not all("sha256" in r for r in records)
    ):
        return meta
    return {**meta, "train_config": json.dumps({**config, "datasets": records})}


def _usable_images(folders: list[str], config: dict[str, Any]) -> int:
    """How many images of ``folders`` are large enough for the run's patches (what its provenance counts)."""
    if not all(Path(f).is_dir() for f in folders):
        return -1
    scale = config["scale"] if config["task"] == "sr" else 1
    return sum(min(_size(f)) // scale >= config["patch"] for f in list_images(folders))


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def _check_same_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    again, written = read(path)
    if set(again) != set(tensors) or written != meta:
        raise SystemExit(f"{path}: keys or metadata differ after rewriting")
    for key, value in tensors.items():
        if again[key].dtype != value.dtype or not torch.equal(again[key], value):
            raise SystemExit(f"{path}: tensor {key} changed")


def rewrite(path: Path) -> bool:
    """Make ``path``'s metadata portable in place (tensors untouched). Returns whether it changed."""
    tensors, meta = read(path)
    new = portable_metadata(_with_datasets(meta))
    if new == meta:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=new)
        _check_same_tensors(tmp, tensors, new)
        tmp.chmod(path.stat().st_mode & 0o777)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def update_manifest(path: Path, rewritten: list[Path]) -> bool:
    """New ``sha256``/``size`` of the rewritten bundled files, portable strings. Returns whether it changed."""
    text = path.read_text()
    manifest = portable_value(json.loads(text))
    files = {p.name: p for p in rewritten if p.parent == BUNDLED}
    for entry in manifest["models"]:
        if entry.get("bundled") and entry["file"] in files:
            entry["sha256"], entry["size"] = sha256_file(files[entry["file"]]), files[entry["file"]].stat().st_size
    new = json.dumps(manifest, indent=2) + "\n"
    if new != text:
        path.write_text(new)
    return new != text


def check(files: list[Path], manifests: tuple[Path, ...]) -> int:
    """List the files holding absolute paths; 1 if any."""
    found = {p: metadata_absolute_paths(read(p)[1]) for p in files}
    found.update({m: value_absolute_paths(json.loads(m.read_text())) for m in manifests})
    bad = {p: paths for p, paths in found.items() if paths}
    for p, paths in bad.items():
        sys.stdout.write(f"{shown(p)}: {', '.join(sorted(set(paths)))}\n")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="safetensors files (default: bundled and kept weights)")
    parser.add_argument("--check", action="store_true", help="only list files with absolute paths; exit 1 if any")
    args = parser.parse_args()
    files = [p.resolve() for p in args.files] or default_files()
    if args.check:
        return check(files, () if args.files else MANIFESTS)
    rewritten = [p for p in files if rewrite(p)]
    for p in rewritten:
        sys.stdout.write(f"rewrote {shown(p)}\n")
    touches_manifest = not args.files or any(p.parent == BUNDLED for p in rewritten)
    for m in MANIFESTS if touches_manifest else ():
        if update_manifest(m, rewritten):
            sys.stdout.write(f"updated {shown(m)}\n")
    sys.stdout.write(f"{len(rewritten)} of {len(files)} files rewritten\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
