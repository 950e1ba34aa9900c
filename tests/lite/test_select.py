"""When the torch-free runtime may run: the settings rule, GPUs included."""

from __future__ import annotations

import pytest

from bbcu_cli import kernels
from bbcu_cli.lite import select

needs_kernels = pytest.mark.skipif(not kernels.backend_status().available, reason="packed kernels not built here")


@needs_kernels
def test_cpu_settings_allow_lite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BBCU_NO_LITE", raising=False)
    monkeypatch.setattr(select, "gpu_visible", lambda: False)
    assert select.lite_blocker(backend="auto", device="auto") == ""
    assert select.lite_blocker(backend="packed", device="cpu") == ""


@needs_kernels
def test_the_self_ensemble_runs_torch_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any number of self-ensemble copies runs on the lite runtime: no settings clause for it."""
    monkeypatch.delenv("BBCU_NO_LITE", raising=False)
    from bbcu_cli.cli.settings import EngineSettings

    assert EngineSettings(device="cpu", ensemble=True).lite_blocker() == ""
    assert EngineSettings(device="cpu", copies=2).lite_blocker() == ""


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"backend": "float", "device": "auto"}, "backend float"),
        ({"backend": "auto", "device": "cuda"}, "device cuda"),
    ],
)
def test_settings_that_need_torch_say_why(settings: dict, reason: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BBCU_NO_LITE", raising=False)
    assert reason in select.lite_blocker(**settings)


def test_no_lite_variable_forces_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBCU_NO_LITE", "1")
    assert "BBCU_NO_LITE=1" in select.lite_blocker(backend="auto", device="cpu")


@needs_kernels
def test_a_visible_gpu_leaves_device_auto_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BBCU_NO_LITE", raising=False)
    monkeypatch.setattr(select, "gpu_visible", lambda: True)
    assert "GPU is visible" in select.lite_blocker(backend="auto", device="auto")
    assert select.lite_blocker(backend="auto", device="cpu") == ""


@pytest.mark.parametrize("hidden", ["", "-1"])
def test_cuda_visible_devices_can_hide_the_gpus(hidden: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    assert select.gpu_visible() is False
