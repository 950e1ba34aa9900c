"""Loader: official fixtures load strictly and reproduce the reference outputs; errors are clear."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FIXTURE_INFO, FIXTURE_NAMES, FIXTURES, fixture_expected, fixture_input

from bbcu_cli import load_model, restore_array
from bbcu_cli.errors import ModelFormatError
from bbcu_cli.loading import ModelSpec, build_model, read_state_dict, recognise, save_model


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_recognised(name: str) -> None:
    info = FIXTURE_INFO[name]
    spec = load_model(FIXTURES / info["checkpoint"]).spec
    assert spec.task == info["task"]
    assert spec.scale == info["scale"]
    assert spec.num_feat == info["num_feat"]
    assert spec.depth == info.get("num_block", info.get("num_layers"))
    assert spec.k == pytest.approx(info["k"])
    assert spec.in_channels == info["in_channels"]
    assert spec.arch == {"BBCUL": "bbcu-l", "BBCUM": "bbcu-m"}.get(info["official_class"], "dncnn")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@pytest.mark.parametrize("tile", [0, 6])
def test_fixture_output_via_api(name: str, tile: int) -> None:
    model = load_model(FIXTURES / FIXTURE_INFO[name]["checkpoint"])
    out = restore_array(model, fixture_input(name), tile=tile, backend="float")
    np.testing.assert_allclose(out, fixture_expected(name), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_project_format_roundtrip(name: str, tmp_path: Path) -> None:
    model = load_model(FIXTURES / FIXTURE_INFO[name]["checkpoint"])
    target = tmp_path / "m.safetensors"
    save_model(target, model.model, model.spec)
    again = load_model(target)
    assert again.spec == model.spec
    out = restore_array(again, fixture_input(name), backend="float")
    np.testing.assert_allclose(out, fixture_expected(name), atol=1e-4, rtol=0)
    assert target.stat().st_size < (FIXTURES / FIXTURE_INFO[name]["checkpoint"]).stat().st_size


def test_wrappers_and_prefixes_unwrapped(tmp_path: Path) -> None:
    sd, _ = read_state_dict(FIXTURES / "denoise_f16_l6.pth")
    wrapped = {"params_ema": {f"module.{k}": v for k, v in sd.items()}}
    torch.save(wrapped, tmp_path / "w.pth")
    assert recognise(read_state_dict(tmp_path / "w.pth")[0]).depth == 6


def test_k_override() -> None:
    model = load_model(FIXTURES / "bbcum_x2_f16_b2.pth", k=10.0)
    assert model.spec.k == 10.0 and model.model.k == 10.0


def test_noise_channel_recognised(tmp_path: Path) -> None:
    spec = ModelSpec("dncnn", "denoise", 1, 3, 8, 5, 16.25, noise_channel=True)
    save_model(tmp_path / "n.safetensors", build_model(spec), spec)
    torch.save(build_model(spec).state_dict(), tmp_path / "n.pth")
    assert load_model(tmp_path / "n.safetensors").spec.noise_channel
    assert recognise(read_state_dict(tmp_path / "n.pth")[0]).noise_channel


def test_unrecognised_keys_say_what_was_expected(tmp_path: Path) -> None:
    torch.save({"foo.weight": torch.zeros(3)}, tmp_path / "x.pth")
    with pytest.raises(ModelFormatError, match="expected BBCU-L/BBCU-M keys"):
        load_model(tmp_path / "x.pth")


def test_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "x.pth").write_text("hello")
    with pytest.raises(ModelFormatError, match="x.pth"):
        load_model(tmp_path / "x.pth")


class _Payload:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(_Payload.marker),))

    marker = ""


def test_malicious_pickle_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _Payload.marker = str(marker)
    torch.save({"params": {"conv_first.weight": torch.zeros(1)}, "x": _Payload()}, tmp_path / "evil.pth")
    with open(tmp_path / "evil.pkl", "wb") as fh:
        pickle.dump(_Payload(), fh)
    for name in ("evil.pth", "evil.pkl"):
        with pytest.raises(ModelFormatError, match="refused|not a PyTorch"):
            load_model(tmp_path / name)
    assert not marker.exists()
