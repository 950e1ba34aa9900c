"""Chains of plain units run as wavefronts over row bands give bit for bit the one-by-one result."""

from __future__ import annotations

import ctypes
from typing import Iterator

import numpy as np
import pytest
import torch
from modelhelp import random_model

from bbcu_cli import kernels
from bbcu_cli.engine import chain as chain_mod
from bbcu_cli.engine.chain import UnitChain
from bbcu_cli.engine.packed_plan import build_plan
from bbcu_cli.engine.restore import Restorer

pytestmark = pytest.mark.skipif(not kernels.built(), reason="compiled kernels not built")


@pytest.fixture
def restore_kernel() -> Iterator[None]:
    yield
    kernels.configure_from_env()


def _modes() -> list[tuple[str, bool]]:
    modes = [(isa, False) for isa in kernels.usable_isas()]
    return modes + ([("avx512", True)] if kernels.amx_usable() else [])


def _head(c: int, h: int, w: int, seed: int) -> np.ndarray:
    head = torch.randn(c, h, w, generator=torch.Generator().manual_seed(seed)).numpy()
    head[:, h // 2, : max(1, w // 3)] = 0.0  # exact zeros: rows on the masked path
    return np.ascontiguousarray(head)


def _run(plan: object, h: int, w: int, head: np.ndarray, threads: int, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    following = plan.units[-1]  # type: ignore[attr-defined]
    units = plan.units[:-1]  # type: ignore[attr-defined]
    chain = UnitChain(units, h, w, plan.head_act, kernels.ACT_NONE, following, **kw)  # type: ignore[attr-defined, arg-type]
    feature = chain.run(head, threads).copy()
    assert chain.out_grid is not None
    return feature, np.concatenate([chain.out_grid.bits, chain.out_grid.mask])


@pytest.mark.parametrize("isa,amx", _modes())
@pytest.mark.parametrize("c", [16, 70])
def test_bands_and_threads_change_no_bit(isa: str, amx: bool, c: int, restore_kernel: None) -> None:
    """Features and the packed output for the next unit equal the one-by-one run for any band
    height (1 row .. more than the image) and thread count, at borders and on masked rows."""
    kernels.select_isa(isa)
    kernels.use_amx(amx)
    plan = build_plan(random_model("dncnn", c, 6, zero_move=True, seed=c))
    for h, w in [(1, 1), (9, 5), (17, 33)]:
        head = _head(c, h, w, h * w)
        want = _run(plan, h, w, head, 1, wavefront=False)
        for band in (0, 1, 2, 3, 8):
            for threads in (1, 2, 3):
                got = _run(plan, h, w, head, threads, wavefront=True, band=band)
                assert np.array_equal(got[0], want[0]), f"{isa} amx={amx} C={c} {h}x{w} band {band} t{threads}"
                assert np.array_equal(got[1], want[1]), f"{isa} amx={amx} C={c} {h}x{w} band {band} t{threads}"


def test_restorer_output_equal_with_and_without_wavefronts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the packed backend (BBCU-M: the low-resolution chain with its entry, and the
    high-resolution chain after the up unit, loaded by the caller) the image is the same."""
    loaded = random_model("bbcu-m", 16, 3, 2, seed=3)
    pixels = (np.random.default_rng(0).random((21, 30, 3)) * 255).astype(np.uint8)
    monkeypatch.setattr(chain_mod, "WAVEFRONT_BYTES", 1 << 60)
    want = Restorer(loaded, backend="packed", threads=2).restore(pixels, out_dtype=np.uint8)
    monkeypatch.setattr(chain_mod, "WAVEFRONT_BYTES", 0)
    got = Restorer(loaded, backend="packed", threads=2).restore(pixels, out_dtype=np.uint8)
    assert np.array_equal(got, want)


def test_default_only_for_large_residuals(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = build_plan(random_model("dncnn", 16, 6, seed=1))
    small = UnitChain(plan.units, 8, 8, plan.head_act, plan.tail_act)
    assert [kind for kind, _ in small._calls] == ["entry", "unit", "unit", "unit", "unit"]
    monkeypatch.setattr(chain_mod, "WAVEFRONT_BYTES", 8 * 8 * 16 * 4)
    large = UnitChain(plan.units, 8, 8, plan.head_act, plan.tail_act)
    assert [kind for kind, _ in large._calls] == ["chain"]


def test_invalid_chains_are_refused() -> None:
    """Units that do not read each other's packed output, or an up unit, are rejected (-1)."""
    plan = build_plan(random_model("dncnn", 16, 5, seed=2))
    chain = UnitChain(plan.units, 6, 7, plan.head_act, plan.tail_act, wavefront=False)
    steps = (kernels.UnitArgs * 2)(chain.steps[0], chain.steps[2])  # unit 2 does not read unit 0's output
    with pytest.raises(ValueError, match="invalid"):
        kernels.run_chain(kernels.ChainArgs(2, 0, None, ctypes.pointer(steps[0])), 1)
    up = build_plan(random_model("bbcu-m", 16, 1, 2, seed=2))
    hr = UnitChain(up.units, 6, 7, up.head_act, up.tail_act, wavefront=False)
    first = next(s for s in hr.steps if s.r > 1)
    with pytest.raises(ValueError, match="invalid"):
        kernels.run_chain(kernels.ChainArgs(1, 0, None, ctypes.pointer(first)), 1)
