"""The packed XNOR/popcount backend reproduces the float models exactly (every ISA, threads)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FIXTURE_INFO, FIXTURE_NAMES, FIXTURES, fixture_expected, fixture_expected_png, fixture_input
from modelhelp import random_model

from bbcu_cli import kernels
from bbcu_cli.errors import KernelUnavailable
from bbcu_cli.loading import LoadedModel, load_model

pytestmark = pytest.mark.skipif(not kernels.built(), reason=f"packed kernels not built: {kernels.status().reason}")

from bbcu_cli.engine.packed import PackedBackend, packed_status, supports  # noqa: E402

SIZES = [(1, 1), (1, 9), (9, 1), (7, 5), (33, 17)]
ROOT = Path(__file__).resolve().parents[2]


def reference(loaded: LoadedModel, x: torch.Tensor, sigma: float | None) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(x, sigma) if loaded.spec.noise_channel else loaded.model(x)


def to_8bit(t: torch.Tensor) -> np.ndarray:
    return np.round(t.clamp(0, 1).numpy() * 255).astype(np.int16)


def assert_matches(out: torch.Tensor, ref: torch.Tensor) -> None:
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) < 1e-4
    assert int(np.abs(to_8bit(out) - to_8bit(ref)).max()) <= 1


def check_model(loaded: LoadedModel, sizes: list[tuple[int, int]] = SIZES) -> None:
    sigma = 25.0 if loaded.spec.noise_channel else None
    one, two = PackedBackend(loaded, threads=1), PackedBackend(loaded, threads=2)
    for h, w in sizes:
        x = torch.rand(1, 3, h, w)
        out = one(x, sigma)
        assert_matches(out, reference(loaded, x, sigma))
        assert torch.equal(out, two(x, sigma)), "1 and 2 threads differ"


@pytest.fixture
def restore_isa() -> Iterator[None]:
    saved = os.environ.get("BBCU_KERNEL_ISA")
    yield
    os.environ.pop("BBCU_KERNEL_ISA", None)  # monkeypatch may restore it only after this teardown
    if saved is not None:
        os.environ["BBCU_KERNEL_ISA"] = saved
    kernels.configure_from_env()


def test_status_reports_isa_and_features() -> None:
    st = packed_status()
    assert st.available, st.reason
    assert st.isa in kernels.usable_isas()
    assert isinstance(st.features, list)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_official_fixtures(name: str) -> None:
    info = FIXTURE_INFO[name]
    loaded = load_model(FIXTURES / info["checkpoint"])
    assert supports(loaded) == (True, "")
    x = torch.from_numpy(fixture_input(name).astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    out = PackedBackend(loaded, threads=2)(x)
    assert_matches(out, reference(loaded, x, None))
    got = out[0].permute(1, 2, 0).numpy()
    assert float(np.abs(got - fixture_expected(name)).max()) < 1e-4
    png = np.round(np.clip(got, 0, 1) * 255).astype(np.int16)
    assert int(np.abs(png - fixture_expected_png(name)).max()) <= 1


CASES = {
    "bbcum-x2-16": dict(arch="bbcu-m", feat=16, depth=2, scale=2),
    "bbcum-x3-24": dict(arch="bbcu-m", feat=24, depth=1, scale=3),
    "bbcum-x4-70": dict(arch="bbcu-m", feat=70, depth=1, scale=4),
    "bbcum-x2-128": dict(arch="bbcu-m", feat=128, depth=1, scale=2),
    "bbcum-x4-16-deep": dict(arch="bbcu-m", feat=16, depth=8, scale=4),
    "bbcul-x4-64": dict(arch="bbcu-l", feat=64, depth=2, scale=4),
    "bbcul-x3-16": dict(arch="bbcu-l", feat=16, depth=1, scale=3),
    "dncnn-noise-16-deep": dict(arch="dncnn", feat=16, depth=10, noise=True),
    "dncnn-bias-70": dict(arch="dncnn", feat=70, depth=4, bias=True),
    "dncnn-zeros-24": dict(arch="dncnn", feat=24, depth=5, zero_move=True),
    "bbcum-zeros-16": dict(arch="bbcu-m", feat=16, depth=1, scale=2, zero_move=True),
    "dncnn-unshuffle2-noise-32": dict(arch="dncnn", feat=32, depth=5, noise=True, unshuffle=2),
    "dncnn-unshuffle3-bias-16": dict(arch="dncnn", feat=16, depth=4, bias=True, unshuffle=3),
    "bbcup-x4-32": dict(arch="bbcu-p", feat=32, depth=2, scale=4),
    "bbcup-x3-16": dict(arch="bbcu-p", feat=16, depth=3, scale=3),
    "bbcup-x2-70-zeros": dict(arch="bbcu-p", feat=70, depth=1, scale=2, zero_move=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_random_models(case: str) -> None:
    wide = CASES[case]["feat"] > 24 or CASES[case]["depth"] > 4  # type: ignore[operator]
    check_model(random_model(**CASES[case]), sizes=[(1, 1), (7, 5), (33, 17)] if wide else SIZES)  # type: ignore[arg-type]


@pytest.mark.parametrize("isa", kernels.usable_isas())
def test_every_isa(isa: str, restore_isa: None) -> None:
    kernels.select_isa(isa)
    assert packed_status().isa == isa
    for case in ("bbcum-x4-70", "dncnn-zeros-24", "bbcul-x3-16"):
        check_model(random_model(**CASES[case]), sizes=[(1, 9), (33, 17)])  # type: ignore[arg-type]


def test_batch_and_sigma() -> None:
    loaded = random_model("dncnn", 16, 4, noise=True)
    x = torch.rand(2, 3, 9, 11)
    out = PackedBackend(loaded)(x, 15.0)
    assert_matches(out, reference(loaded, x, 15.0))


def test_isa_env_override(monkeypatch: pytest.MonkeyPatch, restore_isa: None) -> None:
    monkeypatch.setenv("BBCU_KERNEL_ISA", "portable")
    kernels.configure_from_env()
    assert packed_status().isa == "portable"
    monkeypatch.setenv("BBCU_KERNEL_ISA", "sse9")
    kernels.configure_from_env()
    st = packed_status()
    assert not st.available and "BBCU_KERNEL_ISA=sse9" in st.reason
    missing = [i for i in ("avx512", "avx2", "neon") if i not in kernels.usable_isas()]
    monkeypatch.setenv("BBCU_KERNEL_ISA", missing[0])
    kernels.configure_from_env()
    st = packed_status()
    assert not st.available and f"BBCU_KERNEL_ISA={missing[0]} but" in st.reason
    with pytest.raises(KernelUnavailable):
        PackedBackend(random_model("dncnn", 16, 3))


def test_missing_extension_imports_and_reports() -> None:
    code = "import json; from bbcu_cli.engine.packed import packed_status as s; print(json.dumps(s().__dict__))"
    env = {**os.environ, "BBCU_KERNEL_LIB": "/nonexistent/_bitconv.so", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    st = json.loads(done.stdout.strip().splitlines()[-1])
    assert not st["available"] and st["reason"].startswith("extension not built")


def test_disabled_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBCU_DISABLE_PACKED", "1")
    st = packed_status()
    assert not st.available and "BBCU_DISABLE_PACKED=1" in st.reason
    with pytest.raises(KernelUnavailable):
        PackedBackend(random_model("dncnn", 16, 3))


def test_zero_weight_is_not_exact() -> None:
    loaded = random_model("bbcu-m", 16, 1, 2)
    with torch.no_grad():
        loaded.model.body[0].body[0].binary_conv.weight[0, 0, 1, 1] = 0.0
    ok, why = supports(loaded)
    assert not ok and "not exact" in why
    with pytest.raises(KernelUnavailable):
        PackedBackend(loaded)


def test_program_keeps_its_plan_alive() -> None:
    """The kernel arguments point into the plan's arrays: a program built from a temporary plan
    must keep it (a freed plan once fed garbage thresholds to bench_unit.py)."""
    import gc
    import weakref

    from bbcu_cli.engine.packed import PackedProgram
    from bbcu_cli.engine.packed_plan import build_plan

    loaded = random_model("dncnn", 16, 3)
    plan = build_plan(loaded)
    ref = weakref.ref(plan)
    prog = PackedProgram(plan, 5, 7)
    del plan
    gc.collect()
    assert ref() is not None and prog.plan is ref()


@pytest.mark.parametrize("case", ["bbcum-x4-16-deep", "bbcul-x3-16", "bbcum-x2-16", "bbcum-zeros-16"])
@pytest.mark.parametrize("side", [5, 6, 9])
def test_high_resolution_tiles_equal_one_tile(case: str, side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiles of ``side`` input pixels (halo 2: cores of 1 to 5 pixels, edge tiles shifted
    inwards) give what one tile over the whole input gives: the halo is enough."""
    from bbcu_cli.engine import packed

    loaded = random_model(**CASES[case])  # type: ignore[arg-type]
    x = torch.rand(1, 3, 23, 17)
    whole = PackedBackend(loaded, threads=2)
    assert whole.hr_tile(23, 17) == (23, 17)
    monkeypatch.setattr(packed, "MIN_TILE", side)
    monkeypatch.setattr(packed, "HR_TILE_BYTES", 1)
    tiled = PackedBackend(loaded, threads=2)
    rows, cols = tiled.hr_tile(23, 17)
    assert rows <= side and cols <= side
    out = tiled(x)
    assert_matches(out, reference(loaded, x, None))
    assert float((out - whole(x)).abs().max()) < 1e-5


