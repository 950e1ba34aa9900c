"""File -> state dict -> recognised architecture -> ready model (spandrel-style loader).

Reads official ``.pth``/``.pt`` checkpoints with ``torch.load(weights_only=True)`` (never an
unrestricted unpickler) and the project's ``.safetensors`` files; unwraps ``params_ema`` /
``params`` / ``state_dict`` / ``model`` wrappers and ``module.`` prefixes; rebuilds the
hyper-parameters from key names and tensor shapes; loads strictly.

Project format (``.safetensors``): every binary convolution weight is stored as sign bits
(``<prefix>.weight_signbits``, uint8, ``np.packbits`` little bit order over the C_in*3*3 taps
of each output channel, 1 = positive) plus one scale per output channel
(``<prefix>.weight_alpha``, float32) -- 32x smaller than float weights and exactly what the
network computes with. Other tensors are stored as float32. The header metadata holds
``bbcu_format`` and the JSON :class:`ModelSpec`. Latent (training) checkpoints keep the float
binary weights instead (``latent=True``).
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import archs
from . import checkpoint_checks as checks
from .archs.spec import ModelSpec, Task
from .atomicfile import replacing
from .errors import ModelFormatError, UsageError, option
from .routing import Route
from .signbits import FORMAT_VERSION, pack_state_dict, unpack_state_dict

__all__ = [
    "ModelSpec",
    "LoadedModel",
    "build_model",
    "read_state_dict",
    "recognise",
    "load_model",
    "save_model",
    "pack_state_dict",
    "unpack_state_dict",
]


@dataclass
class LoadedModel:
    """A model in eval mode with its spec and where it came from."""

    model: nn.Module
    spec: ModelSpec
    source: str
    metadata: dict[str, str] = field(default_factory=dict)
    route: Route | None = None
    """SR: the clean variant used on cleanly downscaled inputs (:mod:`bbcu_cli.routing`)."""
    copies: int = 1
    """Self-ensemble copies a :class:`~bbcu_cli.engine.restore.Restorer` averages by default: the
    manifest entry's ``copies`` for a model resolved by name, 1 for a file given by path."""


def build_model(spec: ModelSpec) -> nn.Module:
    """Instantiate the (untrained) network described by ``spec`` (check it first: a spec read
    from a file goes through :func:`checkpoint_checks.check_spec` / ``check_fits``)."""
    return archs.family(spec.arch).build(spec)


# ---------------------------------------------------------------- reading


