"""Growing a trained binary DnCNN deeper (bbcu_cli/train/grow.py, training/deepen.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from bbcu_cli.loading import ModelSpec, build_model, load_model
from bbcu_cli.train.grow import deepen_dncnn, placement, unit_indices
from modelhelp import random_loaded

REPO = Path(__file__).resolve().parents[1]


def _spec(layers: int, noise: bool = True) -> ModelSpec:
    return ModelSpec("dncnn", "denoise" if noise else "deblock", 1, 3, 16, layers, 32.5, False, noise, 2)


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


def test_deepen_script_writes_a_loadable_latent_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "small-latent.safetensors", tmp_path / "deep-latent.safetensors"
    save_file(random_loaded(_spec(5), seed=2).model.state_dict(), src)
    subprocess.run([sys.executable, str(REPO / "training" / "deepen.py"), str(src), str(dst), "--layers", "8"], check=True)
    loaded = load_model(dst, task="denoise")
    assert loaded.spec.depth == 8 and loaded.spec.unshuffle == 2
    assert set(load_file(dst)) == set(build_model(_spec(8)).state_dict())
