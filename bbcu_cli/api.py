"""The small public Python API; the CLI is built on the same pieces.

Example::

    from bbcu_cli import get_model, restore_array, restore_file
    model = get_model(task="sr", scale=4)            # default bundled model
    sr = restore_array(model, lr_uint8)               # (H, W, 3) -> (4H, 4W, 3) float32
    restore_file(model, "photo.png", "photo_x4.png")

Settings after the image (or file pair) are keyword-only: ``restore_array(model, img, sigma=25)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .batch.item import RestoreOptions, process_file
from .engine.restore import Restorer
from .errors import BbcuError, UsageError
from .factory import create_model
from .lite.model import LiteModel
from .loading import LoadedModel

__all__ = ["get_model", "restore_array", "restore_file"]


def get_model(
    name_or_path: str | None = None,
    *,
    task: str | None = None,
    scale: int | None = None,
    k: float | None = None,
    offline: bool = False,
    route: bool = False,
) -> LoadedModel:
    """Resolve a manifest name, a checkpoint path, or the default for (task, scale), and load it.

    A thin alias of :func:`bbcu_cli.factory.create_model`: ``task=None`` takes a named model's
    own task (a file's from its contents; SR when no name is given), ``scale=None`` a named
    model's own scale and the x4 default when no name is given. ``route=True``: an SR default
    with its clean variant, used on inputs that look cleanly downscaled (:mod:`bbcu_cli.routing`).

    Raises:
        WeightsError: unknown name / missing weights; ModelFormatError: unreadable file;
        UsageError: the model does another task, or upscales by another factor than ``scale``.
    """
    return create_model(name_or_path, task=task, scale=scale, k=k, offline=offline, route=route)


def restore_array(
    model: LoadedModel | Restorer,
    pixels: np.ndarray,
    *,
    sigma: float | None = None,
    tile: int = 0,
    backend: str = "auto",
    device: str = "cpu",
    ensemble: bool = False,
    copies: int | None = None,
) -> np.ndarray:
    """Restore an (H, W[, C]) image (uint8, uint16 or float32 in [0, 1]).

    Returns (sH, sW, C) float32, the unclamped network output. ``sigma`` (0-255) is required
    for denoisers with a noise-level input and ignored otherwise. ``ensemble`` averages the
    outputs for the 8 flips/rotations (8x slower); ``copies`` averages 1, 2, 4 or 8 of them
    (None: the model's own, 2 for the x4 default, else 1; see :mod:`bbcu_cli.engine.ensemble`).
    A given :class:`Restorer` keeps its own tile/backend/device/ensemble/copies settings.

    Raises:
        UsageError: ``model`` is not a loaded model or Restorer (a name: load it with
            :func:`get_model`), a bad ``tile``, ``backend``, ``device`` or ``copies`` (or
            ``ensemble`` with ``copies`` other than 8), ``sigma`` outside 0..255.
        InputError: ``pixels`` is not an (H, W[, 1 or 3]) image array.
    """
    restorer = _restorer(model, backend=backend, device=device, tile=tile, ensemble=ensemble, copies=copies)
    return restorer.restore(pixels, sigma=sigma if restorer.spec.noise_channel else None)


def restore_file(
    model: LoadedModel | Restorer,
    src: str | Path,
    dst: str | Path,
    *,
    sigma: float | None = None,
    overwrite: bool = False,
    tile: int = 0,
    backend: str = "auto",
    device: str = "cpu",
    ensemble: bool = False,
    copies: int | None = None,
) -> None:
    """Restore the image file ``src`` into ``dst`` (atomic write; keeps bit depth, gray, alpha).

    Raises:
        UsageError: ``dst`` is ``src`` (an input is never overwritten, even with ``overwrite``);
            ``src``/``dst`` not paths; ``model``, ``tile``, ... as for :func:`restore_array`.
        InputError: the input cannot be read (missing, damaged, too large).
        OutputError: ``dst`` exists (without ``overwrite``) or cannot be written.
        BbcuError: anything else that failed (the message names ``src``).
    """
    src, dst = _path(src, "src"), _path(dst, "dst")
    if src.resolve() == dst.resolve():
        raise UsageError(f"{dst} is the input file", "write the output to another path; inputs are never overwritten")
    restorer = _restorer(model, backend=backend, device=device, tile=tile, ensemble=ensemble, copies=copies)
    result = process_file(restorer, src, dst, opts=RestoreOptions(sigma=sigma, overwrite=overwrite))
    if result.status == "failed":
        raise result.failure or BbcuError(result.error or f"{src}: failed")


def _restorer(model: object, *, backend: str, device: str, tile: int, ensemble: bool, copies: int | None) -> Restorer:
    """``model`` itself when it is a :class:`Restorer`, else a new one; a :class:`UsageError`
    (not an AttributeError deep inside) for a model name, a path or a bad ``tile``."""
    if isinstance(model, Restorer):
        return model
    if isinstance(model, (str, Path)):
        raise UsageError(
            f"model {str(model)!r} is a name or a path, not a loaded model",
            f"load it once with get_model({str(model)!r}) and pass what it returns",
        )
    if not isinstance(model, (LoadedModel, LiteModel)):
        raise UsageError(f"model is a {type(model).__name__}, not a loaded model", "pass get_model(...) or a Restorer")
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 0):
        raise UsageError(f"tile={tile!r} is not a tile side in pixels", "pass tile=0 (automatic) or e.g. tile=256")
    return Restorer(model, backend=backend, device=device, tile=tile or 0, ensemble=ensemble, copies=copies)


def _path(value: object, name: str) -> Path:
    if not isinstance(value, (str, Path)) or not str(value):
        raise UsageError(f"{name}={value!r} is not a file path", f"pass {name} as a str or pathlib.Path")
    return Path(value)
