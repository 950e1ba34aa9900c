"""The bars of the robust SR defaults and the fast tier, measured with ``bbcu eval --degradation``.

Slow (several minutes on two cores); needs ``../shared/datasets`` beside the checkout:

    python -m pytest -m slow tests/test_robust_sr_bars.py

The FSRCNN / ESPCN scores under every degradation come from ``benchmarks/peers_quality.json``
(made by ``python benchmarks/peers_quality.py``, which runs the OpenCV graphs of
``../shared/peers`` in their own venv: they cannot run in the test environment).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import run_cli

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "datasets" / "bench"
PEERS = ROOT / "benchmarks" / "peers_quality.json"
DEGRADATIONS = ("matlab", "cv2-cubic", "cv2-area", "cv2-linear", "pil", "jpeg75", "noise5")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BENCH.is_dir(), reason=f"benchmark data not found at {BENCH}"),
]


def _scores(capsys: pytest.CaptureFixture[str], dataset: str, scale: int, *args: object) -> dict[str, float]:
    """Y-PSNR per degradation of ``bbcu eval DATASET -s SCALE --degradation all``."""
    res = run_cli(
        capsys, "eval", BENCH / dataset, "-s", scale, "--degradation", "all", *args, "--threads", 2, "--json", "-q"
    )
    assert res.code == 0, res.err
    results = json.loads(res.out)["results"]
    assert [r["degradation"] for r in results] == list(DEGRADATIONS)
    return {r["degradation"]: r["psnr"] for r in results}


def _peers(scale: int, dataset: str) -> dict[str, dict[str, float]]:
    table = json.loads(PEERS.read_text())
    return {peer: table[peer][f"x{scale}"][dataset] for peer in ("FSRCNN", "ESPCN")}


def _protocol(capsys: pytest.CaptureFixture[str], dataset: str, scale: int, *args: object) -> float:
    res = run_cli(capsys, "eval", BENCH / dataset, "-s", scale, *args, "--threads", 2, "--json", "-q")
    assert res.code == 0, res.err
    return float(json.loads(res.out)["psnr"])


@pytest.mark.parametrize("dataset", ["Set5", "Set14", "B100"])
def test_x4_default_beats_bicubic_and_peers_under_every_degradation(
    capsys: pytest.CaptureFixture[str], dataset: str
) -> None:
    ours = _scores(capsys, dataset, 4)
    bicubic = _scores(capsys, dataset, 4, "-m", "bicubic")
    peers = _peers(4, dataset)
    for d in DEGRADATIONS:
        assert ours[d] >= bicubic[d] + 0.3, f"{dataset} {d}: {ours[d]:.2f} < bicubic {bicubic[d]:.2f} + 0.3"
        for peer, scores in peers.items():
            assert ours[d] >= scores[d], f"{dataset} {d}: {ours[d]:.3f} < {peer} {scores[d]:.3f}"


@pytest.mark.parametrize(
    ("scale", "dataset", "bar"), [(4, "Set5", 30.9), (4, "B100", 27.1), (2, "Set5", 36.9), (3, "Set5", 32.9)]
)
def test_defaults_meet_the_protocol_bars(
    capsys: pytest.CaptureFixture[str], scale: int, dataset: str, bar: float
) -> None:
    psnr = _protocol(capsys, dataset, scale)
    assert psnr >= bar, f"x{scale} {dataset}: {psnr:.2f} dB < {bar}"


def test_fast_x4_protocol_bar(capsys: pytest.CaptureFixture[str]) -> None:
    psnr = _protocol(capsys, "Set5", 4, "-m", "bbcu-fast-x4")
    assert psnr >= 30.3, f"bbcu-fast-x4 Set5: {psnr:.2f} dB < 30.3"


@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
def test_fast_x4_beats_peers_under_every_degradation(capsys: pytest.CaptureFixture[str], dataset: str) -> None:
    ours = _scores(capsys, dataset, 4, "-m", "bbcu-fast-x4")
    for peer, scores in _peers(4, dataset).items():
        for d in DEGRADATIONS:
            assert ours[d] > scores[d], f"bbcu-fast-x4 {dataset} {d}: {ours[d]:.3f} <= {peer} {scores[d]:.3f}"
