"""Geometric self-ensemble: transforms, averaging 1/2/4/8 copies, tiling, the CLI flags."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from conftest import FIXTURE_INFO, FIXTURES
from modelhelp import random_loaded

from bbcu_cli.engine.ensemble import COPIES, TRANSFORMS, inverse, self_ensemble, transform
from bbcu_cli.engine.restore import Restorer
from bbcu_cli.errors import UsageError
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
    assert json.loads(res.out)["ensemble"] is True and json.loads(res.out)["copies"] == 8
    loaded = load_model(ckpt)
    assert Restorer(loaded, ensemble=True).ensemble and not Restorer(loaded).ensemble


def test_eval_marks_the_ensemble_and_refuses_baselines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "set"
    data.mkdir()
    shutil.copy(FIXTURES / FIXTURE_INFO["denoise_f16_l6"]["input"], data / "a.png")
    ckpt = FIXTURES / FIXTURE_INFO["denoise_f16_l6"]["checkpoint"]
    res = run_cli(capsys, "eval", data, "--task", "denoise", "-m", ckpt, "--ensemble", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["model"].endswith("+") and json.loads(res.out)["copies"] == 8
    bad = run_cli(capsys, "eval", data, "--task", "denoise", "-m", "identity", "--ensemble")
    assert bad.code != 0 and "--ensemble" in bad.err


def _sr(seed: int = 4) -> LoadedModel:
    return random_loaded(ModelSpec("bbcu-m", "sr", 2, 3, 8, 2, 16.25, False, False), seed=seed)


def test_copy_table_and_its_checks() -> None:
    a = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    assert TRANSFORMS == {1: (0,), 2: (0, 2), 4: (0, 2, 4, 6), 8: tuple(range(8))}
    assert all(transform(a, i).shape == a.shape for i in TRANSFORMS[4])  # the shape-keeping four
    for bad in (0, 3, 16, True, 2.5):
        with pytest.raises(UsageError, match="1, 2, 4 or 8"):
            self_ensemble(lambda b: b, a.astype(np.float32), copies=bad)  # type: ignore[arg-type]


def test_one_copy_is_the_plain_forward_and_two_the_half_turn_mean() -> None:
    block = np.random.default_rng(5).random((5, 7, 1), dtype=np.float32)
    ramp = lambda b: b + np.arange(b.shape[1], dtype=np.float32)[None, :, None]  # noqa: E731
    assert self_ensemble(ramp, block, align=2, copies=1).tobytes() == ramp(block).tobytes()
    want = (ramp(block).astype(np.float64) + inverse(ramp(transform(block, 2)), 2)) / 2
    np.testing.assert_allclose(self_ensemble(ramp, block, copies=2), want, atol=1e-6)


@pytest.mark.parametrize("backend", ["float", "auto"])
def test_restorer_copies_one_is_the_plain_forward_bit_for_bit(backend: str) -> None:
    loaded = _dncnn(r=2)
    img = np.random.default_rng(6).random((23, 19, 3), dtype=np.float32)
    for dtype in (np.float32, np.uint8):
        plain = Restorer(loaded, backend=backend, device="cpu").restore(img, sigma=20.0, out_dtype=dtype)
        one = Restorer(loaded, backend=backend, device="cpu", copies=1).restore(img, sigma=20.0, out_dtype=dtype)
        assert one.tobytes() == plain.tobytes()


@pytest.mark.parametrize("backend", ["float", "auto"])
def test_restorer_two_copies_average_identity_and_half_turn(backend: str) -> None:
    loaded = _sr()
    img = np.random.default_rng(7).random((9, 7, 3), dtype=np.float32)
    once = Restorer(loaded, backend=backend, device="cpu")
    want = (once.restore(img) + inverse(once.restore(np.ascontiguousarray(transform(img, 2))), 2)) / 2
    two = Restorer(loaded, backend=backend, device="cpu", copies=2)
    got = two.restore(img)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got - once.restore(img)).max() > 1e-3  # the random model is far from equivariant
    tiled = Restorer(loaded, backend=backend, device="cpu", tile=3, copies=2)
    assert len(tiled.tiles_for(9, 7)) > 4
    np.testing.assert_allclose(tiled.restore(img), got, atol=1e-5, rtol=0)


def test_unshuffled_two_copies_tiled_equals_whole() -> None:
    loaded = _dncnn(r=2)
    img = np.random.default_rng(8).random((23, 19, 3), dtype=np.float32)
    whole = Restorer(loaded, backend="auto", device="cpu", copies=2).restore(img, sigma=20.0)
    tiled = Restorer(loaded, backend="auto", device="cpu", tile=6, copies=2).restore(img, sigma=20.0)
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)


def test_restorer_takes_the_models_own_copies_unless_told() -> None:
    loaded = _sr()
    assert loaded.copies == 1 and Restorer(loaded).copies == 1
    loaded.copies = 2
    assert Restorer(loaded).copies == 2 and not Restorer(loaded).ensemble
    assert Restorer(loaded, copies=1).copies == 1 and Restorer(loaded, copies=4).copies == 4
    assert Restorer(loaded, ensemble=True).copies == 8 and Restorer(loaded, ensemble=True, copies=8).ensemble
    assert Restorer(loaded)._settings["copies"] is None  # a routed variant runs its own model's copies
    with pytest.raises(UsageError, match="averages all 8 copies, not 2") as info:
        Restorer(loaded, ensemble=True, copies=2)
    assert "--copies" in info.value.for_cli()
    with pytest.raises(UsageError, match="1, 2, 4 or 8"):
        Restorer(loaded, copies=3)


def test_copies_reach_the_restorer_and_the_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    info = FIXTURE_INFO["denoise_f16_l6"]
    src = tmp_path / info["input"]
    shutil.copy(FIXTURES / info["input"], src)
    ckpt = FIXTURES / info["checkpoint"]
    seen: list[int] = []
    real = Restorer.__init__

    def spy(self: Restorer, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(self.copies)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Restorer, "__init__", spy)
        for n in (1, 2):
            out = tmp_path / f"out{n}.png"
            res = run_cli(capsys, "denoise", src, "-m", ckpt, "-o", out, "--copies", n, "--json", "--device", "cpu")
            assert res.code == 0, res.err
            assert json.loads(res.out)["copies"] == n and json.loads(res.out)["ensemble"] is False
    assert seen == [1, 2]
    res = run_cli(capsys, "denoise", src, "-m", ckpt, "-o", tmp_path / "o.png", "--copies", "2", "--device", "cpu")
    assert res.code == 0 and ", 2 copies" in res.err
    bad = run_cli(capsys, "denoise", src, "-m", ckpt, "-o", tmp_path / "x.png", "--ensemble", "--copies", "2")
    assert bad.code == 2 and "--ensemble" in bad.err and "--copies" in bad.err
    bad = run_cli(capsys, "denoise", src, "-m", ckpt, "-o", tmp_path / "x.png", "--copies", "3")
    assert bad.code == 2 and "--copies 3" in bad.err


def test_eval_reports_the_copies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "set"
    data.mkdir()
    shutil.copy(FIXTURES / FIXTURE_INFO["denoise_f16_l6"]["input"], data / "a.png")
    ckpt = FIXTURES / FIXTURE_INFO["denoise_f16_l6"]["checkpoint"]
    res = run_cli(capsys, "eval", data, "--task", "denoise", "-m", ckpt, "--copies", "2", "--json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert got["copies"] == 2 and not got["model"].endswith("+")
    text = run_cli(capsys, "eval", data, "--task", "denoise", "-m", ckpt, "--copies", "2")
    assert text.code == 0 and ", 2 copies: PSNR" in text.out
    bad = run_cli(capsys, "eval", data, "--task", "denoise", "-m", "identity", "--copies", "2")
    assert bad.code != 0 and "--copies 2" in bad.err


def test_the_api_takes_copies() -> None:
    from bbcu_cli.api import restore_array

    loaded = _sr()
    img = np.random.default_rng(9).random((9, 7, 3), dtype=np.float32)
    want = Restorer(loaded, backend="float", device="cpu", copies=2).restore(img)
    assert restore_array(loaded, img, backend="float", copies=2).tobytes() == want.tobytes()
    with pytest.raises(UsageError, match="averages all 8 copies"):
        restore_array(loaded, img, ensemble=True, copies=4)


def test_the_tile_budget_counts_the_ensembles_float_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    import bbcu_cli.engine.restore as engine_restore

    loaded = _sr()
    monkeypatch.setattr(engine_restore, "free_memory_bytes", lambda device: 4 * 3_000_000)  # budget 3 MB
    one = Restorer(loaded, backend="float", device="cpu", copies=1).tiles_for(1000, 1000)
    two = Restorer(loaded, backend="float", device="cpu", copies=2).tiles_for(1000, 1000)
    area = lambda tiles: max((t.py1 - t.py0) * (t.px1 - t.px0) for t in tiles)  # noqa: E731
    assert area(two) < area(one) and len(two) > len(one)
