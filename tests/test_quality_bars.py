"""The quality bars of the bundled default models, measured with ``bbcu eval`` on the benchmarks.

Slow (several minutes on two cores) and needs ``../shared/datasets`` beside the checkout:

    python -m pytest -m slow tests/test_quality_bars.py
"""

from __future__ import annotations

import json
from pathlib import Path

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


@pytest.mark.parametrize(
    ("scale", "dataset", "bar"), [(4, "Set5", 30.7), (4, "B100", 27.0), (2, "Set5", 36.3)]
)
def test_sr_default_meets_bar(
    capsys: pytest.CaptureFixture[str], scale: int, dataset: str, bar: float
) -> None:
    report = _eval(capsys, dataset, "--task", "sr", "-s", scale)
    assert report["psnr"] >= bar, f"x{scale} {dataset}: {report['psnr']:.2f} dB < {bar}"


def test_denoise_default_meets_bar(capsys: pytest.CaptureFixture[str]) -> None:
    report = _eval(capsys, "CBSD68", "--task", "denoise", "--sigma", 25)
    assert report["psnr"] >= 30.0, f"CBSD68 sigma 25: {report['psnr']:.2f} dB < 30.0"


def test_deblock_default_beats_jpeg_by_one_db(capsys: pytest.CaptureFixture[str]) -> None:
    ours = _eval(capsys, "BSD68", "--task", "deblock", "--quality", 10)
    jpeg = _eval(capsys, "BSD68", "--task", "deblock", "--quality", 10, "-m", "identity")
    gain = ours["psnr"] - jpeg["psnr"]
    assert gain >= 1.0, f"BSD68 q10: {ours['psnr']:.2f} vs JPEG {jpeg['psnr']:.2f} (+{gain:.2f})"
