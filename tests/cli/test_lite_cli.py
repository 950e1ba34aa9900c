"""The restoring commands run BBCU-P and DnCNN models without importing torch, and write the
same bytes as the torch runtime (``BBCU_NO_LITE=1``): RGB, RGBA and 16-bit PNG inputs; the
self-ensemble too (the x4 default's 2 copies, ``--ensemble``'s 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bbcu_cli import kernels

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not kernels.backend_status().available, reason="packed kernels not available")

RUN = (
    "import sys\n"
    "from bbcu_cli.cli.app import main\n"
    "rc = main(sys.argv[1:])\n"
    "assert 'torch' not in sys.modules, 'the restore imported torch'\n"
    "sys.exit(rc)\n"
)


def _bbcu(args: list[str], tmp: Path, torch_runtime: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BBCU_CACHE_DIR": str(tmp / "cache"), "BBCU_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("BBCU_NO_LITE", None)
    if torch_runtime:
        env["BBCU_NO_LITE"] = "1"
        cmd = [sys.executable, "-m", "bbcu_cli", *args]
    else:
        cmd = [sys.executable, "-c", RUN, *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def _inputs(tmp: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    rgb = tmp / "rgb.png"
    Image.fromarray((rng.random((21, 30, 3)) * 255).astype(np.uint8)).save(rgb)
    rgba = tmp / "rgba.png"
    Image.fromarray((rng.random((17, 23, 4)) * 255).astype(np.uint8), "RGBA").save(rgba)
    deep = tmp / "deep.png"
    Image.fromarray((rng.random((19, 16)) * 65535).astype(np.uint16)).save(deep)
    return [rgb, rgba, deep]


@pytest.mark.parametrize(
    "command",
    [["upscale", "-s", "4"], ["denoise", "--sigma", "25"], ["deblock"], ["deblock", "--ensemble"]],
    ids=["upscale", "denoise", "deblock", "deblock-ensemble"],
)
def test_restore_without_torch_same_bytes(command: list[str], tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    outs = {}
    for runtime in ("lite", "torch"):
        folder = tmp_path / runtime
        res = _bbcu(
            [*command, *map(str, inputs), "-o", str(folder), "--threads", "2"],
            tmp_path,
            torch_runtime=runtime == "torch",
        )
        assert res.returncode == 0, res.stderr[-3000:]
        assert ("no torch" in res.stderr) == (runtime == "lite"), res.stderr[-1000:]
        copies = ", ensemble x8" if "--ensemble" in command else ", 2 copies" if command[0] == "upscale" else None
        assert copies is None or copies in res.stderr, res.stderr[-1000:]  # the x4 default runs 2 copies
        outs[runtime] = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    assert len(outs["lite"]) == len(inputs) and outs["lite"] == outs["torch"]


def test_verbose_says_why_not(tmp_path: Path) -> None:
    rgb = _inputs(tmp_path)[0]
    res = _bbcu(
        ["-v", "upscale", str(rgb), "-s", "2", "-m", "bbcu-m-x2", "-o", str(tmp_path / "o.png")],
        tmp_path,
        torch_runtime=False,
    )
    assert res.returncode != 0 and "imported torch" in res.stderr  # BBCU-M runs on torch
    assert "runtime: torch (architecture bbcu-m has no torch-free plan)" in res.stderr
