"""The ``bc_head`` kernel: every ISA gives the float model's head values bit for bit."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from bbcu_cli import kernels
from bbcu_cli.lite.backend import HeadKernel
from bbcu_cli.models.head import head_conv

pytestmark = pytest.mark.skipif(not kernels.backend_status().available, reason="packed kernels not built here")

#: (cin, cout, height, width): partial 4-pixel blocks, cout not a multiple of 8, 1x1, tall and thin
SHAPES = [(3, 64, 19, 37), (13, 64, 9, 10), (3, 12, 33, 37), (5, 20, 9, 13), (4, 64, 1, 1), (3, 32, 40, 3)]


@pytest.fixture
def every_isa() -> Iterator[list[str]]:
    yield kernels.usable_isas()
    kernels.configure_from_env()


def _reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], 3, 1, 1, bias=bias is not None).eval()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
        if bias is not None:
            conv.bias.copy_(torch.from_numpy(bias))
        return head_conv(conv, torch.from_numpy(x).permute(2, 0, 1)[None])[0].numpy()


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize(("cin", "cout", "h", "w"), SHAPES)
def test_head_kernel_equals_the_float_model_on_every_isa(
    every_isa: list[str], cin: int, cout: int, h: int, w: int, with_bias: bool
) -> None:
    rng = np.random.default_rng(cin * 1000 + cout + h)
    weight = rng.normal(0, 0.3, (cout, cin, 3, 3)).astype(np.float32)
    bias = rng.normal(0, 0.1, cout).astype(np.float32) if with_bias else None
    x = (rng.random((h, w, cin)) * 130).astype(np.float32)  # the model input times k
    want = _reference(x, weight, bias)
    kernel = HeadKernel(weight, bias)
    for isa in every_isa:
        kernels.select_isa(isa)
        for threads in (1, 2):
            got = kernel(x, threads)
            assert got.tobytes() == want.tobytes(), f"{isa}, {threads} thread(s)"
