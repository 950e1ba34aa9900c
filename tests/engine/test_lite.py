"""The torch-free runtime (bbcu_cli.lite) gives the torch packed backend's bytes.

Bundled BBCU-P and DnCNN models and random tiny ones (saved as project files): plan arrays equal
fold_unit's, every head value equals the torch helper's, and restored images are byte-identical
(uint8, uint16 and float32 outputs; odd sizes; tiles; gray and alpha-free RGB; sigma; deblock).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from modelhelp import random_loaded

from bbcu_cli import kernels
from bbcu_cli.archs.spec import ModelSpec
from bbcu_cli.engine.packed_plan import build_plan
from bbcu_cli.engine.restore import Restorer
from bbcu_cli.errors import UsageError
from bbcu_cli.lite import LITE_FAMILIES, LiteBackend, load_lite
from bbcu_cli.lite.families import expected_shapes
from bbcu_cli.loading import build_model, load_model, save_model
from bbcu_cli.weights.cache import bundled_dir

pytestmark = pytest.mark.skipif(not kernels.backend_status().available, reason="packed kernels not available")

BUNDLED = sorted(p for p in bundled_dir().glob("*.safetensors") if load_model(p).spec.arch in LITE_FAMILIES)
RANDOM = {
    "bbcup-x3-16": ModelSpec("bbcu-p", "sr", 3, 3, 16, 2, 20.0),
    "bbcup-x2-gray-24": ModelSpec("bbcu-p", "sr", 2, 1, 24, 1, 0.1),
    "dncnn-deblock-bias": ModelSpec("dncnn", "deblock", 1, 3, 16, 5, 30.0, bias=True),
    "dncnn-u2-noise": ModelSpec("dncnn", "denoise", 1, 3, 32, 4, 65.0, noise_channel=True, unshuffle=2),
    "dncnn-u3-gray": ModelSpec("dncnn", "denoise", 1, 1, 8, 3, 7.3, unshuffle=3),
}


def _random_file(name: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{name}.safetensors"
    loaded = random_loaded(RANDOM[name], seed=len(name))
    save_model(path, loaded.model, loaded.spec)
    return path


def _pair(path: Path) -> tuple[Restorer, Restorer]:
    torch_side = Restorer(load_model(path), backend="packed", device="cpu", threads=2)
    lite_side = Restorer(load_lite(path), backend="auto", device="cpu", threads=2)
    assert lite_side.choice.torch_free and not torch_side.choice.torch_free
    return torch_side, lite_side


def _same_bytes(path: Path, pixels: np.ndarray, tile: int = 0) -> None:
    a, b = _pair(path)
    a.tile = b.tile = tile
    sigma = 25.0 if a.spec.noise_channel else None
    for dtype in (np.uint8, np.uint16, np.float32):
        want = a.restore(pixels, sigma=sigma, out_dtype=dtype)
        got = b.restore(pixels, sigma=sigma, out_dtype=dtype)
        assert want.dtype == got.dtype and want.tobytes() == got.tobytes(), f"{path.name} {dtype.__name__} tile {tile}"


def _image(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, c)) * 255).astype(np.uint8)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_plan_equals_fold_unit(path: Path) -> None:
    want, got = build_plan(load_model(path)), load_lite(path).plan
    assert (want.head_act, want.tail_act) == (got.head_act, got.tail_act) and len(want.units) == len(got.units)
    for a, b in zip(want.units, got.units):
        for field in (
            "cin",
            "cout",
            "factor",
            "co8",
            "weights",
            "ecorr",
            "alpha",
            "bias",
            "b0",
            "slope",
            "b1",
            "threshold",
        ):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None and y is None) or np.array_equal(x, y), field
            assert x is None or getattr(x, "dtype", None) == getattr(y, "dtype", None), field


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_head_values_equal(path: Path) -> None:
    """Every head value of the C float64 kernel equals the torch float64 helper's (0 differ)."""
    from bbcu_cli.engine.packed import PackedBackend

    loaded, lite = load_model(path), load_lite(path)
    pb, lb = PackedBackend(loaded, threads=2), LiteBackend(lite, threads=2)
    sigma = 25.0 if lite.spec.noise_channel else None
    for seed, (h, w) in enumerate([(61, 47), (96, 128)]):
        block = np.random.default_rng(seed).random((h, w, lite.spec.in_channels), dtype=np.float32)
        with torch.inference_mode():
            want = pb.head(block, sigma)
        got = lb.head(block, sigma)
        assert np.array_equal(want.view(np.uint32), got.view(np.uint32))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_outputs_byte_identical(path: Path) -> None:
    _same_bytes(path, _image(37, 29, 3))


@pytest.mark.parametrize("name", list(RANDOM))
@pytest.mark.parametrize("tile", [0, 9])
def test_random_outputs_byte_identical(name: str, tile: int, tmp_path: Path) -> None:
    path = _random_file(name, tmp_path)
    _same_bytes(path, _image(23, 19, RANDOM[name].in_channels, seed=tile), tile)


@pytest.mark.parametrize("name", ["bbcup-x3-16", "dncnn-u2-noise", "bbcup-x2-gray-24", "dncnn-u3-gray"])
def test_channel_handling_identical(name: str, tmp_path: Path) -> None:
    """Gray images through RGB models and colour images through gray models, as the CLI feeds them."""
    path = _random_file(name, tmp_path)
    other = 1 if RANDOM[name].in_channels == 3 else 3
    _same_bytes(path, _image(17, 13, other, seed=3))
    _same_bytes(path, _image(17, 13, other, seed=3)[:, :, 0] if other == 1 else _image(17, 13, 3)[:, :, :1])


@pytest.mark.parametrize("name", list(RANDOM))
def test_expected_shapes_match_the_torch_model(name: str) -> None:
    spec = RANDOM[name]
    model = build_model(spec)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert expected_shapes(LITE_FAMILIES[spec.arch], spec) == want


def test_alpha_float64_agrees_with_numpy() -> None:
    """weight_alpha (torch, float64 sum) equals alpha_of (numpy) on random weights of any size."""
    from bbcu_cli.engine.packed_units import alpha_of
    from bbcu_cli.models.binary import weight_alpha

    g = torch.Generator().manual_seed(0)
    for cout, cin, scale in [(64, 64, 0.05), (27, 13, 3.0), (8, 300, 1e-4)]:
        w = torch.randn(cout, cin, 3, 3, generator=g) * scale
        assert np.array_equal(weight_alpha(w).numpy(), alpha_of(w.numpy()))


def test_lite_refuses_what_it_does_not_run(tmp_path: Path) -> None:
    from bbcu_cli.lite import LiteUnsupported, try_lite

    spec = ModelSpec("bbcu-m", "sr", 2, 3, 8, 1, 10.0)
    loaded = random_loaded(spec)
    save_model(tmp_path / "m.safetensors", loaded.model, spec)
    assert try_lite(tmp_path / "m.safetensors")[0] is None
    with pytest.raises(LiteUnsupported):
        load_lite(tmp_path / "m.safetensors")
    p = _random_file("bbcup-x3-16", tmp_path)
    with pytest.raises(UsageError, match="needs the torch runtime"):
        Restorer(load_lite(p), backend="float")
