"""Each denoised or deblocked item says how much of the model's change it kept: ``weight`` in
the ``--json`` items and a few words on the ok line. Before, a clean photo through ``bbcu
denoise`` came out identical to its input under a plain "ok", and a script could not tell why."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from PIL import Image as PILImage

from bbcu_cli.batch.item import ItemResult, report_weight
from bbcu_cli.batch.plan import BatchItem
from bbcu_cli.batch.restore import DEBLOCK_WEIGHTS, restore_frames
from bbcu_cli.bench import random_model
from bbcu_cli.cli.item_text import _DEBLOCK_KEEPS, item_line, weight_text
from bbcu_cli.cli.restore_report import _level_line, location
from bbcu_cli.engine.restore import Restorer
from bbcu_cli.imagefiles import Image, ImageSequence
from bbcu_cli.loading import ModelSpec


def _photo(seed: int, size: int = 32) -> np.ndarray:
    """8x8 blocks of random colours: a JPEG of it has a known quality and no flat-image oddities."""
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 256, (size // 8, size // 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[dict[str, object], str]:
    """The --json item of one run, and the ok line of the same run without --json."""
    res = run_cli(capsys, *args, "--threads", "1", "--json")
    assert res.code == 0, res.err
    item = json.loads(res.out)["items"][0]
    res = run_cli(capsys, *args, "--threads", "1", "--overwrite")
    assert res.code == 0, res.err
    lines = [line for line in res.err.splitlines() if line.startswith("ok ")]
    assert len(lines) == 1, res.err
    return item, lines[0]


def test_clean_image_through_denoise_reports_weight_zero(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    PILImage.new("RGB", (32, 32), (40, 90, 200)).save(tmp_path / "clean.png")
    item, line = _run(capsys, "denoise", tmp_path / "clean.png", "-o", tmp_path / "out.png")
    assert item["weight"] == 0.0 and item["sigma"] is not None and item["sigma"] < 1.55
    assert "jpeg_quality" not in item
    assert f"sigma {item['sigma']:.1f}  kept as is: looks clean" in line
    assert line.endswith("kept as is: looks clean")


def test_noisy_image_through_denoise_keeps_all_of_the_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
    PILImage.fromarray(noisy).save(tmp_path / "noisy.png")
    item, line = _run(capsys, "denoise", tmp_path / "noisy.png", "-o", tmp_path / "out.png")
    assert item["weight"] == 1.0 and item["sigma"] > 9
    assert "kept as is" not in line and "change x" not in line and f"sigma {item['sigma']:.1f}" in line


def test_high_quality_jpeg_through_deblock_reports_part_of_the_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    PILImage.fromarray(_photo(1)).save(tmp_path / "q80.jpg", quality=80)
    item, line = _run(capsys, "deblock", tmp_path / "q80.jpg", "-o", tmp_path / "out.png")
    assert 0.0 < item["weight"] < 1.0 and item["weight"] == pytest.approx(0.5, abs=0.03)
    assert item["sigma"] is None
    assert line.endswith(f"change x{item['weight']:.2f} (JPEG quality about 80)")


@pytest.mark.parametrize("quality", [95, 97])
def test_very_high_quality_jpeg_through_deblock_is_kept_as_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, quality: int
) -> None:
    """From quality 95 the input is kept (the estimate of a q95 file, 94.997, counts as 95)."""
    src = tmp_path / f"q{quality}.jpg"
    PILImage.fromarray(_photo(2)).save(src, quality=quality)
    item, line = _run(capsys, "deblock", src, "-o", tmp_path / "out.png")
    assert item["weight"] == 0.0
    assert line.endswith(f"kept as is: JPEG quality about {quality}")
    assert np.array_equal(np.asarray(PILImage.open(tmp_path / "out.png")), np.asarray(PILImage.open(src)))


def test_outputs_in_the_current_folder_are_reported_as_such() -> None:
    """Several outputs in the current folder: the summary said 'outputs in /'."""
    items = [BatchItem(Path(n), None, output=Path(n + "_denoised.png")) for n in ("a", "b")]
    assert location(items) == "." + os.sep
    items = [BatchItem(Path(n), None, output=Path("out") / n) for n in ("a", "b")]
    assert location(items) == "out" + os.sep


def test_compressed_jpeg_kept_by_denoise_points_to_deblock(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """JPEG removes the fine noise a denoiser measures and leaves blocks: a q30 file looks clean
    to ``bbcu denoise``, and the line says which command is for it."""
    PILImage.fromarray(_photo(4)).save(tmp_path / "q30.jpg", quality=30)
    item, line = _run(capsys, "denoise", tmp_path / "q30.jpg", "-o", tmp_path / "out.png")
    assert item["weight"] == 0.0
    assert line.endswith("kept as is: looks clean; JPEG quality about 30: try bbcu deblock")


def test_denoise_hint_stops_where_deblock_keeps_its_input() -> None:
    assert _DEBLOCK_KEEPS == DEBLOCK_WEIGHTS[-1][0] and DEBLOCK_WEIGHTS[-1][1] == 0.0


def test_upscale_has_no_weight(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    PILImage.fromarray(_photo(3, 16)).save(tmp_path / "small.jpg", quality=90)
    item, line = _run(capsys, "upscale", tmp_path / "small.jpg", "-s", "2", "-o", tmp_path / "out.png")
    assert item["weight"] is None and item["sigma"] is None
    assert "kept as is" not in line and "change x" not in line and "JPEG" not in line


@pytest.mark.parametrize(
    ("weight", "shown"),
    [(None, None), (0.0, 0.0), (0.004, 0.01), (0.5049, 0.5), (0.996, 0.99), (1.0, 1.0)],
)
def test_reported_weight_is_zero_or_one_only_when_exact(weight: float | None, shown: float | None) -> None:
    assert report_weight(weight) == shown


def test_weight_words() -> None:
    def line(**kw: object) -> str:
        return item_line(ItemResult("a.png", "b.png", "ok", seconds=0.5, **kw)).plain  # type: ignore[arg-type]

    assert line(sigma=0.8, weight=0.0) == "ok a.png -> b.png  0.50 s  sigma 0.8  kept as is: looks clean"
    assert line(sigma=2.0, weight=0.4) == "ok a.png -> b.png  0.50 s  sigma 2.0  change x0.40 (little noise)"
    assert line(sigma=12.0, weight=1.0) == "ok a.png -> b.png  0.50 s  sigma 12.0"
    assert line(weight=0.0, jpeg_quality=96.2) == "ok a.png -> b.png  0.50 s  kept as is: JPEG quality about 96"
    assert line(weight=0.6, jpeg_quality=75.0) == "ok a.png -> b.png  0.50 s  change x0.60 (JPEG quality about 75)"
    assert line(weight=None, jpeg_quality=75.0) == "ok a.png -> b.png  0.50 s"
    hint = "kept as is: looks clean; JPEG quality about 30: try bbcu deblock"
    assert line(sigma=0.7, weight=0.0, jpeg_quality=30.0) == f"ok a.png -> b.png  0.50 s  sigma 0.7  {hint}"
    assert line(sigma=0.7, weight=0.0, jpeg_quality=96.0).endswith("kept as is: looks clean")
    assert line(sigma=12.0, weight=1.0, jpeg_quality=30.0) == "ok a.png -> b.png  0.50 s  sigma 12.0"
    assert weight_text(ItemResult("a.png", None, "failed", error="x")) == ""


def test_terminal_lines_say_the_weight_too() -> None:
    """On a terminal (no per-file ok lines) the noise-level lines carry the same words."""
    clean = ItemResult("a.png", "b.png", "ok", sigma=0.8, weight=0.0)
    assert _level_line(clean) == "a.png: noise level sigma = 0.8; kept as is: looks clean"
    assert _level_line(ItemResult("a.png", "b.png", "ok", sigma=12.0, weight=1.0)) == "a.png: noise level sigma = 12.0"
    jpeg = ItemResult("q.jpg", "b.png", "ok", weight=0.0, jpeg_quality=96.0)
    assert _level_line(jpeg) == "q.jpg: kept as is: JPEG quality about 96"
    assert _level_line(ItemResult("q.jpg", "b.png", "ok", weight=1.0, jpeg_quality=30.0)) == ""
    assert _level_line(ItemResult("a.png", "b.png", "ok")) == ""


def _frame(pixels: np.ndarray) -> Image:
    return Image(pixels, None, 8, "rgb", None)


def test_frames_report_their_smallest_weight_and_its_noise_level() -> None:
    """An animation's weight is that of its frame that kept the least of the change (each frame
    is weighted on its own), with that frame's noise level; the first frame's on a tie."""
    spec = ModelSpec("dncnn", "denoise", 1, 3, 8, 3, 7.3, noise_channel=True)
    restorer = Restorer(random_model(spec), backend="float", device="cpu")
    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
    clean = np.full((32, 32, 3), 120, np.uint8)
    out, sigma, weight, _ = restore_frames(restorer, ImageSequence([_frame(noisy), _frame(clean)], [100, 100]))
    assert weight == 0.0 and sigma is not None and sigma < 1.55
    assert isinstance(out, ImageSequence) and np.array_equal(out.frames[1].pixels, clean)
    assert not np.array_equal(out.frames[0].pixels, noisy)  # the noisy frame still got all of it
    _, sigma, weight, _ = restore_frames(restorer, ImageSequence([_frame(noisy), _frame(noisy[::-1])], [100, 100]))
    assert weight == 1.0 and sigma is not None and sigma > 9
