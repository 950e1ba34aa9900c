"""Backends run a loaded model on one (1, C, H, W) tensor: ``float`` (reference) and ``packed``.

``auto`` takes the packed XNOR/popcount path on CPU whenever the compiled kernel is available
and exact for the model, else the float path, and records why. A
:class:`~bbcu_cli.lite.LiteModel` (the torch-free runtime) runs on :func:`lite_backend`.
Torch is imported only when a torch backend is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

from ..errors import KernelUnavailable, UsageError, option

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from ..lite import LiteModel
    from ..loading import LoadedModel
    from .packed import PackedBackend

__all__ = ["BackendChoice", "FloatBackend", "select_backend", "lite_backend", "BACKEND_NAMES"]

BackendName = Literal["auto", "packed", "float", "folded"]
BACKEND_NAMES = ("auto", "packed", "float", "folded")
RunFn = Callable[["Tensor", "float | None"], "Tensor"]
#: ``into(block (h, w, C) float32, sigma, dst view, window)``: restore and store straight into dst
IntoFn = Callable[..., None]


class FloatBackend:
    """Reference path: the PyTorch module itself (integer-exact binary convolutions)."""

    name = "float"

    def __init__(self, loaded: LoadedModel, device: torch.device) -> None:
        self.model = loaded.model.to(device).eval()
        self.device = device
        self.noise_input = bool(loaded.spec.noise_channel)

    def __call__(self, x: Tensor, sigma: float | None = None) -> Tensor:
        import torch

        with torch.inference_mode():
            x = x.to(self.device)
            return self.model(x, sigma) if self.noise_input else self.model(x)


@dataclass
class BackendChoice:
    """The backend in use and, when the packed path is off, why.

    ``run`` takes (1, C, H, W) tensors (None for the torch-free runtime, which has only
    ``into``); ``torch_free``: the runtime of :mod:`bbcu_cli.lite` runs it.
    """

    run: RunFn | None
    name: str
    reason: str = ""
    into: IntoFn | None = None
    bytes_per_pixel: int | None = None
    torch_free: bool = False


def _packed(loaded: LoadedModel, threads: int | None) -> tuple["PackedBackend | None", str]:
    try:
        from .packed import PackedBackend, packed_status, supports
    except ImportError as exc:  # the module itself is part of the package; guard anyway
        return None, f"packed backend not importable: {exc}"
    status = packed_status()
    if not status.available:
        return None, status.reason
    ok, why = supports(loaded)
    if not ok:
        return None, why
    return PackedBackend(loaded, threads=threads), ""


def select_backend(
    loaded: LoadedModel, name: str, *, device: torch.device, threads: int | None = None
) -> BackendChoice:
    """Pick the backend for ``name`` (auto|packed|float).

    ``folded`` (and ``auto`` on CUDA) is the folded float path of :mod:`.folded`.

    Raises:
        UsageError: unknown name, or ``packed`` on a non-CPU device.
        KernelUnavailable: ``packed`` requested but not available or not exact for this model.
    """
    if name not in BACKEND_NAMES:
        raise UsageError(f"unknown backend '{name}'", f"use {option('backend')} auto, packed, float or folded")
    if name == "float":
        return BackendChoice(FloatBackend(loaded, device), "float")
    if name == "folded" or (name == "auto" and device.type == "cuda"):
        from .folded import FoldedBackend

        return BackendChoice(
            FoldedBackend(loaded, device),
            "folded",
            "" if name == "folded" else f"packed kernel is CPU-only (device {device})",
        )
    if device.type != "cpu":
        raise UsageError(
            "the packed backend runs on the CPU only",
            f"use {option('device', 'cpu')}, or {option('backend')} auto/folded on a GPU",
        )
    run, why = _packed(loaded, threads)
    if run is not None:
        return BackendChoice(run, "packed", into=run.restore_into, bytes_per_pixel=run.bytes_per_pixel())
    if name == "packed":
        raise KernelUnavailable(f"packed backend unavailable: {why}", f"use {option('backend', 'float')} (or auto)")
    return BackendChoice(FloatBackend(loaded, device), "float", why)


def lite_backend(model: LiteModel, name: str, *, threads: int | None = None) -> BackendChoice:
    """The torch-free packed runtime for ``model`` (``name`` must be auto or packed).

    Raises:
        UsageError: another backend name.
        KernelUnavailable: the kernels are not available here.
    """
    if name not in ("auto", "packed"):
        raise UsageError(
            f"backend '{name}' needs the torch runtime",
            f"load the model with bbcu_cli.loading.load_model for {option('backend')} {name}",
        )
    from ..lite import LiteBackend

    run = LiteBackend(model, threads=threads)
    return BackendChoice(None, "packed", into=run.restore_into, bytes_per_pixel=run.bytes_per_pixel(), torch_free=True)
