"""A denoiser or deblocker leaves a (nearly) clean input as it is: the model's change is weighted
by the noise level or the JPEG quality (``batch.restore.residual_weight``). Before, a clean flat
image came out of ``bbcu denoise`` up to 38 levels off at its border, and a quality-95 JPEG out
of ``bbcu deblock`` about 13 dB worse than it went in (CBSD68, README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from PIL import Image as PILImage

from bbcu_cli.batch.restore import mix_with_input, residual_weight
from bbcu_cli.imagefiles import read_image


@pytest.mark.parametrize(
    ("task", "sigma", "quality", "expected"),
    [
        ("denoise", 0.0, None, 0.0),
        ("denoise", 1.5, None, 0.0),
        ("denoise", 2.0, None, 1 - (1.55 / 2) ** 2),
        ("denoise", 6.0, None, 1 - (1.55 / 6) ** 2),
        ("denoise", 10.0, None, 1.0),  # within 3% of 1: the plain output
        ("denoise", None, None, 1.0),  # a model without a noise level
        ("deblock", None, 30.0, 1.0),
        ("deblock", None, 75.0, 0.6),
        ("deblock", None, 80.0, 0.5),
        ("deblock", None, 95.0, 0.0),
        ("deblock", None, 100.0, 0.0),
        ("deblock", None, None, 1.0),  # not a JPEG file: quality unknown
        ("sr", 0.0, 99.0, 1.0),
    ],
)
def test_weights(task: str, sigma: float | None, quality: float | None, expected: float) -> None:
    assert residual_weight(task, sigma, quality) == pytest.approx(expected)


def test_mix_with_input_rounds_into_the_output_depth() -> None:
    source = np.array([[[0], [100], [255]]], np.uint8)
    restored = np.array([[[1.0], [100 / 255], [0.0]]], np.float32)
    assert mix_with_input(source, restored, 0.5, np.uint8).ravel().tolist() == [128, 100, 128]
    deep = mix_with_input(source.astype(np.uint16) * 257, restored, 0.25, np.uint16)
    assert deep.dtype == np.uint16 and deep.ravel().tolist() == [16384, 25700, 49151]
    assert mix_with_input(source, restored, 1.0, np.float32)[0, 2, 0] == 0.0


def _diff(a: Path, b: Path) -> int:
    x = np.asarray(PILImage.open(a).convert("RGB"), np.int32)
    return int(np.abs(x - np.asarray(PILImage.open(b).convert("RGB"), np.int32)).max())


def test_clean_image_comes_out_of_denoise_unchanged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    PILImage.new("RGB", (40, 32), (0, 0, 255)).save(tmp_path / "flat.png")
    res = run_cli(capsys, "denoise", tmp_path / "flat.png", "-o", tmp_path / "flat_d.png", "--threads", "1", "-q")
    assert res.code == 0, res.err
    assert _diff(tmp_path / "flat.png", tmp_path / "flat_d.png") == 0
    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 25, (32, 40, 3)), 0, 255).astype(np.uint8)
    PILImage.fromarray(noisy).save(tmp_path / "noisy.png")
    res = run_cli(capsys, "denoise", tmp_path / "noisy.png", "-o", tmp_path / "noisy_d.png", "--threads", "1", "-q")
    assert res.code == 0 and _diff(tmp_path / "noisy.png", tmp_path / "noisy_d.png") > 20  # still denoised


def test_high_quality_jpeg_comes_out_of_deblock_unchanged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    photo = np.kron(rng.integers(0, 256, (6, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    for quality, changed in ((95, False), (30, True)):
        src = tmp_path / f"q{quality}.jpg"
        PILImage.fromarray(photo).save(src, quality=quality)
        assert read_image(src).jpeg_quality == pytest.approx(quality, abs=1)
        out = tmp_path / f"q{quality}_d.png"
        res = run_cli(capsys, "deblock", src, "-o", out, "--threads", "1", "-q")
        assert res.code == 0, res.err
        assert (_diff(src, out) > 0) == changed
