"""Shared fixtures: the official-format checkpoints, their inputs and reference outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures" / "official"
FIXTURE_INFO: dict[str, dict] = json.loads((FIXTURES / "fixtures.json").read_text())
FIXTURE_NAMES = sorted(FIXTURE_INFO)
TASK_COMMAND = {"sr": "upscale", "denoise": "denoise", "deblock": "deblock"}


def fixture_input(name: str) -> np.ndarray:
    """The fixture's input as (H, W, C) uint8 (C = 1 for gray models)."""
    info = FIXTURE_INFO[name]
    img = Image.open(FIXTURES / info["input"]).convert("RGB" if info["in_channels"] == 3 else "L")
    arr = np.asarray(img)
    return arr if arr.ndim == 3 else arr[:, :, None]


def fixture_expected(name: str) -> np.ndarray:
    """The official float output as (H, W, C) float32."""
    return np.load(FIXTURES / FIXTURE_INFO[name]["expected_float"]).transpose(1, 2, 0)


def fixture_expected_png(name: str) -> np.ndarray:
    arr = np.asarray(Image.open(FIXTURES / FIXTURE_INFO[name]["expected_png"]))
    return arr if arr.ndim == 3 else arr[:, :, None]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's cache or the network from tests."""
    monkeypatch.setenv("BBCU_CACHE_DIR", str(tmp_path_factory.mktemp("bbcu-cache")))
    monkeypatch.setenv("BBCU_OFFLINE", "1")
    torch.manual_seed(0)
