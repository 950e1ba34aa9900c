"""``bbcu upscale|denoise|deblock`` end to end on the official-format fixtures and on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from conftest import FIXTURE_INFO, FIXTURE_NAMES, FIXTURES, TASK_COMMAND, fixture_expected_png
from PIL import Image

from bbcu_cli.imagefiles import read_image


def _copy_input(name: str, folder: Path) -> Path:
    dst = folder / FIXTURE_INFO[name]["input"]
    shutil.copy(FIXTURES / FIXTURE_INFO[name]["input"], dst)
    return dst


def _cli_output(capsys: pytest.CaptureFixture[str], name: str, tmp_path: Path, *extra: object) -> np.ndarray:
    info = FIXTURE_INFO[name]
    src = _copy_input(name, tmp_path)
    out = tmp_path / f"out{len(extra)}.png"
    res = run_cli(capsys, TASK_COMMAND[info["task"]], src, "-m", FIXTURES / info["checkpoint"], "-o", out, "-q", *extra)
    assert res.code == 0, res.err
    arr = np.asarray(Image.open(out))
    return arr if arr.ndim == 3 else arr[:, :, None]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_png_via_cli(capsys: pytest.CaptureFixture[str], name: str, tmp_path: Path) -> None:
    got = _cli_output(capsys, name, tmp_path, "--backend", "float").astype(int)
    want = fixture_expected_png(name).astype(int)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1
    assert (got != want).mean() < 0.01


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_tiled_equals_untiled(capsys: pytest.CaptureFixture[str], name: str, tmp_path: Path) -> None:
    whole = _cli_output(capsys, name, tmp_path, "--backend", "float")
    tiled = _cli_output(capsys, name, tmp_path, "--backend", "float", "--tile", "5")
    np.testing.assert_array_equal(whole, tiled)


def test_batch_with_corrupt_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    good = _copy_input("denoise_f16_l6", folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    out = tmp_path / "out"
    res = run_cli(capsys, "denoise", folder, "-m", FIXTURES / "denoise_f16_l6.pth", "-o", out, "--json")
    assert res.code == 1
    payload = json.loads(res.out)
    status = {Path(i["input"]).name: i for i in payload["items"]}
    assert status[good.name]["status"] == "ok"
    assert status["broken.png"]["status"] == "failed"
    assert "broken.png" in status["broken.png"]["error"]
    assert payload["summary"] == {"ok": 1, "skipped": 0, "failed": 1, "psnr_mean": None, "ssim_mean": None}
    assert (out / f"{good.stem}_denoised.png").is_file()
    assert not (out / "broken_denoised.png").exists()
    assert "broken.png" in res.err


def _kinds_case(tmp_path: Path, kind: str) -> Path:
    rng = np.random.default_rng(1)
    if kind == "gray":
        arr = rng.integers(0, 256, (20, 24), dtype=np.uint8)
        Image.fromarray(arr, "L").save(tmp_path / "gray.png")
        return tmp_path / "gray.png"
    if kind == "rgba":
        arr = rng.integers(0, 256, (20, 24, 4), dtype=np.uint8)
        Image.fromarray(arr, "RGBA").save(tmp_path / "rgba.png")
        return tmp_path / "rgba.png"
    import cv2

    arr = rng.integers(0, 65536, (20, 24, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), arr)
    return tmp_path / "deep.png"


@pytest.mark.parametrize("kind", ["gray", "rgba", "16bit"])
def test_kinds_preserved(capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str) -> None:
    src = _kinds_case(tmp_path, kind)
    before = read_image(src)
    res = run_cli(capsys, "upscale", src, "-m", FIXTURES / "bbcum_x2_f16_b2.pth", "-q")
    assert res.code == 0, res.err
    after = read_image(src.with_name(f"{src.stem}_x2.png"))
    assert after.pixels.shape == (before.pixels.shape[0] * 2, before.pixels.shape[1] * 2, before.pixels.shape[2])
    assert after.bit_depth == before.bit_depth and after.mode == before.mode
    assert (after.alpha is None) == (before.alpha is None)
    if before.alpha is not None:
        assert after.alpha is not None and after.alpha.shape == after.pixels.shape[:2]


def test_output_equal_to_input_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _copy_input("denoise_f16_l6", tmp_path)
    original = src.read_bytes()
    res = run_cli(capsys, "denoise", src, "-m", FIXTURES / "denoise_f16_l6.pth", "-o", src)
    assert res.code == 2
    assert "is an input" in res.err
    assert src.read_bytes() == original


def test_existing_output_needs_overwrite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An existing output is skipped by default (exit 0), --skip-existing is the same, --overwrite replaces."""
    src = _copy_input("denoise_f16_l6", tmp_path)
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    args = ["denoise", src, "-m", FIXTURES / "denoise_f16_l6.pth", "-o", out, "-q"]
    assert run_cli(capsys, *args).code == 0
    assert out.read_bytes() == b"keep me"
    assert run_cli(capsys, *args, "--skip-existing").code == 0
    assert out.read_bytes() == b"keep me"
    assert run_cli(capsys, *args, "--overwrite").code == 0
    assert out.read_bytes() != b"keep me"


