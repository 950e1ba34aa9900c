"""Checks on untrusted checkpoints, made before anything large is read, decompressed or built.

A weights file is untrusted input: its header can declare any size and its spec any depth.
Everything here works from what the file *declares* (zip directory, safetensors header, spec
JSON) and refuses it with a :class:`ModelFormatError` naming the file and the fix, so that
memory stays bounded by :data:`MAX_TENSOR_BYTES` whatever the file says:

* :func:`check_zip` -- a ``torch.save`` zip: member count and total uncompressed size.
* :func:`read_safetensors_header` -- the JSON header: its length, dtypes, shapes and offsets
  against the file size, and the bytes the tensors expand to (sign bits unpack 32x).
* :func:`spec_from_json` -- the declared :class:`~bbcu_cli.loading.ModelSpec`: types, what its
  family allows (:mod:`bbcu_cli.archs`) and sane bounds (:data:`SPEC_BOUNDS`).
* :func:`check_tensors` -- string keys, floating-point and finite values.
* :func:`check_fits` -- the spec built on the ``meta`` device (no memory) must have exactly
  the tensors' names and shapes before the real model is built.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import archs
from .archs.spec import ModelSpec
from .errors import BbcuError, ModelFormatError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "MAX_TENSOR_BYTES",
    "MAX_HEADER_BYTES",
    "SPEC_BOUNDS",
    "check_k",
    "check_zip",
    "read_safetensors_header",
    "spec_from_json",
    "check_spec",
    "declared_spec",
    "check_tensors",
    "check_fits",
]

MAX_TENSOR_BYTES = 256 << 20
"""Most bytes a checkpoint's tensors may occupy once read, decompressed and unpacked (256 MiB;
a paper-size BBCU-L x4 needs about 5 MiB)."""
MAX_HEADER_BYTES = 8 << 20
MAX_ZIP_MEMBERS = 10_000
SPEC_BOUNDS = {"num_feat": (1, 1024), "depth": (1, 256), "in_channels": (1, 4), "unshuffle": (1, 8)}
_ST_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "U8": 1}
_CRAFTED = "BBCU checkpoints are a few MiB; this file is damaged or crafted"
_REIMPORT = "re-download or re-export the file (bbcu weights import FILE re-saves a checkpoint it can read)"


def _fail(source: object, what: str, hint: str = _REIMPORT) -> ModelFormatError:
    return ModelFormatError(f"{source}: {what}", hint)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def check_k(
    k: float | None, what: str = "k", error: type[BbcuError] = ModelFormatError, hint: str = ""
) -> float | None:
    """``k`` itself when it is ``None`` or a finite number > 0, else ``error``."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0:
        raise error(
            f"{what} must be a finite number > 0 (got {k!r})", hint or "omit it to use the default 130 * features / 64"
        )
    return float(k)


# ---------------------------------------------------------------- containers


def check_zip(path: Path) -> None:
    """Refuse a truncated zip, or one that would decompress past :data:`MAX_TENSOR_BYTES`."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _fail(
            path,
            f"not a readable PyTorch checkpoint (damaged or truncated zip: {exc})",
            "the file is incomplete; download or copy it again",
        ) from None
    if len(members) > MAX_ZIP_MEMBERS:
        raise _fail(
            path,
            f"the zip holds {len(members)} members (at most {MAX_ZIP_MEMBERS})",
            "this is not a checkpoint written by torch.save",
        )
    total = sum(m.file_size for m in members)
    if total > MAX_TENSOR_BYTES:
        packed = sum(m.compress_size for m in members)
        raise _fail(
            path,
            f"the checkpoint would decompress to {_mib(total)} ({_mib(packed)} on disk), over the {_mib(MAX_TENSOR_BYTES)} limit",
            _CRAFTED,
        )


def _header_bytes(path: Path, size: int) -> bytes:
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise _fail(path, "not a safetensors file (shorter than its 8-byte header length)")
        (length,) = struct.unpack("<Q", raw)
        if length > MAX_HEADER_BYTES or 8 + length > size:
            raise _fail(
                path,
                f"safetensors header declares {length} bytes but the file has {size}",
                "the file is truncated or not a safetensors file",
            )
        return fh.read(length)


def _parse_header(path: Path, blob: bytes) -> dict[str, Any]:
    try:
        header = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(
            path, f"safetensors header is not valid JSON ({type(exc).__name__})", "the file is damaged"
        ) from None
    if not isinstance(header, dict):
        raise _fail(path, "safetensors header is not a JSON object", "the file is damaged")
    return header


def _expanded_bytes(path: Path, name: str, info: Any, data_size: int) -> int:
    """Bytes one header entry takes once read and unpacked (sign bits: 32x), after checking it."""
    if not isinstance(info, dict) or info.get("dtype") not in _ST_DTYPES:
        dtype = info.get("dtype") if isinstance(info, dict) else info
        raise _fail(
            path, f"tensor {name!r} has unsupported dtype {dtype!r}", "weights are float tensors (plus uint8 sign bits)"
        )
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise _fail(path, f"tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise _fail(path, f"tensor {name!r} has invalid data offsets {offsets!r}")
    nbytes = math.prod(shape) * _ST_DTYPES[info["dtype"]]
    begin, end = offsets
    if not 0 <= begin <= end <= data_size or end - begin != nbytes:
        what = f"tensor {name!r} declares {nbytes} bytes at {begin}..{end}, but the data section has {data_size}"
        raise _fail(path, what, "the file is truncated or damaged")
    return nbytes * 32 if name.endswith(".weight_signbits") else nbytes


def read_safetensors_header(path: Path) -> dict[str, str]:
    """Check a safetensors file's header against its size and the limits; returns its metadata."""
    size = path.stat().st_size
    blob = _header_bytes(path, size)
    header = _parse_header(path, blob)
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _fail(path, "safetensors metadata is not a string-to-string map", "the file is damaged")
    expanded = sum(_expanded_bytes(path, name, info, size - 8 - len(blob)) for name, info in header.items())
    if expanded > MAX_TENSOR_BYTES:
        raise _fail(
            path,
            f"the tensors would take {_mib(expanded)} once unpacked, over the {_mib(MAX_TENSOR_BYTES)} limit",
            _CRAFTED,
        )
    return meta


