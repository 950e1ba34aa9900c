"""Training checkpoints (``last.pt``), warm starts and the end-of-run export.

A checkpoint is a plain dict of tensors and Python data (config as a dict, RNG states as
uint8 tensors), written with ``torch.save`` and read back with ``torch.load(weights_only=True)``.
The export is the project's packed ``.safetensors`` (plus the latent float weights) and a
ready-to-paste manifest entry.

Exported files travel, so they hold no absolute path of the training machine: the exported
``train_config`` is :meth:`TrainConfig.portable_dict` plus a ``datasets`` list that still
identifies the data exactly (:func:`dataset_records`), and every metadata value, JSON or
text, goes through :func:`portable_metadata` (absolute paths rewritten, see
:func:`bbcu_cli.train.config.portable_path`). The run's own ``last.pt`` keeps the exact config.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..errors import InputError, ModelFormatError, OutputError, option
from ..evaluate import list_dataset
from ..loading import ModelSpec, read_state_dict, save_model
from .config import TrainConfig, absolute_paths_in, portable_path, portable_text
from .data import list_images

__all__ = [
    "CKPT_FORMAT",
    "Export",
    "save_checkpoint",
    "load_checkpoint",
    "init_from",
    "export_run",
    "sha256_file",
    "make_run_dir",
    "resume_dir",
    "dataset_records",
    "files_digest",
    "portable_value",
    "portable_metadata",
    "value_absolute_paths",
    "metadata_absolute_paths",
]

CKPT_FORMAT = "bbcu-train-checkpoint-1"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary name, then rename (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save({"format": CKPT_FORMAT, **payload}, tmp)
        tmp.replace(path)
    except OSError as exc:
        raise OutputError(
            f"cannot write checkpoint {path}: {exc}", "check the run folder is writable and the disk not full"
        ) from None


#: what :meth:`bbcu_cli.train.run_state._RunState.resume` reads from a checkpoint
_RESUME_KEYS = ("config", "model", "optimizer", "scheduler", "step", "elapsed", "best", "metrics", "rng")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a training checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        ModelFormatError: missing, unreadable, or not a training checkpoint.
    """
    if not path.is_file():
        raise ModelFormatError(
            f"{path}: no checkpoint to resume from",
            f"run without {option('resume')} first, or pass the right {option('run_dir')}",
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise ModelFormatError(f"{path}: unreadable checkpoint ({str(exc).splitlines()[0][:160]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise ModelFormatError(
            f"{path}: not a bbcu training checkpoint", "resume needs the last.pt written by bbcu train"
        )
    missing = [key for key in _RESUME_KEYS if key not in ckpt]
    if missing:
        raise ModelFormatError(
            f"{path}: damaged training checkpoint (no {', '.join(missing)})",
            f"start a new run with {option('init_from')} on the run's -latent.safetensors, or another {option('run_dir')}",
        )
    return ckpt


def init_from(model: nn.Module, path: str | Path) -> tuple[list[str], list[str]]:
    """Copy every tensor of ``path`` whose name and shape match into ``model``.

    Accepts training checkpoints, official ``.pth`` files and project ``.safetensors``
    (packed weights come back as ``alpha * sign``; prefer the ``-latent`` file).

    Returns:
        ``(loaded, skipped)`` parameter names of ``model``.
    """
    sd, _ = read_state_dict(path)
    own = model.state_dict()
    loaded = [k for k, v in own.items() if k in sd and sd[k].shape == v.shape]
    model.load_state_dict({k: sd[k] for k in loaded}, strict=False)
    return loaded, [k for k in own if k not in set(loaded)]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_digest(files: Sequence[Path]) -> str:
    """sha256 over the ``sha256sum`` listing of ``files`` (in the given, sorted order).

    The listing has one line ``<sha256 of the file's bytes>  <file name>\\n`` per file, so
    ``cd FOLDER && sha256sum $(LC_ALL=C ls | grep IMAGES) | sha256sum`` gives the same digest:
    any change of content, name or membership changes it, a copy elsewhere keeps it.
    """
    listing = "".join(f"{sha256_file(f)}  {f.name}\n" for f in files)
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _images(folder: str, role: str) -> list[Path] | None:
    """Images the loader of ``role`` reads from ``folder`` (``None``: no such folder)."""
    if not Path(folder).is_dir():
        return None
    try:
        return list_dataset(Path(folder)) if role == "val" else list_images([folder])
    except InputError:
        return []


def dataset_records(data: Sequence[str], val: str | None) -> list[dict[str, Any]]:
    """``[{"role", "path", "images", "sha256"}]`` of the training folders and the validation
    folder: portable path (:func:`portable_path`), image count and :func:`files_digest`
    (the whole validation folder; ``val_limit`` in the config says how many were scored).
    A folder not found here gets its portable path only.
    """
    folders = [("train", d) for d in data]
    if val and val.lower() != "none":
        folders.append(("val", val))
    records = []
    for role, folder in folders:
        record: dict[str, Any] = {"role": role, "path": portable_path(folder)}
        files = _images(folder, role)
        if files is not None:
            record.update(images=len(files), sha256=files_digest(files))
        records.append(record)
    return records


def portable_value(value: Any) -> Any:
    """``value`` (JSON-like) with every absolute path in its strings made portable."""
    if isinstance(value, str):
        return portable_text(value)
    if isinstance(value, dict):
        return {portable_text(k): portable_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_value(v) for v in value]
    return value


def _parse_json(text: str) -> Any:
    """The JSON object or list in ``text``, else ``None`` (plain text, numbers, booleans)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def portable_metadata(meta: dict[str, str]) -> dict[str, str]:
    """Safetensors metadata with no absolute path in any value, nested JSON strings included.

    A JSON value is rewritten inside (re-dumped with ``json.dumps`` only when it changed);
    any other value as text. Idempotent.
    """
    out = {}
    for key, text in meta.items():
        parsed = _parse_json(text)
        if parsed is None:
            out[key] = portable_text(text)
            continue
        portable = portable_value(parsed)
        out[key] = text if portable == parsed else json.dumps(portable)
    return out


def value_absolute_paths(value: Any) -> list[str]:
    """Absolute paths in the strings (dict keys included) of a JSON-like ``value``."""
    if isinstance(value, str):
        return absolute_paths_in(value)
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in absolute_paths_in(str(k)) + value_absolute_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in value_absolute_paths(v)]
    return []


def metadata_absolute_paths(meta: dict[str, str]) -> list[str]:
    """Absolute paths left in the metadata values (nested JSON strings included)."""
    found = []
    for text in meta.values():
        parsed = _parse_json(text)
        found += value_absolute_paths(text if parsed is None else parsed)
    return found


def _exported_config(cfg: TrainConfig) -> dict[str, Any]:
    return {**cfg.portable_dict(), "datasets": dataset_records(cfg.data, cfg.val)}


@dataclass
class Export:
    """Files written at the end of a run."""

    weights: Path
    latent: Path
    manifest: Path
    entry: dict[str, Any]


def describe_data(cfg: TrainConfig, num_images: int) -> str:
    """One line of where the training pairs came from."""
    sets = " + ".join(Path(d).name for d in cfg.data)
    if cfg.task == "sr" and cfg.degradation == "mixed":
        mix = json.dumps(cfg.mixed_degradation().to_dict(), separators=(",", ":"))
        how = f"LR x{cfg.scale} per patch by the mixed degradation {mix}, LR patches {cfg.patch}"
    elif cfg.task == "sr":
        how = f"LR by MATLAB bicubic x{cfg.scale}, LR patches {cfg.patch}"
    elif cfg.task == "denoise":
        lo, hi = cfg.sigma_range
        how = f"Gaussian noise, sigma uniform in [{lo:g}, {hi:g}] per patch, patches {cfg.patch}"
    else:
        how = f"OpenCV JPEG, quality per patch from {cfg.jpeg_qualities()}, patches {cfg.patch}"
    colour = "gray" if cfg.in_channels == 1 else "RGB"
    return f"{sets} ({num_images} {colour} images); {how}; batch {cfg.batch}; 8 dihedral augmentations; seed {cfg.seed}"


def _arch_entry(spec: ModelSpec) -> dict[str, Any]:
    return {
        "name": spec.arch,
        "num_feat": spec.num_feat,
        "depth": spec.depth,
        "k": spec.k,
        "in_channels": spec.in_channels,
        "bias": spec.bias,
        "noise_channel": spec.noise_channel,
        "unshuffle": spec.unshuffle,
    }


def export_run(
    run_dir: Path, model: nn.Module, cfg: TrainConfig, provenance: dict[str, Any], metrics: dict[str, Any]
) -> Export:
    """Write ``<name>.safetensors`` (packed), ``<name>-latent.safetensors`` and
    ``manifest_entry.json`` into ``run_dir``, with portable paths only (see module doc)."""
    spec, name = cfg.model_spec(), str(cfg.name)
    weights, latent = run_dir / f"{name}.safetensors", run_dir / f"{name}-latent.safetensors"
    provenance = portable_value(provenance)
    meta = portable_metadata(
        {
            "name": name,
            "provenance": json.dumps(provenance),
            "metrics": json.dumps(metrics),
            "train_config": json.dumps(_exported_config(cfg)),
        }
    )
    save_model(weights, model, spec, meta)
    save_model(latent, model, spec, meta, latent=True)
    entry = {
        "name": name,
        "task": spec.task,
        "scale": spec.scale,
        "arch": _arch_entry(spec),
        "file": weights.name,
        "sha256": sha256_file(weights),
        "size": weights.stat().st_size,
        "urls": [],
        "bundled": True,
        "default": False,
        "format": "bbcu-safetensors",
        "provenance": provenance,
        "metrics": metrics,
        "description": f"{spec.describe()}, trained with bbcu train",
    }
    entry = portable_value(entry)
    manifest = run_dir / "manifest_entry.json"
    manifest.write_text(json.dumps(entry, indent=2) + "\n")
    return Export(weights, latent, manifest, entry)


def state_dict_of(model: nn.Module) -> dict[str, Tensor]:
    """CPU copy of the (unwrapped) model's state dict."""
    inner = getattr(model, "module", model)
    return {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()}


def make_run_dir(path: Path) -> None:
    """Create the run folder (raises :class:`OutputError`)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create run folder {path}: {exc}", f"pick a writable {option('run_dir')}") from None


def resume_dir(cfg: TrainConfig) -> Path:
    """Run folder of ``cfg`` (its default needs a resolvable config, so stopping rules are faked)."""
    if cfg.run_dir:
        return Path(cfg.run_dir)
    probe = cfg if cfg.iters or cfg.time_budget else replace(cfg, iters=1)
    return Path(str(probe.resolved().run_dir))
