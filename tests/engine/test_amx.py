"""The AMX tile path of the binary units gives exactly the VPOPCNTQ path's counts and outputs.

Skipped where AMX is not usable (no AMX-INT8, not Linux, or a compiler without AMX intrinsics);
`bbcu --version` says "avx512 + amx" where it runs.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest
import torch
from modelhelp import random_model

from bbcu_cli import kernels
from bbcu_cli.engine.chain import UnitChain
from bbcu_cli.engine.packed import PackedBackend
from bbcu_cli.engine.packed_plan import build_plan
from bbcu_cli.loading import LoadedModel

pytestmark = pytest.mark.skipif(not kernels.amx_usable(), reason="AMX tiles not usable on this machine")

# channels: one word (8..64, tails), 70 (two words, a tail), 128 (two full words); scale 2 and 3
# units have 4x / 9x the outputs (odd numbers of 16-output blocks included)
CASES = [("dncnn", 1, c) for c in (8, 16, 31, 32, 33, 64, 70, 128)] + [
    ("bbcu-m", 2, 16),
    ("bbcu-m", 3, 24),
    ("bbcu-m", 2, 64),
]


@pytest.fixture
def restore_kernel() -> Iterator[None]:
    yield
    kernels.configure_from_env()


def unit_counts(step: kernels.UnitArgs, cout: int, isa: str, amx: bool) -> torch.Tensor:
    kernels.select_isa(isa)
    kernels.use_amx(amx)
    counts = torch.full((step.H * step.W * cout,), -(1 << 30), dtype=torch.int32)
    probe = kernels.UnitArgs.from_buffer_copy(step)
    probe.counts = counts.data_ptr()
    kernels.run_unit(probe, 2)
    return counts


@pytest.mark.parametrize("arch,scale,c", CASES)
def test_counts_equal_the_popcount_paths(arch: str, scale: int, c: int, restore_kernel: None) -> None:
    """Every unit's counts, at borders, on rows with exact zeros and for widths that are no
    multiple of 32 pixels, equal the AVX-512 VPOPCNTQ and the portable kernels' exactly."""
    plan = build_plan(random_model(arch, c, 3 if arch == "dncnn" else 1, scale, zero_move=True, seed=c))
    g = torch.Generator().manual_seed(c)
    for h, w in [(1, 1), (9, 1), (7, 33), (12, 70)]:
        chain = UnitChain(plan.units, h, w, plan.head_act, plan.tail_act)
        head = torch.randn(1, c, h, w, generator=g)
        head[:, :, h // 2, : max(1, w // 3)] = 0.0  # exact zeros: the masked rows
        chain.entry.src = head.data_ptr()
        kernels.select_isa("portable")
        kernels.run_entry(chain.entry, 1)
        for step, unit in zip(chain.steps, plan.units):
            want = unit_counts(step, unit.cout, "portable", False)
            assert torch.equal(unit_counts(step, unit.cout, "avx512", False), want)
            assert torch.equal(unit_counts(step, unit.cout, "avx512", True), want), f"C={c} {h}x{w}"
            kernels.use_amx(False)
            kernels.run_unit(step, 1)  # the next unit's input


def _chain_outputs(plan: object, h: int, w: int, head: torch.Tensor, amx: bool, tail: int) -> list[np.ndarray]:
    """Features, packed bits, mask and zero-row flags of every unit but the last (which packs for
    the last), or features of all units with the tail activation ``tail``."""
    kernels.select_isa("avx512")
    kernels.use_amx(amx)
    units = plan.units  # type: ignore[attr-defined]
    outs = []
    for chain in (
        UnitChain(units[:-1], h, w, plan.head_act, kernels.ACT_NONE, units[-1]),  # type: ignore[attr-defined]
        UnitChain(units, h, w, plan.head_act, tail),  # type: ignore[attr-defined]
    ):
        outs.append(chain.run(head.numpy(), 2).copy())
        if chain.out_grid is not None:
            outs += [chain.out_grid.bits.copy(), chain.out_grid.mask.copy(), chain.out_grid.zero_rows.copy()]
    return outs


def _exact_zeros(loaded: LoadedModel) -> LoadedModel:
    """Output 0 of every unit passes its residual through unchanged (zero weights and RPReLU
    biases), so the head's exact zeros reach every unit's output: zero flags, masked rows."""
    with torch.no_grad():
        for m in loaded.model.modules():
            if hasattr(m, "binary_conv"):
                m.binary_conv.weight[0] = 0.0
                m.relu.pr_bias0.bias[0, 0] = 0.0
                m.relu.pr_bias1.bias[0, 0] = 0.0
    return loaded


@pytest.mark.parametrize("arch,scale,c", CASES)
@pytest.mark.parametrize("tail", [kernels.ACT_NONE, kernels.ACT_LRELU])
def test_epilogue_equals_the_popcount_path(arch: str, scale: int, c: int, tail: int, restore_kernel: None) -> None:
    """The AMX epilogue (straight from the tiles' counts) writes the VPOPCNTQ epilogue's floats,
    packed bits, masks and zero flags: partial words, up units, post activations, masked rows."""
    plan = build_plan(_exact_zeros(random_model(arch, c, 4 if arch == "dncnn" else 1, scale, zero_move=True, seed=c)))
    g = torch.Generator().manual_seed(c + 1)
    for h, w in [(1, 1), (7, 33), (12, 70)]:
        head = torch.randn(c, h, w, generator=g)
        head[:, h // 2, : max(1, w // 3)] = 0.0
        want = _chain_outputs(plan, h, w, head, False, tail)
        got = _chain_outputs(plan, h, w, head, True, tail)
        assert want[3].any() or h * w == 1, "no exact zeros reached the units' outputs"
        for a, b in zip(got, want, strict=True):
            assert np.array_equal(a, b), f"C={c} x{scale} {h}x{w}"


def test_model_outputs_are_bit_identical(restore_kernel: None) -> None:
    """A paper-size BBCU-M x4 (binary body, upsampler and conv_hr) gives the same float32 output
    bits with and without AMX, on an image with flat areas (exact zeros after the head)."""
    loaded = random_model("bbcu-m", 64, 2, 4, zero_move=True, seed=3)
    x = torch.rand(1, 3, 21, 45)
    x[:, :, 5:12, 3:30] = 0.5
    outs = []
    for amx in (False, True):
        kernels.use_amx(amx)
        outs.append(PackedBackend(loaded, threads=2)(x).numpy())
    assert np.array_equal(outs[0], outs[1])


def test_switch_and_label(monkeypatch: pytest.MonkeyPatch, restore_kernel: None) -> None:
    monkeypatch.setenv("BBCU_KERNEL_AMX", "0")
    kernels.configure_from_env()
    st = kernels.status()
    assert not st.amx and st.label == st.isa == "avx512"
    monkeypatch.delenv("BBCU_KERNEL_AMX")
    kernels.configure_from_env()
    assert kernels.status().amx and kernels.status().label == "avx512 + amx"
    monkeypatch.setenv("BBCU_KERNEL_ISA", "avx2")
    kernels.configure_from_env()
    assert not kernels.status().amx, "AMX only beside the AVX-512 ISA"
    monkeypatch.delenv("BBCU_KERNEL_ISA")
