"""The restore loop: numpy image in, tiles through a backend, numpy image out.

Input pixels may be uint8, uint16 or float32 in [0, 1]; each tile is converted on its own and
its output written straight into the output buffer (float32, uint8 or uint16), so memory is
bounded by the tile, not the image. Gray images through an RGB model go in as R=G=B and come
out gray (mean of the three outputs); a gray (1-channel) model restores each channel of a
colour image separately.

A :class:`~bbcu_cli.lite.LiteModel` runs on the torch-free packed runtime (CPU; torch is never
imported); a :class:`~bbcu_cli.loading.LoadedModel` on the torch backends, as before. Tiling,
channel handling and the output store are the same code for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

import numpy as np

from ..errors import InputError, UsageError
from ..lite.model import LiteModel
from ..routing import Choice
from .backends import BackendChoice, lite_backend, select_backend
from .devices import HOST_CPU, check_device_name, free_memory_bytes, resolve_device, set_threads, tune_allocator
from .ensemble import COPIES, check_copies, requested_copies, self_ensemble
from .finish import Window
from .tiling import Tile, align_for, auto_tile_rows, bytes_per_input_pixel, halo_for, plan_tiles

if TYPE_CHECKING:
    from ..loading import LoadedModel

__all__ = ["Restorer", "TileProgress", "AnyModel"]

AnyModel = Union["LoadedModel", LiteModel]
"""A torch model (:func:`bbcu_cli.loading.load_model`) or a torch-free one (:func:`bbcu_cli.lite.load_lite`)."""

TileProgress = Callable[[int, int], None]
_MAX_AUTO_BUDGET = 768 << 20
_MAX_PACKED_BUDGET = 2 << 30  # the packed path's buffers are compact: whole images, few halos


@dataclass
class _Geometry:
    height: int
    width: int
    channels: int
    scale: int


def _to_float(block: np.ndarray) -> np.ndarray:
    if block.dtype == np.uint8:
        return block.astype(np.float32) / 255.0
    if block.dtype == np.uint16:
        return block.astype(np.float32) / 65535.0
    return block.astype(np.float32, copy=False)


def _check_pixels(pixels: object, sigma: float | None) -> None:
    """What :meth:`Restorer.restore` accepts (see its docstring)."""
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.ndim not in (2, 3)
        or pixels.ndim == 3
        and pixels.shape[2] not in (1, 3)
    ):
        shape = getattr(pixels, "shape", type(pixels).__name__)
        raise InputError(
            f"pixels of shape {shape}: expected an (H, W) or (H, W, 1 or 3) array", "split off alpha first"
        )
    if pixels.size == 0:
        raise InputError(f"pixels of shape {pixels.shape} hold no pixel", "pass a non-empty image")
    kind = pixels.dtype.kind
    if kind not in "bf" and pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{pixels.dtype} pixels are not supported", "pass uint8, uint16, or float in [0, 1]")
    if kind == "f" and np.isnan(pixels).any():
        raise InputError("the pixels hold NaN", "replace NaN before restoring (e.g. np.nan_to_num)")
    if sigma is not None and not (isinstance(sigma, (int, float, np.integer, np.floating)) and 0 <= sigma <= 255):
        raise UsageError(f"sigma {sigma!r} is not a noise level", "pass a number from 0 to 255")


def _store(out: np.ndarray, y: slice, x: slice, values: np.ndarray) -> None:
    """Write float32 ``values`` (scratch: scaled in place for integer outputs) into ``out[y, x]``."""
    if out.dtype in (np.uint8, np.uint16):
        top = np.float32(255.0 if out.dtype == np.uint8 else 65535.0)
        np.multiply(values, top, out=values)
        np.clip(values, 0.0, top, out=values)
        out[y, x] = np.rint(values, out=values)
    else:
        out[y, x] = values


class Restorer:
    """Runs a loaded model over images of any size.

    Everything after ``loaded`` is keyword-only: ``Restorer(loaded, backend="float", tile=256)``.

    Args:
        loaded: the model (see :func:`bbcu_cli.loading.load_model`).
        backend: ``auto`` | ``packed`` | ``float``.
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.
        threads: CPU threads (None/0: torch's default).
        tile: core tile side in input pixels; 0 or None chooses full-width stripes from free
            memory. Tiles overlap by the receptive field, so tiling never changes the output.
        ensemble: average the outputs for the 8 flips/rotations of each tile (8x the work;
            see :mod:`bbcu_cli.engine.ensemble`); the same as ``copies=8``.
        copies: self-ensemble copies averaged (1, 2, 4 or 8); None: the model's own
            (``loaded.copies``: its manifest entry's, e.g. 2 for the x4 default). A variant of a
            routed model (:mod:`bbcu_cli.routing`) runs its own with None.
    Raises:
        UsageError: ``copies`` is not 1, 2, 4 or 8, or ``ensemble`` with ``copies`` other than 8;
            see also :func:`select_backend` / :func:`resolve_device`.
        KernelUnavailable: see :func:`select_backend`.
    """

    def __init__(
        self,
        loaded: AnyModel,
        backend: str = "auto",
        device: str = "auto",
        *,
        threads: int | None = None,
        tile: int | None = 0,
        ensemble: bool = False,
        copies: int | None = None,
    ) -> None:
        self.loaded = loaded
        self.spec = loaded.spec
        asked = requested_copies(ensemble, copies)
        self.copies = asked if asked is not None else check_copies(getattr(loaded, "copies", 1))
        """Self-ensemble copies averaged per tile (1: the plain forward)."""
        if isinstance(loaded, LiteModel):
            self._init_lite(loaded, backend, device, threads)
        else:
            self.device = resolve_device(device)
            self.threads = set_threads(threads)
            if self.device.type == "cpu":
                tune_allocator()
            self.choice: BackendChoice = select_backend(loaded, backend, device=self.device, threads=threads)
        self.tile = tile or 0
        self.halo = halo_for(self.spec)
        self.align = align_for(self.spec)
        self._settings: dict[str, Any] = {
            "backend": backend,
            "device": device,
            "threads": threads,
            "tile": tile,
            "ensemble": ensemble,
            "copies": copies,  # None stays None: a variant runs its own model's copies
        }
        self._variants: dict[str, Restorer] = {}
        self.last_choice: Choice | None = None
        """How the last :meth:`restore` chose between the model and its variants (None: no route)."""

    def _init_lite(self, model: LiteModel, backend: str, device: str, threads: int | None) -> None:
        """The torch-free runtime: CPU only, ``auto``/``packed`` backend."""
        from ..errors import UsageError, option
        from ..lite import default_threads

        if check_device_name(device) not in ("auto", "cpu"):
            raise UsageError(
                f"device '{device}' needs the torch runtime",
                f"use {option('device', 'cpu')}, or load the model with bbcu_cli.loading.load_model",
            )
        if threads is not None and threads < 0:
            set_threads(threads)  # the same UsageError as the torch path
        self.device = HOST_CPU
        self.threads = int(threads) if threads else default_threads()
        tune_allocator()
        self.choice = lite_backend(model, backend, threads=self.threads)

    @property
    def ensemble(self) -> bool:
        """Whether the full x8 self-ensemble runs (``copies == 8``)."""
        return self.copies == COPIES

    @property
    def backend_name(self) -> str:
        return self.choice.name

    @property
    def scale(self) -> int:
        return self.spec.scale if self.spec.task == "sr" else 1

    def tiles_for(self, height: int, width: int) -> list[Tile]:
        """The tile plan used for an ``height x width`` input.

        Automatic (``tile == 0``): full-width stripes when a stripe of at least ``4 * halo``
        rows fits the budget (min(free memory / 4, 768 MiB)); otherwise square tiles sized to
        the budget, so the working set never grows with the image. With several copies each
        pixel also counts the ensemble's two float32 output buffers.
        """
        if self.tile > 0:
            return plan_tiles(height, width, self.tile, self.tile, self.halo, self.align)
        per_px = self.choice.bytes_per_pixel or bytes_per_input_pixel(self.spec)
        if self.copies > 1:  # the ensemble's running sum and one copy's output, float32
            per_px += 2 * 4 * self.scale**2 * self.spec.in_channels
        cap = _MAX_PACKED_BUDGET if self.choice.bytes_per_pixel else _MAX_AUTO_BUDGET
        budget = min(free_memory_bytes(self.device) // 4, cap)
        rows = auto_tile_rows(height, width, self.halo, budget, per_px)
        stripes = plan_tiles(height, width, rows, width, self.halo, self.align)
        if max((t.py1 - t.py0) * (t.px1 - t.px0) for t in stripes) * per_px <= budget:
            return stripes
        side = max(32, math.isqrt(budget // per_px) - 2 * self.halo)
        return plan_tiles(height, width, side, side, self.halo, self.align)

    def restore(
        self,
        pixels: np.ndarray,
        *,
        sigma: float | None = None,
        out_dtype: type = np.float32,
        progress: TileProgress | None = None,
    ) -> np.ndarray:
        """Restore an (H, W, C) image (C = 1 or 3; uint8, uint16 or float32 in [0, 1]).

        Returns (sH, sW, C) in ``out_dtype`` (float32 values are unclamped network output;
        uint8/uint16 are rounded after clipping to [0, 1]). A model with a clean variant
        (:mod:`bbcu_cli.routing`) hands the whole image to it when the image looks cleanly
        downscaled; :attr:`last_choice` says which ran.

        Raises:
            InputError: not an (H, W[, 1 or 3]) array of uint8, uint16, bool or float, empty, or
                holding NaN (other integer types would be read as if on the 0..1 scale).
            UsageError: ``sigma`` outside 0..255 or not a number.
        """
        _check_pixels(pixels, sigma)
        target = self._routed(pixels)
        if target is not self:
            return target.restore(pixels, sigma=sigma, out_dtype=out_dtype, progress=progress)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        geo = _Geometry(pixels.shape[0], pixels.shape[1], pixels.shape[2], self.scale)
        out = np.empty((geo.height * geo.scale, geo.width * geo.scale, geo.channels), dtype=out_dtype)
        tiles = self.tiles_for(geo.height, geo.width)
        for i, tile in enumerate(tiles):
            self._run_tile(pixels, out, tile, geo, sigma)
            if progress is not None:
                progress(i + 1, len(tiles))
        return out

    def _routed(self, pixels: np.ndarray) -> Restorer:
        """This restorer, or a variant's when the model has a route and the whole image is
        one for that variant (:mod:`bbcu_cli.routing`); sets :attr:`last_choice`."""
        route = self.loaded.route
        self.last_choice = None if route is None else route.choose(pixels)
        if route is None or self.last_choice is None or self.last_choice.variant == "robust":
            return self
        kind = self.last_choice.variant
        if kind not in self._variants:
            self._variants[kind] = Restorer(route.variant(kind).loaded(), **self._settings)
        return self._variants[kind]

    def _run_tile(self, pixels: np.ndarray, out: np.ndarray, t: Tile, geo: _Geometry, sigma: float | None) -> None:
        block = _to_float(pixels[t.py0 : t.py1, t.px0 : t.px1])
        top, bottom, left, right = (v * geo.scale for v in t.crop)
        s = geo.scale
        into = self.choice.into
        if into is not None and self.copies == 1 and block.shape[2] == self.spec.in_channels:
            into(block, sigma, out[t.y0 * s : t.y1 * s, t.x0 * s : t.x1 * s], Window(top, bottom, left, right))
            return
        result = self._run_block(block, sigma)
        _store(out, slice(t.y0 * s, t.y1 * s), slice(t.x0 * s, t.x1 * s), result[top:bottom, left:right])

    def _run_block(self, block: np.ndarray, sigma: float | None) -> np.ndarray:
        """(h, w, C) float32 -> (sh, sw, C) float32 through the backend, handling channels."""
        model_c = self.spec.in_channels
        img_c = block.shape[2]
        if model_c == img_c:
            return self._forward(block, sigma)
        if model_c == 3 and img_c == 1:
            rgb = self._forward(np.repeat(block, 3, axis=2), sigma)
            return rgb.mean(axis=2, keepdims=True)
        planes = [self._forward(block[:, :, c : c + 1], sigma) for c in range(img_c)]
        return np.concatenate(planes, axis=2)

    def _forward(self, block: np.ndarray, sigma: float | None) -> np.ndarray:
        if self.copies > 1:
            return self_ensemble(lambda b: self._forward_once(b, sigma), block, self.scale, self.align, self.copies)
        return self._forward_once(block, sigma)

    def _forward_once(self, block: np.ndarray, sigma: float | None) -> np.ndarray:
        if self.choice.into is not None:  # the packed runtimes: numpy in and out, no torch
            out = np.empty((block.shape[0] * self.scale, block.shape[1] * self.scale, block.shape[2]), dtype=np.float32)
            self.choice.into(block, sigma, out, Window(0, out.shape[0], 0, out.shape[1]))
            return out
        import torch

        assert self.choice.run is not None
        x = torch.from_numpy(np.ascontiguousarray(block.transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            y = self.choice.run(x, sigma)
        # HWC on the device: a GPU transposes faster than the host, which then copies whole rows
        return y[0].float().permute(1, 2, 0).contiguous().cpu().numpy()
