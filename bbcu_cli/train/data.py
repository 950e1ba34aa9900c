"""Training data: clean images decoded once, degraded inputs prepared once, random patches.

* SR: each HR image is cropped to a multiple of the scale and its LR image made ONCE with the
  MATLAB bicubic (:func:`bicubic_downscale_uint8`, the benchmark degradation); patches are
  aligned crops (LR ``p x p``, HR ``sp x sp``). With ``degradation = "mixed"`` every patch is
  degraded on its own instead (:class:`bbcu_cli.degradations.MixedDegradation`): the HR crop
  is taken with a margin of ``MIXED_MARGIN`` LR pixels where the image allows, degraded, and
  the LR patch cut from the middle, so filters see real context at the patch border.
* Denoise: Gaussian noise is added on the fly in float, ``sigma`` drawn per patch uniformly
  from the configured range (the model gets it as its noise-level input).
* Deblock: every image is JPEG-compressed ONCE at a few qualities inside the range; each patch
  picks one of them at random. With ``gray_fraction`` > 0 a colour deblocker also sees that
  share of gray patches (BT.601 luma, encoded as a one-channel JPEG, shown as R = G = B), the
  way gray images reach it at inference. For an unshuffled model (``unshuffle > 1``) the
  crops start on the 8x8 JPEG grid (``align = 8``; the patch is a multiple of 8, so the
  dihedral transforms keep the grid), which is how whole images meet the model at inference:
  its ``r x r`` cells then always sit at the same phase of the blocks.

The SR LR images can be cached in the run folder (``data-cache-sr-xS.npz``, keyed by the file
list, sizes and mtimes), so a resumed run skips the bicubic pass.

All patches get one of the 8 dihedral transforms. Every random choice comes from one seeded
``torch.Generator``, so a run is reproducible and resumable (save/restore its state).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..degrade import bicubic_downscale_uint8, jpeg_compress, modcrop
from ..errors import InputError, option
from ..imagefiles import rgb_to_gray
from .config import TrainConfig

__all__ = ["Batch", "PatchSampler", "list_images", "read_image", "dihedral"]

JPEG_BLOCK = 8
MIXED_MARGIN = 4
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


@dataclass
class Batch:
    """One training batch: float32 tensors in [0, 1] (noisy inputs may leave it)."""

    inp: Tensor
    target: Tensor
    sigma: Tensor | None = None

    def to(self, device: torch.device | str, memory_format: torch.memory_format = torch.contiguous_format) -> "Batch":
        move = lambda t: t.to(device, non_blocking=True).contiguous(memory_format=memory_format)  # noqa: E731
        return Batch(move(self.inp), move(self.target), None if self.sigma is None else self.sigma.to(device))


def list_images(dirs: list[str]) -> list[Path]:
    """Image files of ``dirs`` (not recursive), sorted per folder. Raises :class:`InputError`."""
    files: list[Path] = []
    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            raise InputError(f"{p}: no such training folder", f"pass folders of clean images with {option('data')}")
        files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images in {', '.join(dirs)}", f"expected files ending in {', '.join(IMAGE_SUFFIXES)}")
    return files


def read_image(path: Path, channels: int) -> np.ndarray:
    """Decode to uint8 ``(H, W, channels)`` (RGB, or PIL luma for 1 channel)."""
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from None
    return arr.reshape(arr.shape[0], arr.shape[1], channels)


def luma_uint8(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB uint8 ``(H, W, 3)`` image as uint8 ``(H, W, 1)`` (gray stays gray)."""
    if img.shape[2] == 1:
        return img
    return np.clip(np.rint(rgb_to_gray(img)), 0, 255).astype(np.uint8)


def dihedral(t: Tensor, k: int) -> Tensor:
    """One of the 8 dihedral transforms of a ``(C, H, W)`` tensor: ``k % 4`` quarter turns,
    transposed first when ``k >= 4``."""
    a = t.numpy()  # numpy's rot90 is a view: one copy at the end (torch.rot90 on uint8 is slow)
    if k >= 4:
        a = a.transpose(0, 2, 1)
    return torch.from_numpy(np.ascontiguousarray(np.rot90(a, k % 4, axes=(1, 2))))


