"""A few hundred mutated PNG/JPEG/TIFF/BMP/WebP files in one batch: no crash, no hang, clean
per-file failures naming the file, no temp files. Seeded, so every run sees the same files."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image as PILImage

from clihelp import run_cli
from conftest import FIXTURES
from test_hardening import huge_png, huge_tiff

MODEL = FIXTURES / "denoise_f16_l6.pth"
SEED = 20240606
Mutation = Callable[[bytes, np.random.Generator], bytes]


def _seeds(rng: np.random.Generator) -> dict[str, bytes]:
    """Small valid files: 8-bit RGB/gray/RGBA PNG, 16-bit PNG, JPEG, TIFF, BMP, WebP."""
    yy, xx = np.mgrid[0:20, 0:24]
    rgb = np.stack([xx * 10, yy * 12, (xx + yy) * 5], axis=2).astype(np.uint8)
    rgb = (rgb + rng.integers(0, 30, rgb.shape)).astype(np.uint8)
    out: dict[str, bytes] = {}
    for name, img, fmt, opts in [
        ("rgb.png", PILImage.fromarray(rgb), "PNG", {}),
        ("gray.png", PILImage.fromarray(rgb[..., 0]), "PNG", {}),
        ("rgba.png", PILImage.fromarray(np.dstack([rgb, rgb[..., :1]])), "PNG", {}),
        ("deep.png", PILImage.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG", {}),
        ("photo.jpg", PILImage.fromarray(rgb), "JPEG", {"quality": 90}),
        ("scan.tif", PILImage.fromarray(rgb), "TIFF", {"compression": "tiff_adobe_deflate"}),
        ("plain.tif", PILImage.fromarray(rgb), "TIFF", {}),
        ("pic.bmp", PILImage.fromarray(rgb), "BMP", {}),
        ("pic.webp", PILImage.fromarray(rgb), "WEBP", {"quality": 80}),
    ]:
        buf = io.BytesIO()
        img.save(buf, fmt, **opts)
        out[name] = buf.getvalue()
    return out


def _truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


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


def _png_dims(data: bytes, rng: np.random.Generator) -> bytes:
    """Rewrite a PNG IHDR with random (often huge) dimensions and a fixed-up CRC."""
    if not data.startswith(b"\x89PNG"):
        return _flip_bits(data, rng)
    w, h = (int(v) for v in rng.choice([1, 7, 2**15, 2**20, 2**31 - 1, 100_000], 2))
    body = b"IHDR" + struct.pack(">II", w, h) + data[24:29]
    return data[:12] + body + struct.pack(">I", zlib.crc32(body)) + data[33:]


MUTATIONS: list[Mutation] = [_truncate, _flip_bits, _flip_header, _random_body, _random_bytes, _zero_run, _duplicate, _png_dims]


def _corpus(folder: Path, rng: np.random.Generator, per_seed: int) -> list[str]:
    names = []
    for seed_name, data in _seeds(rng).items():
        stem, ext = seed_name.rsplit(".", 1)
        for k in range(per_seed):
            mutate = MUTATIONS[k % len(MUTATIONS)]
            name = f"{stem}_{k:03d}_{mutate.__name__.strip('_')}.{ext}"
            (folder / name).write_bytes(mutate(data, rng))
            names.append(name)
    for i, (w, h) in enumerate([(100_000, 100_000), (65_535, 65_535), (30_000, 20_000)]):
        (folder / f"huge_ihdr_{i}.png").write_bytes(huge_png(w, h))
        (folder / f"huge_ifd_{i}.tif").write_bytes(huge_tiff(w * 2, h))
        names += [f"huge_ihdr_{i}.png", f"huge_ifd_{i}.tif"]
    return names


@pytest.mark.timeout(240)
def test_fuzzed_batch(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    names = _corpus(folder, np.random.default_rng(SEED), per_seed=32)
    assert len(names) >= 290
    res = run_cli(capsys, "denoise", folder, "-m", MODEL, "-o", out, "--json", "--max-pixels", "250000")
    assert res.code == 1
    items = json.loads(res.out)["items"]
    assert sorted(Path(i["input"]).name for i in items) == sorted(names)
    failed = [i for i in items if i["status"] == "failed"]
    assert len(failed) > len(items) // 2
    for item in items:
        assert item["status"] in ("ok", "failed")
        if item["status"] == "failed":
            assert Path(item["input"]).name in item["error"], item
            assert "\n" not in item["error"]
            assert not Path(item["output"]).exists()
        else:
            PILImage.open(item["output"]).load()  # complete, decodable output
    huge = [i for i in items if Path(i["input"]).name.startswith("huge_")]
    assert all(i["status"] == "failed" and "max-pixels" in i["error"] for i in huge)
    assert "Traceback" not in res.err and "internal error" not in res.err
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")] if out.exists() else []
    assert leftovers == []