@pytest.mark.parametrize(
    ("lo", "hi", "n", "size"), [(0, 23, 23, 5), (3, 20, 23, 9), (0, 7, 7, 9), (5, 6, 23, 6), (0, 320, 320, 110)]
)
def test_tile_spans_cover_with_halo(lo: int, hi: int, n: int, size: int) -> None:
    """Cores tile ``[lo, hi)`` exactly; every tile has the same size and holds its core plus the
    halo (or reaches the image border)."""
    from bbcu_cli.engine.packed import HR_HALO, _spans, tile_size

    size = tile_size(n, size)
    assert size <= n and (size == n or size - 2 * HR_HALO >= 1)
    spans = list(_spans(lo, hi, n, size))
    assert [a for a, _, _ in spans][0] == lo and spans[-1][1] == hi
    assert all(b == a2 for (_, b, _), (a2, _, _) in zip(spans, spans[1:]))
    for a, b, start in spans:
        end = start + min(size, n)
        assert 0 <= start and end <= n and a < b
        assert start <= max(0, a - HR_HALO) and end >= min(n, b + HR_HALO)


@pytest.mark.parametrize("case", ["bbcum-x2-16", "bbcup-x3-16", "dncnn-unshuffle2-noise-32", "bbcul-x4-64"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.uint16])
def test_restore_into_a_window(case: str, dtype: type) -> None:
    """A window written straight into a strided output equals that crop of the whole output."""
    from bbcu_cli.engine.finish import Window

    loaded = random_model(**CASES[case])  # type: ignore[arg-type]
    sigma = 25.0 if loaded.spec.noise_channel else None
    backend = PackedBackend(loaded, threads=2)
    block = np.random.default_rng(1).random((13, 9, 3), dtype=np.float32)
    s = loaded.spec.scale
    full = backend(torch.from_numpy(block.transpose(2, 0, 1).copy())[None], sigma)[0].permute(1, 2, 0).numpy()
    out = np.zeros((13 * s + 4, 9 * s + 6, 3), dtype=dtype)
    win = Window(2, 13 * s - 3, 1, 9 * s - 2)
    backend.restore_into(block, sigma, out[3 : 3 + win.y1 - win.y0, 5 : 5 + win.x1 - win.x0], win)
    got = out[3 : 3 + win.y1 - win.y0, 5 : 5 + win.x1 - win.x0].astype(np.float64)
    want = full[win.y0 : win.y1, win.x0 : win.x1].astype(np.float64)
    if dtype is np.float32:
        assert float(np.abs(got - want).max()) < 1e-5
    else:
        top = 255.0 if dtype is np.uint8 else 65535.0
        assert float(np.abs(got - np.rint(np.clip(want, 0, 1) * top)).max()) <= 1
    outside = out.copy()
    outside[3 : 3 + win.y1 - win.y0, 5 : 5 + win.x1 - win.x0] = 0
    assert not outside.any(), "wrote outside the window"


