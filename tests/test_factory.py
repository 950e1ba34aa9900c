"""The model factory (name or path -> ready model) and the one ``BBCU_OFFLINE`` rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from modelhelp import random_loaded
from PIL import Image
from test_weights_support import WeightsServer, entry_dict, online, register, server  # noqa: F401

from bbcu_cli import create_model, get_model
from bbcu_cli.errors import UsageError, WeightsError
from bbcu_cli.factory import DEFAULT_SR_SCALE, resolve_model, wanted_scale
from bbcu_cli.loading import ModelSpec, save_model
from bbcu_cli.weights import get_manifest
from bbcu_cli.weights.download import is_offline

TINY_X4 = ModelSpec("bbcu-m", "sr", 4, 3, 16, 1, 32.5)  # matches test_weights_support.entry_dict


def _tiny_x4(folder: Path) -> Path:
    """A real (random) SR x4 checkpoint file."""
    path = folder / "tiny_x4.safetensors"
    save_model(path, random_loaded(TINY_X4).model, TINY_X4)
    return path


# ---------------------------------------------------------------- BBCU_OFFLINE


@pytest.mark.parametrize("value", ["1", "true", " Yes ", "ON"])
def test_offline_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BBCU_OFFLINE", value)
    assert is_offline() is True


@pytest.mark.parametrize("value", ["", "0", "false", "No", " off "])
def test_online_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BBCU_OFFLINE", value)
    assert is_offline() is False
    assert is_offline(True) is True  # --offline wins over the variable
    monkeypatch.delenv("BBCU_OFFLINE")
    assert is_offline() is False


@pytest.mark.parametrize("value", ["2", "y", "maybe"])
def test_other_values_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BBCU_OFFLINE", value)
    with pytest.raises(WeightsError, match="BBCU_OFFLINE") as info:
        is_offline()
    assert "BBCU_OFFLINE=1" in info.value.hint
    assert is_offline(True) is True


@pytest.mark.parametrize(
    ("value", "online_ok"), [("false", True), ("off", True), ("0", True), ("yes", False), ("1", False)]
)
def test_upscale_and_weights_download_read_bbcu_offline_alike(
    online: Path,
    server: WeightsServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    online_ok: bool,  # noqa: F811
) -> None:
    data = _tiny_x4(tmp_path).read_bytes()
    register(online, entry_dict("net-x4", data, [server.add("net-x4.safetensors", data)]))
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    monkeypatch.setenv("BBCU_OFFLINE", value)
    upscaled = run_cli(capsys, "upscale", image, "-m", "net-x4", "-o", tmp_path / "out.png", "--quiet")
    assert (upscaled.code == 0) is online_ok, upscaled.err
    (online / "weights" / "net-x4.safetensors").unlink(missing_ok=True)
    downloaded = run_cli(capsys, "weights", "download", "net-x4", "--quiet")
    assert (downloaded.code == 0) is online_ok, downloaded.err
    assert len(server.requests) == (2 if online_ok else 0)
    if not online_ok:
        assert "offline" in upscaled.err and "offline" in downloaded.err


# ---------------------------------------------------------------- the factory


def test_scale_rule() -> None:
    assert wanted_scale(None, "sr", None) == DEFAULT_SR_SCALE
    assert wanted_scale("bbcu-m-x2", "sr", None) is None
    assert wanted_scale("x.pth", "sr", 3) == 3
    assert wanted_scale(None, "denoise", 4) is None
    assert wanted_scale(None, None, None) == DEFAULT_SR_SCALE


def test_defaults_per_task() -> None:
    sr = resolve_model(task="sr")
    assert (sr.model.spec.task, sr.model.spec.scale) == ("sr", 4)
    assert sr.weights.entry is not None and sr.weights.entry.default
    denoise = resolve_model(task="denoise")
    assert denoise.model.spec.task == "denoise" and denoise.name == denoise.weights.name


def test_named_model_keeps_its_own_scale() -> None:
    chosen = resolve_model("bbcu-m-x2", task="sr")
    assert chosen.model.spec.scale == 2 and chosen.name == "bbcu-m-x2"
    with pytest.raises(WeightsError, match="not sr x4"):
        resolve_model("bbcu-m-x2", task="sr", scale=4)


def test_path_checked_against_task_and_scale(tmp_path: Path) -> None:
    path = _tiny_x4(tmp_path)
    chosen = resolve_model(str(path), task="sr")
    assert chosen.name == path.name and chosen.model.source == str(path)
    with pytest.raises(UsageError, match="upscales x4, not x2") as info:
        create_model(str(path), task="sr", scale=2)
    assert "-s 4" in info.value.hint
    with pytest.raises(UsageError, match="is a sr model, not denoise"):
        create_model(str(path), task="denoise")


def test_any_task_and_k(tmp_path: Path) -> None:
    assert resolve_model("bbcu-denoise-l22", task=None).model.spec.task == "denoise"
    path = _tiny_x4(tmp_path)
    assert create_model(str(path), task=None).spec.scale == 4
    assert create_model(str(path), k=10.0).spec.k == 10.0
    assert create_model("bbcu-m-x2").spec.k == get_manifest().get("bbcu-m-x2").arch.k  # the manifest's k


def test_get_model_is_the_factory(tmp_path: Path) -> None:
    path = _tiny_x4(tmp_path)
    assert get_model(str(path)).spec == create_model(str(path)).spec
    assert get_model(task="sr", scale=2).spec.scale == 2
    assert get_model(task="deblock").spec.task == "deblock"


def test_a_named_model_brings_its_own_task() -> None:
    """``create_model(name)`` needs no ``task=`` for a denoiser (timm's create_model works so)."""
    from bbcu_cli.factory import create_model

    loaded = create_model("bbcu-denoise-l22")
    assert loaded.spec.task == "denoise"
    assert create_model().spec.task == "sr" and create_model().spec.scale == 4


@pytest.mark.parametrize("lite", [False, True])
def test_a_named_model_carries_its_entrys_copies_and_a_path_one(tmp_path: Path, lite: bool) -> None:
    assert resolve_model(None, task="sr", offline=True, lite=lite).model.copies == 2  # bbcu-p-x4
    assert resolve_model("bbcu-clean-x4", offline=True, lite=lite).model.copies == 2
    assert resolve_model("bbcu-p-x2", offline=True, lite=lite).model.copies == 1
    found = resolve_model("bbcu-p-x4", offline=True, lite=lite)
    assert resolve_model(str(found.weights.path), task="sr", lite=lite).model.copies == 1  # the same file by path
    assert resolve_model(str(_tiny_x4(tmp_path)), task="sr", lite=lite).model.copies == 1
