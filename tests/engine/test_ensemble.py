"""x8 geometric self-ensemble: transforms, averaging, tiling, the CLI flag."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from conftest import FIXTURE_INFO, FIXTURES
from modelhelp import random_loaded

from bbcu_cli.engine.ensemble import COPIES, inverse, self_ensemble, transform
from bbcu_cli.engine.restore import Restorer
from bbcu_cli.loading import LoadedModel, ModelSpec, load_model


def _dncnn(r: int = 2, noise: bool = True) -> LoadedModel:
    return random_loaded(
        ModelSpec("dncnn", "denoise" if noise else "deblock", 1, 3, 16, 5, 32.5, False, noise, r), seed=r
    )


def test_transforms_are_the_eight_symmetries() -> None:
    a = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    seen = {transform(a, i).tobytes() + bytes(transform(a, i).shape) for i in range(COPIES)}
    assert len(seen) == COPIES
    for i in range(COPIES):
        np.testing.assert_array_equal(inverse(transform(a, i), i), a)
    np.testing.assert_array_equal(transform(a, 0), a)


def test_equivariant_forward_is_unchanged() -> None:
    """A pixel-wise map commutes with every transform, so the ensemble gives the same result."""
    block = np.random.default_rng(0).random((5, 7, 3), dtype=np.float32)
    np.testing.assert_allclose(self_ensemble(lambda b: b * 2 - 1, block), block * 2 - 1, atol=1e-6)


def test_averages_the_back_transformed_outputs() -> None:
    """A map that is not equivariant (adds the column index) is averaged over the 8 copies."""
    block = np.zeros((4, 4, 1), dtype=np.float32)
    ramp = lambda b: b + np.arange(b.shape[1], dtype=np.float32)[None, :, None]  # noqa: E731
    got = self_ensemble(ramp, block)
    want = np.mean([inverse(ramp(transform(block, i)), i) for i in range(COPIES)], axis=0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not np.allclose(got, ramp(block))


def test_pads_to_the_alignment_before_transforming() -> None:
    """Odd sizes are edge-padded to the alignment first, and the output is cropped back (x scale)."""
    block = np.random.default_rng(1).random((5, 3, 1), dtype=np.float32)
    shapes: list[tuple[int, ...]] = []
    upscale = lambda b: (shapes.append(b.shape), b.repeat(2, axis=0).repeat(2, axis=1))[1]  # noqa: E731
    out = self_ensemble(upscale, block, scale=2, align=2)
    assert out.shape == (10, 6, 1)
    assert set(shapes) == {(6, 4, 1), (4, 6, 1)}
    np.testing.assert_allclose(out, block.repeat(2, axis=0).repeat(2, axis=1), atol=1e-6)


@pytest.mark.parametrize("backend", ["float", "auto"])
def test_unshuffled_model_tiled_equals_whole(backend: str) -> None:
    loaded = _dncnn(r=2)
    img = np.random.default_rng(2).random((23, 19, 3), dtype=np.float32)
    plain = Restorer(loaded, backend=backend, device="cpu").restore(img, sigma=20.0)
    whole = Restorer(loaded, backend=backend, device="cpu", ensemble=True).restore(img, sigma=20.0)
    tiled_restorer = Restorer(loaded, backend=backend, device="cpu", tile=6, ensemble=True)
    assert len(tiled_restorer.tiles_for(23, 19)) > 4
    np.testing.assert_allclose(tiled_restorer.restore(img, sigma=20.0), whole, atol=1e-5, rtol=0)
    assert np.abs(whole - plain).max() > 1e-3  # the random model is far from equivariant


def test_restorer_matches_manual_ensemble_on_sr() -> None:
    spec = ModelSpec("bbcu-m", "sr", 2, 3, 8, 2, 16.25, False, False)
    loaded = random_loaded(spec, seed=4)
    img = np.random.default_rng(3).random((9, 7, 3), dtype=np.float32)
    once = Restorer(loaded, backend="float", device="cpu")
    got = Restorer(loaded, backend="float", device="cpu", ensemble=True).restore(img)
    want = np.mean([inverse(once.restore(np.ascontiguousarray(transform(img, i))), i) for i in range(COPIES)], axis=0)
    assert got.shape == (18, 14, 3)
    np.testing.assert_allclose(got, want, atol=1e-5)
    tiled = Restorer(loaded, backend="float", device="cpu", tile=3, ensemble=True)
    assert len(tiled.tiles_for(9, 7)) > 4
    np.testing.assert_allclose(tiled.restore(img), got, atol=1e-5)


def test_cli_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    info = FIXTURE_INFO["denoise_f16_l6"]
    src = tmp_path / info["input"]
    shutil.copy(FIXTURES / info["input"], src)
    ckpt = FIXTURES / info["checkpoint"]
    res = run_cli(capsys, "denoise", src, "-m", ckpt, "-o", tmp_path / "out.png", "--ensemble", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["ensemble"] is True
    loaded = load_model(ckpt)
    assert Restorer(loaded, ensemble=True).ensemble and not Restorer(loaded).ensemble


def test_eval_marks_the_ensemble_and_refuses_baselines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "set"
    data.mkdir()
    shutil.copy(FIXTURES / FIXTURE_INFO["denoise_f16_l6"]["input"], data / "a.png")
    ckpt = FIXTURES / FIXTURE_INFO["denoise_f16_l6"]["checkpoint"]
    res = run_cli(capsys, "eval", data, "--task", "denoise", "-m", ckpt, "--ensemble", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["model"].endswith("+")
    bad = run_cli(capsys, "eval", data, "--task", "denoise", "-m", "identity", "--ensemble")
    assert bad.code != 0 and "--ensemble" in bad.err