def test_ref_reports_metrics(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _copy_input("deblock_f16_l6", tmp_path)
    ref = FIXTURES / FIXTURE_INFO["deblock_f16_l6"]["expected_png"]
    res = run_cli(
        capsys, "deblock", src, "-m", FIXTURES / "deblock_f16_l6.pth", "--ref", ref, "--json", "-o", tmp_path / "o.png"
    )
    assert res.code == 0, res.err
    item = json.loads(res.out)["items"][0]
    assert item["psnr"] is not None and item["psnr"] > 50


@pytest.mark.parametrize("grow", [-1, 0, 1, 2, 30])
def test_ref_must_fit_the_output(capsys: pytest.CaptureFixture[str], tmp_path: Path, grow: int) -> None:
    """x2: a reference may exceed the output by less than the scale per side (the input side was
    rounded down); anything else fails the item with no output written, so a rerun fails again."""
    src = _copy_input("bbcum_x2_f16_b2", tmp_path)
    h, w = read_image(src).pixels.shape[:2]
    ref = tmp_path / "ref.png"
    Image.fromarray(np.full((2 * h + grow, 2 * w + grow, 3), 128, np.uint8)).save(ref)
    args = ("upscale", src, "-m", FIXTURES / "bbcum_x2_f16_b2.pth", "-s", "2", "--ref", ref, "-o", tmp_path / "o.png")
    res = run_cli(capsys, *args)
    if grow in (0, 1):
        assert res.code == 0 and (tmp_path / "o.png").is_file(), res.err
        return
    assert res.code == 1 and f"but the output is {2 * w}x{2 * h}" in res.err, res.err
    assert not (tmp_path / "o.png").exists()
    assert run_cli(capsys, *args).code == 1


def test_scale_mismatch_is_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _copy_input("bbcum_x2_f16_b2", tmp_path)
    res = run_cli(capsys, "upscale", src, "-s", "4", "-m", FIXTURES / "bbcum_x2_f16_b2.pth")
    assert res.code == 2
    assert "x2" in res.err


def test_missing_input_is_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    res = run_cli(capsys, "denoise", tmp_path / "nope.png", "-m", FIXTURES / "denoise_f16_l6.pth")
    assert res.code == 1
    assert "nope.png" in res.err
    assert "Traceback" not in res.err


def test_version_mentions_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_cli(capsys, "--version")
    assert res.code == 0
    assert "bbcu" in res.out and "packed kernel" in res.out


def test_bad_option_is_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    res = run_cli(capsys, "upscale", tmp_path / "x.png", "--tile", "-3")
    assert res.code == 2
    assert "--tile" in res.err