def test_programs_are_reused_per_size() -> None:
    """Alternating tile sizes do not re-plan: one chain per size, kept (up to a few sizes)."""
    loaded = random_model(**CASES["bbcup-x4-32"])  # type: ignore[arg-type]
    backend = PackedBackend(loaded, threads=1)
    for h in (9, 7, 9, 7):
        backend(torch.rand(1, 3, h, 5))
    chains = dict(backend._chains)
    backend(torch.rand(1, 3, 9, 5))
    assert set(chains) == {("lr", 9, 5), ("lr", 7, 5)}
    assert backend._chains[("lr", 9, 5)] is chains[("lr", 9, 5)]


# the BBCU-P tails (48, 27 and 12 outputs; cin 70 is no multiple of 8) take the AVX2 conv
# vectorised over outputs, whose blocks of 4 / 6 pixels start anywhere relative to a tile
@pytest.mark.parametrize(
    "case", ["bbcup-x3-16", "bbcup-x4-32", "bbcup-x2-70-zeros", "bbcum-x4-16-deep", "dncnn-unshuffle2-noise-32"]
)
@pytest.mark.parametrize("tile", [5, 16])
def test_tiled_equals_whole_through_the_restorer(case: str, tile: int) -> None:
    """Tiles (halo = receptive field) written straight into the output equal the whole image."""
    from bbcu_cli.engine.restore import Restorer

    loaded = random_model(**CASES[case])  # type: ignore[arg-type]
    sigma = 25.0 if loaded.spec.noise_channel else None
    pixels = (np.random.default_rng(2).random((29, 23, 3)) * 255).astype(np.uint8)
    whole = Restorer(loaded, backend="packed", device="cpu", threads=2, tile=0).restore(
        pixels, sigma=sigma, out_dtype=np.uint8
    )
    tiled = Restorer(loaded, backend="packed", device="cpu", threads=2, tile=tile).restore(
        pixels, sigma=sigma, out_dtype=np.uint8
    )
    assert np.array_equal(whole, tiled)


