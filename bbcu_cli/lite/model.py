"""Read a project ``.safetensors`` file into a :class:`LiteModel` without torch.

The file is checked as :func:`bbcu_cli.loading.load_model` checks it (header bounds, declared
spec, exactly the expected tensor names and shapes, finite float32 values, consistent sign
bits), then folded into the packed kernels' layout with the same builder the torch path uses
(:func:`bbcu_cli.engine.packed_units.pack_unit`): the unit arrays equal
:func:`bbcu_cli.engine.packed_plan.fold_unit`'s. A file the lite runtime cannot run exactly
raises :class:`LiteUnsupported` (the caller then uses the torch runtime); a damaged file
raises :class:`~bbcu_cli.errors.ModelFormatError` as the torch loader would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import archs
from .. import checkpoint_checks as checks
from ..archs.spec import ModelSpec
from ..engine.packed_units import InferencePlan, PackedUnit, UnitParams, alpha_of, kernel_activation, pack_unit
from ..errors import ModelFormatError, UsageError, option
from ..routing import Route
from ..signbits import ALPHA_SUFFIX, FORMAT_VERSION, SIGN_SUFFIX, packed_parts, unpack_signs
from .families import LiteFamily, expected_shapes, lite_family

__all__ = ["LiteModel", "LiteUnsupported", "load_lite"]

Arrays = dict[str, np.ndarray]


class LiteUnsupported(Exception):
    """The torch-free runtime does not run this file (the message says why); not an error."""


@dataclass
class LiteModel:
    """A model ready for :class:`bbcu_cli.lite.LiteBackend`: spec, packed plan, head and tail.

    ``head``/``tail``: (weight (cout, cin, 3, 3) float32, bias (cout,) float32 or None).
    """

    spec: ModelSpec
    plan: InferencePlan
    head: tuple[np.ndarray, np.ndarray | None]
    tail: tuple[np.ndarray, np.ndarray | None]
    source: str
    metadata: dict[str, str] = field(default_factory=dict)
    route: Route | None = None
    """SR: the clean variant used on cleanly downscaled inputs (:mod:`bbcu_cli.routing`)."""
    copies: int = 1
    """Self-ensemble copies a :class:`~bbcu_cli.engine.restore.Restorer` averages by default: the
    manifest entry's ``copies`` for a model resolved by name, 1 for a file given by path."""


def _read(path: Path) -> tuple[Arrays, dict[str, str]]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    meta = checks.read_safetensors_header(path)
    try:
        return load_file(str(path)), meta
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ModelFormatError(
            f"{path}: not a readable safetensors file ({exc})", "check the file is complete"
        ) from None


