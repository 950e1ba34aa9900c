"""Growing a trained binary DnCNN deeper (bbcu_cli/train/grow.py, training/deepen.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from modelhelp import random_loaded
from safetensors.torch import load_file, save_file

from bbcu_cli.engine.restore import Restorer
from bbcu_cli.errors import KernelUnavailable
from bbcu_cli.loading import LoadedModel, ModelSpec, build_model, load_model
from bbcu_cli.models.sr import default_k
from bbcu_cli.train.grow import deepen_dncnn, placement, unit_indices, widen_dncnn

REPO = Path(__file__).resolve().parents[2]


def _spec(layers: int, noise: bool = True, feat: int = 16) -> ModelSpec:
    return ModelSpec("dncnn", "denoise" if noise else "deblock", 1, 3, feat, layers, default_k(feat), False, noise, 2)


@pytest.mark.parametrize("old,new", [(4, 2), (10, 5), (3, 1), (2, 7)])
def test_placement_keeps_old_order_and_spreads_new(old: int, new: int) -> None:
    slots = placement(old, new)
    assert len(slots) == old + new
    assert [s for s in slots if s is not None] == list(range(old))
    assert slots[0] == 0 and slots.count(None) == new


def test_deepened_model_computes_what_the_original_did() -> None:
    small = random_loaded(_spec(6), seed=3).model
    grown_sd = deepen_dncnn(small.state_dict(), 9, eps=1e-6)
    grown = build_model(_spec(9)).eval()
    grown.load_state_dict(grown_sd, strict=True)
    x = torch.rand(2, 3, 21, 18, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before, after = small(x, 25.0), grown(x, 25.0)
    assert (before - x).abs().mean() > 1e-3  # the random model does something
    torch.testing.assert_close(after, before, atol=1e-4, rtol=0)


def test_old_units_move_and_new_units_are_near_identity() -> None:
    sd = random_loaded(_spec(6, noise=False), seed=1).model.state_dict()
    grown = deepen_dncnn(sd, 9, eps=1e-3, seed=5)
    order = placement(4, 3)
    assert unit_indices(grown) == list(range(2, 9))
    for pos, old in enumerate(order, start=2):
        w = grown[f"model.{pos}.binary_conv.weight"]
        if old is None:
            assert torch.all(w.abs() == 1e-3) and not torch.all(w > 0)
            assert torch.all(grown[f"model.{pos}.move0.bias"] == 0)
        else:
            assert torch.equal(w, sd[f"model.{old + 2}.binary_conv.weight"])
    assert torch.equal(grown["model.9.weight"], sd["model.6.weight"])
    assert torch.equal(grown["model.0.weight"], sd["model.0.weight"])


def test_deepen_refuses_what_it_cannot_grow() -> None:
    sd = random_loaded(_spec(6), seed=0).model.state_dict()
    with pytest.raises(ValueError, match="layers already"):
        deepen_dncnn(sd, 6)
    with pytest.raises(ValueError, match="not a binary DnCNN"):
        deepen_dncnn({"conv_first.weight": torch.zeros(4, 3, 3, 3)}, 9)


def _widened(noise: bool, feat: int = 40) -> tuple[LoadedModel, LoadedModel]:
    small = random_loaded(_spec(5, noise), seed=4)
    wide = build_model(_spec(5, noise, feat)).eval()
    wide.load_state_dict(widen_dncnn(small.model.state_dict(), feat, small.spec.k, default_k(feat)), strict=True)
    return small, LoadedModel(wide, _spec(5, noise, feat), "widened")


@pytest.mark.parametrize("noise", [True, False])
def test_widened_model_computes_the_same_function(noise: bool) -> None:
    small, wide = _widened(noise)
    x = torch.rand(1, 3, 17, 22, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = small.model(x, 15.0) if noise else small.model(x)
        after = wide.model(x, 15.0) if noise else wide.model(x)
    assert (before - x).abs().mean() > 1e-3
    torch.testing.assert_close(after, before, atol=2e-5, rtol=0)


def test_widened_model_before_training_is_float_only_then_packed_matches() -> None:
    """Fresh zero weights have no sign: the packed kernel refuses them with a clear reason;
    once training has moved them (here: a nudge), packed and float agree."""
    _, wide = _widened(False, feat=72)
    img = np.random.default_rng(0).random((23, 30, 3), dtype=np.float32)
    with pytest.raises(KernelUnavailable, match="exactly 0"):
        Restorer(wide, backend="packed", device="cpu")
    with torch.no_grad():
        for p in wide.model.parameters():
            if p.dim() == 4:
                p.add_(torch.where(p == 0, 1e-4, 0.0))
    packed = Restorer(wide, backend="packed", device="cpu").restore(img)
    floated = Restorer(wide, backend="float", device="cpu").restore(img)
    np.testing.assert_allclose(packed, floated, atol=1e-5)


def test_widen_keeps_alpha_and_zeroes_new_channels() -> None:
    sd = random_loaded(_spec(4, False), seed=6).model.state_dict()
    wide = widen_dncnn(sd, 32, 10.0, 20.0)
    w_old, w_new = sd["model.2.binary_conv.weight"], wide["model.2.binary_conv.weight"]
    torch.testing.assert_close(w_new[:16].abs().mean(dim=(1, 2, 3)), 2 * w_old.abs().mean(dim=(1, 2, 3)))
    assert torch.all(w_new[16:] == 0) and torch.all(wide["model.0.weight"][16:] == 0)
    assert torch.all(wide["model.4.weight"][:, 16:] == 0)
    torch.testing.assert_close(wide["model.2.move0.bias"][:, :16], 2 * sd["model.2.move0.bias"])
    with pytest.raises(ValueError, match="features already"):
        widen_dncnn(sd, 16, 10.0, 10.0)


def test_grow_script_writes_a_loadable_latent_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "small-latent.safetensors", tmp_path / "grown-latent.safetensors"
    save_file(random_loaded(_spec(5), seed=2).model.state_dict(), src)
    cmd = [sys.executable, str(REPO / "training" / "grow.py"), str(src), str(dst), "--layers", "8", "--feat", "32"]
    subprocess.run(cmd, check=True)
    loaded = load_model(dst, task="denoise")
    assert (loaded.spec.depth, loaded.spec.num_feat, loaded.spec.unshuffle) == (8, 32, 2)
    assert set(load_file(dst)) == set(build_model(_spec(8, feat=32)).state_dict())


def _random_subpixel(feat: int, blocks: int, seed: int = 0):  # type: ignore[no-untyped-def]
    from bbcu_cli.loading import ModelSpec, build_model

    spec = ModelSpec("bbcu-p", "sr", 3, 3, feat, blocks, 130.0 * feat / 64)
    model = build_model(spec).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.3 if "prelu" in name else 0.05 if "binary" in name else 0.2
            p.copy_(torch.randn(p.shape, generator=g) * scale + (0.25 if "prelu" in name else 0.0))
    return model


def test_subpixel_widening_preserves_the_function() -> None:
    from bbcu_cli.loading import ModelSpec, build_model
    from bbcu_cli.models.sr import default_k
    from bbcu_cli.train.grow import widen_subpixel

    small = _random_subpixel(16, 2)
    sd = widen_subpixel(small.state_dict(), 24, default_k(16), default_k(24))
    wide = build_model(ModelSpec("bbcu-p", "sr", 3, 3, 24, 2, default_k(24))).eval()
    wide.load_state_dict(sd, strict=True)
    x = torch.rand(1, 3, 11, 13)
    with torch.no_grad():
        torch.testing.assert_close(wide(x), small(x), rtol=1e-4, atol=1e-5)


def test_subpixel_deepening_starts_near_the_trained_model() -> None:
    from bbcu_cli.loading import ModelSpec, build_model
    from bbcu_cli.train.grow import deepen_subpixel

    small = _random_subpixel(16, 2)
    sd = deepen_subpixel(small.state_dict(), 5, eps=1e-6)
    deep = build_model(ModelSpec("bbcu-p", "sr", 3, 3, 16, 5, 130.0 * 16 / 64)).eval()
    deep.load_state_dict(sd, strict=True)
    x = torch.rand(1, 3, 11, 13)
    with torch.no_grad():
        torch.testing.assert_close(deep(x), small(x), rtol=1e-3, atol=1e-4)
    for name, t in small.state_dict().items():  # the trained blocks keep their weights (blocks 0, 2 of 5)
        if name.startswith("body.1."):
            assert torch.equal(sd[name.replace("body.1.", "body.2.", 1)], t)
    with pytest.raises(ValueError, match="blocks already"):
        deepen_subpixel(small.state_dict(), 2)
