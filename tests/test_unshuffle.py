"""Pixel-unshuffled (FFDNet-style) binary DnCNN: shapes, recognition, tiling, manifest."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from modelhelp import random_loaded

from bbcu_cli.engine.restore import Restorer
from bbcu_cli.engine.tiling import align_for, halo_for, plan_tiles
from bbcu_cli.errors import WeightsError
from bbcu_cli.loading import LoadedModel, ModelSpec, load_model, recognise, save_model
from bbcu_cli.models import BinaryDnCNN
from bbcu_cli.weights.manifest import SCHEMA_VERSION, load_manifest


def _model(channels: int = 3, r: int = 2, noise: bool = True, seed: int = 0) -> LoadedModel:
    spec = ModelSpec("dncnn", "denoise" if noise else "deblock", 1, channels, 16, 5, 32.5, False, noise, r)
    return random_loaded(spec, seed)


@pytest.mark.parametrize("channels,r", [(3, 2), (1, 2), (3, 3), (1, 1)])
def test_recognised_from_shapes(channels: int, r: int) -> None:
    loaded = _model(channels, r)
    assert recognise(loaded.model.state_dict()) == loaded.spec
    assert loaded.model.model[0].weight.shape[1] == channels * r * r + 1


def test_odd_sizes_pad_and_crop() -> None:
    """Any size works; the padded rows/cols are cut off and x - noise is returned."""
    m = _model().model
    for h, w in ((1, 1), (1, 6), (7, 5), (10, 9)):
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            y = m(x, 25.0)
            noise = m.predict_noise(x, 25.0, m.model)
        assert y.shape == x.shape
        torch.testing.assert_close(y, x - noise)


def test_matches_manual_unshuffle() -> None:
    """On an even size the model is unshuffle -> plain DnCNN layers -> shuffle."""
    m = _model(noise=False).model
    x = torch.rand(1, 3, 8, 6)
    with torch.no_grad():
        planes = F.pixel_unshuffle(x, 2) * m.k
        want = x - F.pixel_shuffle(m.model(planes), 2) / m.k
        torch.testing.assert_close(m(x), want)


def test_tiles_are_aligned() -> None:
    spec = _model(r=2).spec
    assert align_for(spec) == 2 and halo_for(spec) % 2 == 0
    for tile in plan_tiles(37, 29, 5, 7, halo_for(spec), align_for(spec)):
        assert tile.y0 % 2 == tile.x0 % 2 == tile.py0 % 2 == tile.px0 % 2 == 0
        assert tile.py1 == 37 or tile.py1 % 2 == 0


@pytest.mark.parametrize("backend", ["float", "auto"])
def test_tiled_equals_whole(backend: str) -> None:
    loaded = _model(r=2, seed=3)
    img = np.random.default_rng(0).random((37, 29, 3), dtype=np.float32)
    whole = Restorer(loaded, backend=backend, device="cpu", tile=0).restore(img, sigma=20.0)
    tiled = Restorer(loaded, backend=backend, device="cpu", tile=6).restore(img, sigma=20.0)
    assert len(Restorer(loaded, backend=backend, device="cpu", tile=6).tiles_for(37, 29)) > 4
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)


def test_save_load_round_trip(tmp_path: Path) -> None:
    loaded = _model(r=2)
    path = tmp_path / "u2.safetensors"
    save_model(path, loaded.model, loaded.spec)
    back = load_model(path)
    assert back.spec == loaded.spec
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0600 safetensors creates
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(back.model(x, 10.0), loaded.model(x, 10.0), atol=1e-5, rtol=0)


def test_manifest_field() -> None:
    base = {
        "name": "u2",
        "task": "denoise",
        "scale": 1,
        "file": "u2.safetensors",
        "sha256": "0" * 64,
        "size": 1,
        "arch": {"name": "dncnn", "num_feat": 64, "depth": 12, "k": 130.0, "noise_channel": True, "unshuffle": 2},
    }
    entry = load_manifest({"schema_version": SCHEMA_VERSION, "models": [base]}).get("u2")
    assert entry.arch.unshuffle == 2 and "unshuffle 2" in entry.arch.describe()
    sr = {**base, "task": "sr", "scale": 4, "arch": {**base["arch"], "name": "bbcu-m", "noise_channel": False}}
    with pytest.raises(WeightsError, match="unshuffle"):
        load_manifest({"schema_version": SCHEMA_VERSION, "models": [sr]})


def test_rejects_bad_factor() -> None:
    with pytest.raises(ValueError):
        BinaryDnCNN(3, 8, 4, unshuffle=0)
    assert replace(_model().spec, unshuffle=1).describe().count("unshuffled") == 0


def test_unknown_plane_count_is_a_format_error() -> None:
    from bbcu_cli.errors import ModelFormatError

    sd = dict(_model(r=1).model.state_dict())
    sd["model.5.weight"] = torch.zeros(5, 16, 3, 3)  # 5 tail outputs: neither 1 nor 3 channels times r*r
    with pytest.raises(ModelFormatError, match="5 outputs") as info:
        recognise(sd)
    assert info.value.hint