def _logical(tensors: Arrays, path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes as the torch loader sees them (sign bits as float weights)."""
    shapes = {k: tuple(v.shape) for k, v in tensors.items() if not k.endswith((SIGN_SUFFIX, ALPHA_SUFFIX))}
    for key in tensors:
        if key.endswith(ALPHA_SUFFIX) and key[: -len(ALPHA_SUFFIX)] + SIGN_SUFFIX not in tensors:
            raise ModelFormatError(
                f"{path}: {key} has no matching sign bits", "the weights file is damaged; re-download it"
            )
        if key.endswith(SIGN_SUFFIX):
            prefix = key[: -len(SIGN_SUFFIX)]
            try:
                _bits, alpha, c_in = packed_parts(tensors, prefix)
            except ModelFormatError as exc:
                raise ModelFormatError(f"{path}: {exc.raw_message}", exc.raw_hint) from None
            shapes[prefix + ".weight"] = (int(alpha.shape[0]), c_in, 3, 3)
    return shapes


def _check_values(tensors: Arrays, path: Path) -> None:
    for key, value in tensors.items():
        if key.endswith(SIGN_SUFFIX):
            continue
        if value.dtype != np.float32:
            raise LiteUnsupported(f"{key} is {value.dtype}, not float32")
        if value.size and not bool(np.isfinite(value).all()):
            raise ModelFormatError(
                f"{path}: {key!r} holds NaN or infinite values",
                "the weights are corrupt (training diverged?); use an earlier checkpoint",
            )


def _check_fits(fam: LiteFamily, spec: ModelSpec, tensors: Arrays, path: Path) -> None:
    want, got = expected_shapes(fam, spec), _logical(tensors, path)
    if want != got:
        bad = sorted(set(want) ^ set(got)) or sorted(k for k in want if want[k] != got[k])
        raise ModelFormatError(
            f"{path}: the tensors do not match {spec.describe()}: {', '.join(bad[:3])}",
            "the file is damaged, or its spec does not describe its tensors",
        )


def _unit(tensors: Arrays, prefix: str) -> PackedUnit:
    """One unit's kernel layout from packed sign bits (or latent float weights)."""
    conv = prefix + ".binary_conv"
    if conv + SIGN_SUFFIX in tensors:
        bits, alpha, c_in = packed_parts(tensors, conv)
        positive, alpha = unpack_signs(bits, c_in).astype(bool), alpha.astype(np.float32)
        zero = bool((alpha == 0).any())  # the torch path sees +-0 weights: sign 0
    else:
        w = tensors[conv + ".weight"]
        positive, alpha, zero = w > 0, alpha_of(w), bool((w == 0).any())
    if zero:
        raise LiteUnsupported("a binary weight is exactly 0 (sign 0): the float path runs this model")
    get = tensors.get
    return pack_unit(
        UnitParams(
            positive,
            alpha,
            get(conv + ".bias"),
            tensors[prefix + ".relu.pr_bias0.bias"],
            tensors[prefix + ".relu.pr_prelu.weight"],
            tensors[prefix + ".relu.pr_bias1.bias"],
            tensors[prefix + ".move0.bias"],
        )
    )


def _conv(tensors: Arrays, prefix: str) -> tuple[np.ndarray, np.ndarray | None]:
    return tensors[prefix + ".weight"], tensors.get(prefix + ".bias")


def _spec(meta: dict[str, str], k: float | None, task: str | None, path: Path) -> ModelSpec:
    if meta.get("bbcu_format") != FORMAT_VERSION or "spec" not in meta:
        raise LiteUnsupported("not a project file with a declared spec (bbcu_format metadata)")
    spec = checks.declared_spec(meta, k, task, path)
    checks.check_spec(spec, path)
    return spec


def load_lite(path: str | Path, k: float | None = None, task: str | None = None) -> LiteModel:
    """Read a project ``.safetensors`` file of a lite family (see the module docstring).

    ``k`` and ``task`` as in :func:`bbcu_cli.loading.load_model`.

    Raises:
        LiteUnsupported: not a project safetensors file, a family without a lite plan, a
            binary weight of 0, non-float32 tensors: use the torch runtime.
        ModelFormatError: a damaged or inconsistent file (as the torch loader would).
        UsageError: ``k`` is not a finite number > 0.
    """
    k = checks.check_k(k, f"k{option('k', aside=True)}", UsageError)
    p = Path(path)
    if not p.is_file() or p.suffix.lower() != ".safetensors":
        raise LiteUnsupported(f"{p.name} is not a .safetensors file")
    meta = checks.read_safetensors_header(p)
    spec = _spec(meta, k, task, p)
    fam, layout = lite_family(spec.arch), archs.family(spec.arch).packed
    if fam is None or layout is None:
        raise LiteUnsupported(f"architecture {spec.arch} has no torch-free plan")
    tensors, meta = _read(p)
    _check_fits(fam, spec, tensors, p)
    _check_values(tensors, p)
    units = [_unit(tensors, prefix) for prefix in fam.units(spec)]
    plan = InferencePlan(
        spec.arch, units, kernel_activation(layout.head_act), kernel_activation(layout.tail_act), None, layout
    )
    return LiteModel(spec, plan, _conv(tensors, fam.head(spec)), _conv(tensors, fam.tail(spec)), str(p), meta)