# ---------------------------------------------------------------- spec


def _field(data: Mapping[str, Any], key: str, kind: type, source: object) -> Any:
    if key not in data:
        raise _fail(
            source,
            f"the spec in the file's metadata has no {key!r}",
            "re-export the model with bbcu (save_model writes a complete spec)",
        )
    value = data[key]
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise _fail(source, f"spec field {key!r} must be {kind.__name__} (got {value!r})")
    return value


def spec_from_json(text: str, source: object) -> ModelSpec:
    """The :class:`ModelSpec` declared in a file's ``spec`` metadata, checked by :func:`check_spec`."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _fail(source, f"the 'spec' metadata is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise _fail(source, f"the 'spec' metadata must be a JSON object (got {type(data).__name__})")
    kinds = {"arch": str, "task": str, "scale": int, "in_channels": int, "num_feat": int, "depth": int, "k": float}
    fields = {key: _field(data, key, kind, source) for key, kind in kinds.items()}
    optional = {"bias": bool, "noise_channel": bool, "unshuffle": int}
    fields.update({key: _field(data, key, kind, source) for key, kind in optional.items() if key in data})
    spec = ModelSpec(**fields)
    check_spec(spec, source)
    return spec


def declared_spec(meta: Mapping[str, str], k: float | None, task: str | None, source: object) -> ModelSpec:
    """The spec in a file's ``spec`` metadata with the ``k`` and ``task`` overrides applied
    (``task`` only picks among the family's tasks: it never turns a model into another kind)."""
    spec = spec_from_json(meta["spec"], source)
    chosen = task if task in archs.family(spec.arch).tasks else spec.task  # a multi-task family's file
    return replace(spec, k=spec.k if k is None else k, task=chosen)  # type: ignore[arg-type]


def check_spec(spec: ModelSpec, source: object) -> None:
    """Refuse a spec its family (:mod:`bbcu_cli.archs`) does not allow, or outside :data:`SPEC_BOUNDS`."""
    fam = archs.find(spec.arch)
    if fam is None:
        raise _fail(source, f"unknown architecture {spec.arch!r}", f"supported: {', '.join(archs.names())}")
    if spec.task not in fam.tasks:
        raise _fail(
            source,
            f"a {spec.arch} model cannot be a {spec.task!r} model",
            f"{spec.arch} is for {' or '.join(fam.tasks)}",
        )
    if spec.scale not in fam.scales:
        raise _fail(source, f"scale {spec.scale} is not supported by {spec.arch}", f"expected one of {fam.scales}")
    for key, (low, high) in SPEC_BOUNDS.items():
        value = getattr(spec, key)
        if not low <= value <= high:
            raise _fail(
                source, f"{key} = {value} is outside {low}..{high}", "the file is damaged or not a BBCU checkpoint"
            )
    if spec.depth < fam.min_depth:
        raise _fail(source, f"a {fam.title} needs at least {fam.min_depth} {fam.depth_unit} (spec says {spec.depth})")
    if spec.unshuffle != 1 and not fam.unshuffle:
        raise _fail(
            source,
            f"unshuffle = {spec.unshuffle} is only valid for {' or '.join(f.name for f in archs.families() if f.unshuffle)}",
        )
    check_k(spec.k, f"{source}: the spec's k", hint=_REIMPORT)


# ---------------------------------------------------------------- tensors


def check_tensors(sd: Mapping[Any, Any], source: object) -> None:
    """Every key a string, every value a finite floating-point tensor of at least 1 dimension."""
    import torch

    for key, value in sd.items():
        if not isinstance(key, str):
            raise _fail(
                source, f"state dict key {key!r} is not a string", "expected parameter names such as 'model.0.weight'"
            )
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            kind = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
            raise _fail(source, f"{key!r} is {kind}, not a floating-point tensor")
        if value.numel() and not bool(torch.isfinite(value).all()):
            raise _fail(
                source,
                f"{key!r} holds NaN or infinite values",
                "the weights are corrupt (training diverged?); use an earlier checkpoint",
            )


def _expected_shapes(spec: ModelSpec, source: object) -> dict[str, tuple[int, ...]]:
    import torch

    from .loading import build_model

    try:
        with torch.device("meta"):
            model = build_model(spec)
    except (ValueError, TypeError) as exc:
        raise _fail(source, f"cannot build {spec.describe()} ({exc})") from None
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _first(items: list[str]) -> str:
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def check_fits(spec: ModelSpec, sd: Mapping[str, "Tensor"], source: object) -> None:
    """The tensors must be exactly those of ``spec`` (names and shapes), checked without memory."""
    want = _expected_shapes(spec, source)
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]
    wrong = [
        f"{k} {tuple(sd[k].shape)} (expected {want[k]})" for k in want if k in sd and tuple(sd[k].shape) != want[k]
    ]
    hint = "the file is damaged, or its spec does not describe its tensors"
    if missing or extra:
        what = f"missing {_first(missing)}" if missing else f"unexpected {_first(extra)}"
        raise _fail(source, f"the tensors do not match {spec.describe()}: {what}", hint)
    if wrong:
        raise _fail(source, f"the tensors do not match {spec.describe()}: {_first(wrong)}", hint)