NARROW_CHANNELS = [8, 16, 24, 32, 33]  # C <= 32: the AVX2 kernel's 32-bit path; 33: the 64-bit one
# (arch, scale, channels) beyond that grid so that every 32-bit block width (1..8 vectors of 8
# outputs) occurs: co8 = 40, 48, 56 take blocks of 5, 6 and 7 vectors
NARROW_EXTRA = [("bbcu-m", 3, 4), ("bbcu-m", 2, 12), ("bbcu-m", 2, 14), ("dncnn", 1, 20)]


def narrow_cases() -> list[tuple[str, int, int]]:
    return [(a, s, c) for c in NARROW_CHANNELS for a, s in (("dncnn", 1), ("bbcu-m", 2), ("bbcu-m", 3))] + NARROW_EXTRA


@pytest.mark.parametrize("arch,scale,c", narrow_cases())
def test_narrow_unit_counts_equal_portable(arch: str, scale: int, c: int, restore_isa: None) -> None:
    """Raw counts of every unit (plain and pixel-shuffle up units) on every usable ISA equal the
    portable kernel's exactly, at image borders and on rows with exact zeros (the masked path)."""
    from bbcu_cli.engine.chain import UnitChain
    from bbcu_cli.engine.packed_plan import build_plan

    plan = build_plan(random_model(arch, c, 3 if arch == "dncnn" else 1, scale, zero_move=True, seed=c))
    isas = kernels.usable_isas()
    g = torch.Generator().manual_seed(c)
    for h, w in [(1, 1), (1, 9), (9, 1), (7, 5), (12, 19)]:
        chain = UnitChain(plan.units, h, w, plan.head_act, plan.tail_act)
        head = torch.randn(1, c, h, w, generator=g)
        head[:, :, h // 2, : max(1, w // 3)] = 0.0  # zero move0: exact zeros -> masked rows h//2 +- 1
        chain.entry.src = head.data_ptr()
        kernels.select_isa("portable")
        kernels.run_entry(chain.entry, 1)
        for step, unit in zip(chain.steps, plan.units):
            got = {}
            for isa in isas:
                kernels.select_isa(isa)
                counts = torch.full((step.H * step.W * unit.cout,), -(1 << 30), dtype=torch.int32)
                probe = kernels.UnitArgs.from_buffer_copy(step)
                probe.counts = counts.data_ptr()
                kernels.run_unit(probe, 2)
                got[isa] = counts
            for isa in isas:
                assert torch.equal(got[isa], got["portable"]), f"{isa}: counts differ (C={c}, r={unit.factor}, {h}x{w})"
            kernels.select_isa("portable")
            kernels.run_unit(step, 1)  # the next unit's input


@pytest.mark.parametrize("c", NARROW_CHANNELS)
def test_narrow_models_match_reference(c: int) -> None:
    check_model(random_model("dncnn", c, 3, zero_move=c % 16 == 0, seed=c), sizes=[(1, 9), (9, 1), (7, 5), (12, 19)])
    check_model(random_model("bbcu-m", c, 1, 2, seed=c), sizes=[(1, 1), (7, 5)])


def test_extension_for_another_python_is_named(tmp_path: Path) -> None:
    """A checkout whose extension was built for another Python says so (not "circular import")."""
    pkg = tmp_path / "bbcu_cli"
    shutil.copytree(ROOT / "bbcu_cli", pkg, ignore=shutil.ignore_patterns("_bitconv*", "__pycache__"))
    (pkg / "kernels" / "_bitconv.cpython-299-x86_64-linux-gnu.so").write_bytes(b"not a library")
    code = "from bbcu_cli.kernels import backend_status as s; print(s().reason)"
    env = {k: v for k, v in os.environ.items() if k != "BBCU_KERNEL_LIB"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=tmp_path,
    )
    reason = done.stdout.strip().splitlines()[-1]
    assert reason.startswith("extension not built for this Python (")
    assert "_bitconv.cpython-299-x86_64-linux-gnu.so" in reason and "circular" not in reason