def _to_chw(img: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def _cache_key(files: list[Path], tag: str) -> str:
    h = hashlib.sha256(tag.encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _cached(path: Path | None, key: str, compute: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    """``compute()``, stored in / read back from ``path`` (an .npz tagged with ``key``)."""
    if path is not None and path.is_file():
        with np.load(path) as z:
            if str(z["key"]) == key:
                return [z[f"a{i}"] for i in range(int(z["n"]))]
    arrays = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, key=np.array(key), n=np.array(len(arrays)), **{f"a{i}": a for i, a in enumerate(arrays)})
        tmp.replace(path)
    return arrays


class PatchSampler:
    """Draws random aligned patch batches from images held in memory (see module doc)."""

    def __init__(self, cfg: TrainConfig, generator: torch.Generator, cache_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.gen = generator
        self.scale = cfg.scale if cfg.task == "sr" else 1
        self.patch = int(cfg.patch or 0)
        self.align = JPEG_BLOCK if cfg.task == "deblock" and cfg.unshuffle > 1 else 1
        files = list_images(cfg.data)
        clean = [read_image(f, cfg.in_channels) for f in files]
        keep = [i for i, im in enumerate(clean) if min(im.shape[:2]) // self.scale >= self.patch]
        if not keep:
            raise InputError(
                f"no training image is large enough for {self.patch * self.scale}-pixel patches",
                f"use a smaller {option('patch')}",
            )
        self.skipped = len(files) - len(keep)
        files, clean = [files[i] for i in keep], [clean[i] for i in keep]
        self.num_images = len(clean)
        self.targets = [_to_chw(modcrop(im, self.scale)) for im in clean]
        self.qualities = cfg.jpeg_qualities() if cfg.task == "deblock" else []
        self.mixed = cfg.mixed_degradation() if cfg.degradation == "mixed" else None
        self.inputs = self._prepare_inputs(files, clean, cache_dir)
        self.gray_targets: list[Tensor] = []
        self.gray_inputs: list[list[Tensor]] = []
        if cfg.gray_fraction > 0:
            gray = [luma_uint8(im) for im in clean]
            self.gray_targets = [_to_chw(im) for im in gray]
            self.gray_inputs = [
                [_to_chw(jpeg_compress(im, q).reshape(im.shape)) for q in self.qualities] for im in gray
            ]

    def _prepare_inputs(self, files: list[Path], clean: list[np.ndarray], cache_dir: Path | None) -> list[list[Tensor]]:
        """Per image, the degraded versions to sample from (LR image, or one JPEG per quality)."""
        if self.cfg.task == "denoise" or self.mixed is not None:
            return []
        if self.cfg.task == "sr":
            tag, fn = f"sr-x{self.scale}", lambda: [bicubic_downscale_uint8(im, self.scale) for im in clean]
        else:
            qs = self.qualities
            tag, fn = f"jpeg-{qs}", lambda: [jpeg_compress(im, q) for im in clean for q in qs]
        # only the (small, slow to make) LR images are cached; JPEG versions are quick to remake
        cache = cache_dir is not None and self.cfg.task == "sr"
        path = cache_dir / f"data-cache-{tag}.npz" if cache and cache_dir else None
        flat = _cached(path, _cache_key(files, tag), fn)
        per = max(1, len(self.qualities))
        return [
            [_to_chw(a.reshape(a.shape[0], a.shape[1], -1)) for a in flat[i * per : (i + 1) * per]]
            for i in range(len(clean))
        ]

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.gen))

    def _patch(self) -> tuple[Tensor, Tensor, float]:
        """One (input, target, sigma) patch as uint8 / float tensors before noise."""
        i = self._randint(self.num_images)
        target, inputs = self.targets[i], self.inputs
        if self.gray_targets and float(torch.rand(1, generator=self.gen)) < self.cfg.gray_fraction:
            target, inputs = self.gray_targets[i].expand(3, -1, -1), self.gray_inputs
        s, p, a = self.scale, self.patch, self.align
        y = self._randint((target.shape[1] // s - p) // a + 1) * a
        x = self._randint((target.shape[2] // s - p) // a + 1) * a
        tgt = target[:, y * s : (y + p) * s, x * s : (x + p) * s]
        if self.mixed is not None:
            inp, sigma = self._mixed_lr(target, y, x), 0.0
        elif self.cfg.task == "denoise":
            inp, sigma = tgt, self._sigma()
        else:
            versions = inputs[i]
            inp, sigma = (
                versions[self._randint(len(versions))][:, y : y + p, x : x + p].expand(target.shape[0], -1, -1),
                0.0,
            )
        k = self._randint(8)
        return dihedral(inp, k), dihedral(tgt, k), sigma

    def _mixed_lr(self, target: Tensor, y: int, x: int) -> Tensor:
        """LR patch ``(C, p, p)`` uint8 of the HR patch at LR ``(y, x)``, degraded with margins."""
        s, p, m = self.scale, self.patch, MIXED_MARGIN
        top, left = min(m, y), min(m, x)
        bottom, right = min(m, target.shape[1] // s - y - p), min(m, target.shape[2] // s - x - p)
        hr = target[:, (y - top) * s : (y + p + bottom) * s, (x - left) * s : (x + p + right) * s]
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=self.gen)))
        lr, _ = self.mixed.apply(hr.permute(1, 2, 0).numpy(), s, rng)  # type: ignore[union-attr]
        return _to_chw(lr[top : top + p, left : left + p])

    def _sigma(self) -> float:
        lo, hi = self.cfg.sigma_range
        return lo + (hi - lo) * float(torch.rand(1, generator=self.gen))

    def next_batch(self) -> Batch:
        """A batch of ``cfg.batch`` patches (inputs ``(N, C, p, p)``, targets ``(N, C, sp, sp)``)."""
        patches = [self._patch() for _ in range(self.cfg.batch)]
        inp = torch.stack([p[0] for p in patches]).float().div_(255.0)
        target = torch.stack([p[1] for p in patches]).float().div_(255.0)
        if self.cfg.task != "denoise":
            return Batch(inp, target)
        sigma = torch.tensor([p[2] for p in patches], dtype=torch.float32)
        noise = torch.randn(inp.shape, generator=self.gen) * (sigma / 255.0).view(-1, 1, 1, 1)
        return Batch(inp + noise, target, sigma if self.cfg.noise_channel else None)
