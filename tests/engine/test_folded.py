"""Folded float path: same numbers as the reference modules (CPU float32; fp16 on CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FIXTURE_INFO, FIXTURE_NAMES, FIXTURES, fixture_expected, fixture_input

from bbcu_cli import Restorer, load_model
from bbcu_cli.bench import random_model
from bbcu_cli.engine.folded import exact_conv_dtype
from bbcu_cli.loading import ModelSpec

SPECS = [
    ModelSpec("bbcu-m", "sr", 4, 3, 24, 3, 48.75),
    ModelSpec("bbcu-l", "sr", 3, 3, 16, 2, 32.5),
    ModelSpec("dncnn", "denoise", 1, 3, 20, 7, 40.625, noise_channel=True),
    ModelSpec("dncnn", "deblock", 1, 1, 16, 5, 32.5, bias=True),
]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_folded_matches_fixtures(name: str) -> None:
    model = load_model(FIXTURES / FIXTURE_INFO[name]["checkpoint"])
    out = Restorer(model, backend="folded", device="cpu").restore(fixture_input(name))
    np.testing.assert_allclose(out, fixture_expected(name), atol=1e-4, rtol=0)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_folded_matches_float_on_random_models(spec: ModelSpec) -> None:
    model = random_model(spec, seed=3)
    pixels = np.random.default_rng(0).random((13, 11, spec.in_channels), dtype=np.float32)
    ref = Restorer(model, backend="float", device="cpu").restore(pixels, sigma=20.0)
    got = Restorer(model, backend="folded", device="cpu").restore(pixels, sigma=20.0)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_fp16_only_where_exact() -> None:
    cuda = torch.device("cuda")
    assert exact_conv_dtype(64, cuda) == torch.float16
    assert exact_conv_dtype(227, cuda) == torch.float16
    assert exact_conv_dtype(228, cuda) == torch.float32
    assert exact_conv_dtype(64, torch.device("cpu")) == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.describe())
def test_cuda_folded_matches_cpu_float(spec: ModelSpec) -> None:
    model = random_model(spec, seed=5)
    pixels = np.random.default_rng(1).random((40, 36, spec.in_channels), dtype=np.float32)
    ref = Restorer(model, backend="float", device="cpu").restore(pixels, sigma=15.0)
    got = Restorer(model, backend="auto", device="cuda").restore(pixels, sigma=15.0)
    np.testing.assert_allclose(got, ref, atol=1e-3, rtol=0)
