"""The quality bars of the bundled default models, measured with ``bbcu eval`` on the benchmarks.

Slow (several minutes on two cores) and needs ``../shared/datasets`` beside the checkout:

    python -m pytest -m slow tests/test_quality_bars.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli

BENCH = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "bench"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BENCH.is_dir(), reason=f"benchmark data not found at {BENCH}"),
]


def _eval(capsys: pytest.CaptureFixture[str], dataset: str, *args: object) -> dict:
    res = run_cli(capsys, "eval", BENCH / dataset, *args, "--threads", 2, "--json", "-q")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["dataset"] == dataset and report["images"]
    return report


@pytest.mark.parametrize(("scale", "dataset", "bar"), [(4, "Set5", 30.7), (4, "B100", 27.0), (2, "Set5", 36.3)])
def test_bicubic_trained_sr_models_meet_bar(
    capsys: pytest.CaptureFixture[str], scale: int, dataset: str, bar: float
) -> None:
    """The bars of the first SR defaults, kept by name (the robust defaults have their own test,
    tests/test_robust_sr_bars.py)."""
    report = _eval(capsys, dataset, "--task", "sr", "-s", scale, "-m", f"bbcu-l-x{scale}")
    assert report["psnr"] >= bar, f"x{scale} {dataset}: {report['psnr']:.2f} dB < {bar}"


def test_denoise_default_meets_bar(capsys: pytest.CaptureFixture[str]) -> None:
    report = _eval(capsys, "CBSD68", "--task", "denoise", "--sigma", 25)
    assert report["psnr"] >= 30.0, f"CBSD68 sigma 25: {report['psnr']:.2f} dB < 30.0"


def test_deblock_default_beats_jpeg_by_one_db(capsys: pytest.CaptureFixture[str]) -> None:
    ours = _eval(capsys, "BSD68", "--task", "deblock", "--quality", 10)
    jpeg = _eval(capsys, "BSD68", "--task", "deblock", "--quality", 10, "-m", "identity")
    gain = ours["psnr"] - jpeg["psnr"]
    assert gain >= 1.0, f"BSD68 q10: {ours['psnr']:.2f} vs JPEG {jpeg['psnr']:.2f} (+{gain:.2f})"


def _denoise(capsys: pytest.CaptureFixture[str], noisy: Path, clean: Path, *args: object) -> dict:
    """One ``bbcu denoise`` item (psnr against ``clean``, the sigma used or estimated)."""
    out = noisy.with_name("out_" + "_".join(map(str, args)) + ".png")
    res = run_cli(capsys, "denoise", noisy, "--ref", clean, "-o", out, *args, "--json", "-q")
    assert res.code == 0, res.err
    return json.loads(res.out)["items"][0]


def test_sigma_steers_the_default_denoiser_on_cbsd68(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from PIL import Image

    from bbcu_cli.degrade import add_gaussian_noise

    clean = sorted((BENCH / "CBSD68").glob("*.png"))[0]
    pixels = np.asarray(Image.open(clean).convert("RGB"))
    noisy_pixels = add_gaussian_noise(pixels / 255.0, 25, seed=0)
    noisy = tmp_path / "noisy.png"
    Image.fromarray(np.clip(np.rint(noisy_pixels * 255), 0, 255).astype(np.uint8)).save(noisy)
    psnr = {s: _denoise(capsys, noisy, clean, "--sigma", s)["psnr"] for s in (5, 25, 70)}
    assert psnr[25] > psnr[5] and psnr[25] > psnr[70], psnr
    estimated = _denoise(capsys, noisy, clean)
    assert abs(estimated["sigma"] - 25) <= 0.2 * 25, estimated