def _sniff(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(16)
    if head[:2] == b"PK":
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def _torch_load(path: Path, kind: str) -> Any:
    """``torch.load(weights_only=True)`` of a zip (checked by :func:`checks.check_zip`) or legacy file.

    The file is passed open, so that torch never picks a loader from the file name (it reads
    any ``*.safetensors`` name as safetensors).
    """
    if kind == "torch":
        checks.check_zip(path)
    elif path.stat().st_size > checks.MAX_TENSOR_BYTES:
        raise ModelFormatError(
            f"{path}: legacy checkpoint of {path.stat().st_size} bytes is over the limit",
            "re-save it with a current torch.save",
        )
    try:
        with path.open("rb") as fh:
            return torch.load(fh, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(
            f"{path}: refused to load: the checkpoint holds Python objects other than tensors ({first[:160]})",
            "only plain tensor checkpoints are accepted; re-save the state dict with torch.save(model.state_dict())",
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        MemoryError,
        IndexError,
        KeyError,
        TypeError,
    ) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(
            f"{path}: not a readable PyTorch checkpoint ({first})",
            "check the file is complete; download or copy it again",
        ) from None


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    meta = checks.read_safetensors_header(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFormatError(
            f"{path}: not a readable safetensors file ({exc})", "check the file is complete"
        ) from None
    return tensors, meta


def _unwrap(obj: Any, path: Path) -> dict[str, Tensor]:
    for key in ("params_ema", "params", "state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ModelFormatError(
            f"{path}: no state dict of tensors found",
            "expected a dict of tensors, possibly under 'params', 'params_ema' or 'state_dict'",
        )
    checks.check_tensors(obj, path)  # string keys before the prefix is stripped
    return {re.sub(r"^module\.", "", k): v for k, v in obj.items()}


def _unpacked(tensors: dict[str, Tensor], path: Path) -> dict[str, Tensor]:
    try:
        sd = unpack_state_dict(tensors)
    except ModelFormatError as exc:
        raise ModelFormatError(f"{path}: {exc.raw_message}", exc.raw_hint) from None
    checks.check_tensors(sd, path)
    return sd


def read_state_dict(path: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read ``path`` into a flat float state dict and its metadata (empty for .pth files).

    Nothing larger than :data:`checkpoint_checks.MAX_TENSOR_BYTES` is decompressed or unpacked;
    keys must be strings and values finite floating-point tensors.

    Raises:
        ModelFormatError: missing/unreadable file, a pickle with non-tensor objects, no tensors,
            over the size limit, sign bits of the wrong length, NaN/inf values.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelFormatError(
            f"{p}: no such weights file", "pass a .pth/.pt/.safetensors file or a model name (bbcu models)"
        )
    kind = _sniff(p)
    if kind == "safetensors":
        tensors, meta = _read_safetensors(p)
        return _unpacked(tensors, p), meta
    if kind in ("torch", "pickle"):
        return _unwrap(_torch_load(p, kind), p), {}
    raise ModelFormatError(
        f"{p}: not a PyTorch or safetensors checkpoint", "expected a .pth/.pt (torch.save) or .safetensors file"
    )


# ---------------------------------------------------------------- recognition


def recognise(sd: dict[str, Tensor], k: float | None = None, task: Task | None = None) -> ModelSpec:
    """Infer the :class:`ModelSpec` from key names and shapes (the family the keys match).

    DnCNN-style files carry no task; without ``task`` a file with conv biases is taken as a
    deblocker (the official ``BBCU-deblocking.pth`` layout) and one without as a denoiser.

    Raises:
        ModelFormatError: the keys match no known architecture, or their shapes do not fit it.
    """
    return archs.recognise(sd, k, task)


def _load_strict(model: nn.Module, sd: dict[str, Tensor], source: str) -> None:
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFormatError(
            f"{source}: weights do not fit the recognised architecture ({first})",
            "the file may be damaged or of another architecture",
        ) from None


def _spec(
    sd: dict[str, Tensor], meta: dict[str, str], k: float | None, task: Task | None, path: str | Path
) -> ModelSpec:
    """The file's declared spec (with ``k``/``task`` overrides) or the one recognised from ``sd``."""
    if "spec" in meta:
        spec = checks.declared_spec(meta, k, task, path)
    else:
        try:
            spec = recognise(sd, k, task)
        except ModelFormatError as exc:
            raise ModelFormatError(f"{path}: {exc.raw_message}", exc.raw_hint) from None
    checks.check_spec(spec, path)
    return spec


def load_model(path: str | Path, k: float | None = None, task: Task | None = None) -> LoadedModel:
    """Load any supported checkpoint into an eval-mode model.

    ``k`` overrides the residual-alignment factor (default: the file's, else 130*num_feat/64);
    ``task`` disambiguates DnCNN-style files (denoise vs deblock); it never turns a model into
    another kind (compare ``spec.task`` with what you asked for).

    The declared or recognised spec is checked against sane bounds and against the tensors'
    names and shapes (on the ``meta`` device) before the model is built.

    Raises:
        UsageError: ``k`` is not a finite number > 0.
        ModelFormatError: see :func:`read_state_dict` and :func:`recognise`; a spec that is not
            JSON, lacks fields, is out of bounds or does not describe the tensors.
    """
    k = checks.check_k(k, f"k{option('k', aside=True)}", UsageError)
    sd, meta = read_state_dict(path)
    spec = _spec(sd, meta, k, task, path)
    checks.check_fits(spec, sd, path)
    model = build_model(spec)
    _load_strict(model, sd, str(path))
    return LoadedModel(model.eval(), spec, str(path), meta)


def save_model(
    path: str | Path, model: nn.Module, spec: ModelSpec, metadata: dict[str, str] | None = None, latent: bool = False
) -> None:
    """Write ``model`` as project safetensors (packed signs unless ``latent``), atomically."""
    from safetensors.torch import save_file

    p = Path(path)
    sd = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors = sd if latent else pack_state_dict(sd)
    meta = {"bbcu_format": FORMAT_VERSION, "spec": json.dumps(spec.to_dict()), "latent": str(latent).lower()}
    meta.update(metadata or {})
    with replacing(p) as tmp:  # a fresh temp name: two processes saving the same file cannot race
        save_file(tensors, str(tmp), metadata=meta)
