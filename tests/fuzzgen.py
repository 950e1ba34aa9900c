"""Seeded fuzz corpus: valid seeds, mutated files and header bombs, each with an expected class.

Classes: ``valid`` (must be restored: the seeds, float/int TIFFs, trailing junk after the end
of a PNG or JPEG), ``corrupt`` (must fail: truncated or bit-flipped PNG, truncated JPEG, random
bytes, header bombs) and ``unknown`` (either outcome is fine, e.g. a flipped bit in raw BMP
pixels, which no decoder can tell from a real pixel). Every file must give one line, never a
traceback or a hang. ``python tests/fuzzgen.py DIR [PER_SEED]`` writes a corpus to DIR.
"""

from __future__ import annotations

import io
import struct
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from filehelp import huge_png, huge_tiff
from PIL import Image as PILImage

SEED = 20240606
Mutation = Callable[[bytes, np.random.Generator], bytes]


def _save(img: PILImage.Image, fmt: str, **opts: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **opts)
    return buf.getvalue()


def seeds(rng: np.random.Generator) -> dict[str, bytes]:
    """Small valid files: 8-bit RGB/gray/RGBA PNG, 16-bit PNG, JPEG, TIFFs (8-bit, float, int), BMP, WebP."""
    yy, xx = np.mgrid[0:20, 0:24]
    rgb = (np.stack([xx * 10, yy * 12, (xx + yy) * 5], axis=2) + rng.integers(0, 30, (20, 24, 3))).astype(np.uint8)
    gray = rgb[..., 0]
    return {
        "rgb.png": _save(PILImage.fromarray(rgb), "PNG"),
        "gray.png": _save(PILImage.fromarray(gray), "PNG"),
        "rgba.png": _save(PILImage.fromarray(np.dstack([rgb, gray])), "PNG"),
        "deep.png": _save(PILImage.fromarray(gray.astype(np.uint16) * 257), "PNG"),
        "photo.jpg": _save(PILImage.fromarray(rgb), "JPEG", quality=90),
        "scan.tif": _save(PILImage.fromarray(rgb), "TIFF", compression="tiff_adobe_deflate"),
        "plain.tif": _save(PILImage.fromarray(rgb), "TIFF"),
        "float.tif": _save(PILImage.fromarray(gray.astype(np.float32) / 255, "F"), "TIFF"),
        "int.tif": _save(PILImage.fromarray(gray.astype(np.int32) * 257, "I"), "TIFF"),
        "pic.bmp": _save(PILImage.fromarray(rgb), "BMP"),
        "pic.webp": _save(PILImage.fromarray(rgb), "WEBP", quality=80),
    }


def _truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(8, max(9, len(data) - 16)))]


def _flip_bits(data: bytes, rng: np.random.Generator) -> bytes:
    arr = bytearray(data)
    for pos in rng.integers(0, len(arr), int(rng.integers(1, 24))):
        arr[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(arr)


def _flip_header(data: bytes, rng: np.random.Generator) -> bytes:
    arr = bytearray(data)
    for pos in rng.integers(0, min(len(arr), 64), int(rng.integers(1, 4))):
        arr[pos] = int(rng.integers(0, 256))
    return bytes(arr)


def _random_body(data: bytes, rng: np.random.Generator) -> bytes:
    keep = int(rng.integers(2, 40))
    return data[:keep] + rng.integers(0, 256, int(rng.integers(0, 600)), dtype=np.uint8).tobytes()


def _random_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    return rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()


def _zero_run(data: bytes, rng: np.random.Generator) -> bytes:
    start = int(rng.integers(0, len(data)))
    length = int(rng.integers(1, 200))
    return data[:start] + b"\0" * length + data[start + length :]


def _duplicate(data: bytes, rng: np.random.Generator) -> bytes:
    a, b = sorted(int(v) for v in rng.integers(0, len(data), 2))
    return data[:b] + data[a:b] + data[b:]


def _trailing_junk(data: bytes, rng: np.random.Generator) -> bytes:
    return data + rng.integers(0, 256, int(rng.integers(1, 3000)), dtype=np.uint8).tobytes()


MUTATIONS: list[Mutation] = [
    _truncate,
    _flip_bits,
    _flip_header,
    _random_body,
    _random_bytes,
    _zero_run,
    _duplicate,
    _trailing_junk,
]


def expected(seed_name: str, mutation: str, original: bytes, mutated: bytes) -> str:
    """The class a mutated file must land in (see the module doc)."""
    ext = seed_name.rsplit(".", 1)[1]
    if mutated == original or (mutation == "trailing_junk" and ext in ("png", "jpg")):
        return "valid"
    if mutation in ("random_bytes", "random_body") or (ext == "png" and mutation != "trailing_junk"):
        return "corrupt"
    if mutation == "truncate" and ext == "jpg":
        return "corrupt"
    return "unknown"


def jpeg_bomb(width: int, height: int) -> bytes:
    """A valid 16x16 JPEG whose SOF0 claims ``width x height``."""
    data = bytearray(_save(PILImage.fromarray(np.full((16, 16), 128, np.uint8)), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bombs() -> dict[str, bytes]:
    """Header bombs: giant declared sizes over almost no data (all must fail from the header)."""
    out: dict[str, bytes] = {}
    for i, (w, h) in enumerate([(100_000, 100_000), (65_535, 65_535), (20_000, 20_000)]):
        out[f"bomb_ihdr_{i}.png"] = huge_png(w, h)
        out[f"bomb_ifd_{i}.tif"] = huge_tiff(w * 2, h)
        out[f"bomb_sof_{i}.jpg"] = jpeg_bomb(min(w, 65_535), min(h, 65_535))
    return out


def corpus(folder: Path, per_seed: int, seed: int = SEED) -> dict[str, str]:
    """Write the corpus into ``folder``; returns file name -> expected class."""
    rng = np.random.default_rng(seed)
    labels: dict[str, str] = {}
    for seed_name, data in seeds(rng).items():
        stem, ext = seed_name.rsplit(".", 1)
        (folder / seed_name).write_bytes(data)
        labels[seed_name] = "valid"
        for k in range(per_seed):
            mutate = MUTATIONS[k % len(MUTATIONS)]
            kind = mutate.__name__.strip("_")
            name = f"{stem}_{k:03d}_{kind}.{ext}"
            mutated = mutate(data, rng)
            (folder / name).write_bytes(mutated)
            labels[name] = expected(seed_name, kind, data, mutated)
    for name, data in bombs().items():
        (folder / name).write_bytes(data)
        labels[name] = "corrupt"
    return labels


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    made = corpus(target, int(sys.argv[2]) if len(sys.argv) > 2 else 28)
    print(f"{len(made)} files in {target}")
