"""Tests for bbcu_cli.evaluate on tiny synthetic folders (and Set5 when the data is present)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bbcu_cli.degrade import bicubic_downscale_uint8, image_seed, jpeg_compress
from bbcu_cli.errors import InputError, UsageError
from bbcu_cli.evaluate import (
    SHEET_CROP,
    SHEET_GAP,
    SHEET_LABEL,
    SHEET_ZOOM,
    EvalConfig,
    bicubic_baseline,
    comparison_sheet,
    evaluate,
    identity_baseline,
    list_dataset,
    load_clean,
    make_degraded,
    quantize,
)

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _texture(h: int, w: int, c: int, seed: int) -> np.ndarray:
    """Smooth-ish uint8 texture: coarse random grid upsampled, plus fine noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 8 + 1, w // 8 + 1, c)).repeat(8, 0).repeat(8, 1)[:h, :w]
    return np.clip(coarse * 200 + rng.random((h, w, c)) * 55, 0, 255).astype(np.uint8)


def _write_folder(folder: Path, shapes: list[tuple[int, int, int]]) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i, (h, w, c) in enumerate(shapes):
        img = _texture(h, w, c, seed=i)
        Image.fromarray(img[..., 0] if c == 1 else img).save(folder / f"img{i:02d}.png")
        images.append(img)
    return images


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


# --- configuration, listing, degradation ----------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"task": "inpaint"},
        {"task": "sr", "scale": 0},
        {"task": "denoise", "sigma": -1},
        {"task": "deblock", "quality": 101},
        {"task": "sr", "limit": 0},
    ],
)
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        EvalConfig(**kwargs)


def test_list_dataset_sorted_filtered_limited(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.jpg", "c.txt", ".hidden.png", "d.bmp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_dataset(tmp_path, None)] == ["a.jpg", "b.PNG", "d.bmp"]
    assert [p.name for p in list_dataset(tmp_path, 2)] == ["a.jpg", "b.PNG"]
    with pytest.raises(InputError):
        list_dataset(tmp_path / "missing", None)


def test_load_clean_channels(tmp_path: Path) -> None:
    _write_folder(tmp_path, [(24, 32, 1), (24, 32, 3)])
    gray, rgb = tmp_path / "img00.png", tmp_path / "img01.png"
    assert load_clean(gray, EvalConfig("sr")).shape == (24, 32, 3)
    assert load_clean(gray, EvalConfig("deblock")).shape == (24, 32, 1)
    assert load_clean(rgb, EvalConfig("deblock")).shape == (24, 32, 3)
    assert load_clean(rgb, EvalConfig("denoise", gray=True)).shape == (24, 32, 1)
    assert load_clean(rgb, EvalConfig("sr", gray=True)).shape == (24, 32, 3)


def test_make_degraded_per_task() -> None:
    clean = _texture(40, 48, 3, seed=5)
    lr = make_degraded(clean, EvalConfig("sr", scale=4), 0)
    assert lr.dtype == np.float32 and lr.shape == (10, 12, 3)
    np.testing.assert_array_equal(lr, bicubic_downscale_uint8(clean, 4) / np.float32(255))
    cfg = EvalConfig("denoise", sigma=50, seed=3)
    noisy = make_degraded(clean, cfg, 2)
    rng = np.random.default_rng(image_seed(3, 2))
    expected = (clean / 255.0 + rng.normal(0, 50 / 255, clean.shape)).astype(np.float32)
    np.testing.assert_array_equal(noisy, expected)
    assert noisy.min() < 0 or noisy.max() > 1  # unclipped
    assert not np.array_equal(noisy, make_degraded(clean, cfg, 3))
    jpeg = make_degraded(clean, EvalConfig("deblock", quality=10), 0)
    np.testing.assert_array_equal(jpeg, (jpeg_compress(clean, 10) / 255.0).astype(np.float32))


def test_quantize_rounds_half_away_and_clips() -> None:
    x = np.array([-0.2, 0.5 / 255, 1.5 / 255, 0.999999, 1.7, np.nan])
    np.testing.assert_array_equal(quantize(x), [0, 1, 2, 255, 255, 0])


# --- evaluate -----------------------------------------------------------------------------


def test_identity_denoise_matches_noisy_input_psnr(tmp_path: Path) -> None:
    images = _write_folder(tmp_path / "set", [(32, 40, 3), (36, 28, 3), (30, 30, 3)])
    cfg = EvalConfig("denoise", sigma=25, seed=11)
    calls: list[tuple[int, int]] = []
    result = evaluate(
        tmp_path / "set", identity_baseline(), cfg, "identity", progress=lambda done, total: calls.append((done, total))
    )
    expected = []
    for i, clean in enumerate(images):
        rng = np.random.default_rng(11 + i)
        noisy = clean / 255.0 + rng.normal(0.0, 25 / 255, clean.shape)
        expected.append(_psnr(np.floor(np.clip(noisy, 0, 1) * 255 + 0.5), clean))
    assert [r.psnr for r in result.images] == pytest.approx(expected, abs=1e-9)
    assert result.psnr == pytest.approx(np.mean(expected), abs=1e-9)
    assert [r.input_psnr for r in result.images] == pytest.approx(expected, abs=1e-9)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert result.mean_of("baseline_psnr") is None  # no baseline asked for


def test_deblock_gray_and_colour(tmp_path: Path) -> None:
    gray = _write_folder(tmp_path / "gray", [(40, 48, 1)])[0]
    colour = _write_folder(tmp_path / "colour", [(40, 48, 3)])[0]
    seen: list[tuple[int, ...]] = []

    def restore(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape)
        return x

    res_g = evaluate(tmp_path / "gray", restore, EvalConfig("deblock", quality=20), "id")
    res_c = evaluate(tmp_path / "colour", restore, EvalConfig("deblock", quality=20), "id")
    assert seen == [(40, 48, 1), (40, 48, 3)]
    assert res_g.psnr == pytest.approx(_psnr(jpeg_compress(gray, 20), gray), abs=1e-9)
    assert res_c.psnr == pytest.approx(_psnr(jpeg_compress(colour, 20), colour), abs=1e-9)


def test_result_json_and_task_parameters(tmp_path: Path) -> None:
    _write_folder(tmp_path / "tiny", [(32, 32, 3)])
    res = evaluate(tmp_path / "tiny", identity_baseline(), EvalConfig("denoise", sigma=15), "m")
    data = json.loads(json.dumps(res.to_json()))
    assert list(data) == ["task", "model", "dataset", "scale", "sigma", "quality", "psnr", "ssim", "copies", "images"]
    assert (data["task"], data["model"], data["dataset"]) == ("denoise", "m", "tiny")
    assert (data["scale"], data["sigma"], data["quality"]) == (None, 15, None)
    assert list(data["images"][0]) == ["name", "psnr", "ssim"]
    assert data["images"][0]["name"] == "img00"


def test_sr_gray_image_and_baseline_scores(tmp_path: Path) -> None:
    _write_folder(tmp_path / "sr", [(50, 45, 1), (44, 60, 3)])
    cfg = EvalConfig("sr", scale=2, limit=2)
    res = evaluate(tmp_path / "sr", bicubic_baseline(2), cfg, "bicubic", baseline=bicubic_baseline(2))
    assert [r.psnr for r in res.images] == [r.baseline_psnr for r in res.images]
    assert res.mean_of("baseline_psnr") == pytest.approx(res.psnr)
    assert all(r.input_psnr is None for r in res.images)


def test_wrong_output_shape_raises(tmp_path: Path) -> None:
    _write_folder(tmp_path / "s", [(32, 32, 3)])
    with pytest.raises(InputError, match="shape"):
        evaluate(tmp_path / "s", identity_baseline(), EvalConfig("sr", scale=2), "broken")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        evaluate(tmp_path / "empty", identity_baseline(), EvalConfig("denoise"), "m")


@pytest.mark.parametrize(
    ("shape", "scale", "message"),
    [((5, 5, 3), 4, r"img00.png is 5x5, too small to evaluate at x4"), ((12, 12, 3), 2, r"img00.png: a crop of")],
)
def test_too_small_image_is_named(tmp_path: Path, shape: tuple[int, int, int], scale: int, message: str) -> None:
    """An image too small for the scale (it used to end in a numpy ValueError) or for SSIM after
    the border crop: a one-line InputError that names the file."""
    _write_folder(tmp_path / "s", [shape])
    with pytest.raises(InputError, match=message):
        evaluate(tmp_path / "s", bicubic_baseline(scale), EvalConfig("sr", scale=scale), "bicubic")


SET5_BICUBIC = [(4, 28.43, 0.8113), (2, 33.68, 0.9305)]  # Y-PSNR / SSIM, README protocol


@pytest.mark.parametrize(("scale", "psnr_ref", "ssim_ref"), SET5_BICUBIC)
def test_set5_bicubic(scale: int, psnr_ref: float, ssim_ref: float) -> None:
    folder = DATASETS / "bench" / "Set5"
    if not folder.is_dir():
        pytest.skip(f"benchmark data not found at {folder}")
    res = evaluate(folder, bicubic_baseline(scale), EvalConfig("sr", scale=scale), "bicubic")
    assert len(res.images) == 5 and res.dataset == "Set5"
    assert abs(res.psnr - psnr_ref) < 0.01 and abs(res.ssim - ssim_ref) < 0.01


# --- saving and comparison sheets -----------------------------------------------------------


def _sheet_size(h: int, w: int) -> tuple[int, int]:
    zoom = min(SHEET_CROP, h, w) * SHEET_ZOOM
    return 4 * zoom + 3 * SHEET_GAP, SHEET_LABEL + zoom  # PIL (width, height)


@pytest.mark.parametrize(("task", "shape"), [("sr", (128, 112, 3)), ("denoise", (40, 52, 1))])
def test_save_writes_outputs_and_sheets(tmp_path: Path, task: str, shape: tuple[int, int, int]) -> None:
    _write_folder(tmp_path / "in", [shape])
    cfg = EvalConfig(task, scale=4)  # type: ignore[arg-type]
    restore = bicubic_baseline(4) if task == "sr" else identity_baseline()
    out_dir = tmp_path / "out" / "nested"
    res = evaluate(tmp_path / "in", restore, cfg, "model", save_dir=out_dir)
    assert res.images[0].baseline_psnr is not None  # default baseline runs when saving
    with Image.open(out_dir / "img00.png") as im:
        assert im.size == (shape[1], shape[0])
        assert im.mode == ("L" if shape[2] == 1 else "RGB")
    with Image.open(out_dir / "img00_compare.png") as sheet:
        assert sheet.size == _sheet_size(shape[0], shape[1])
        assert sheet.mode == "RGB"


def test_sheet_crops_most_textured_window() -> None:
    ref = np.full((200, 180, 3), 128, dtype=np.uint8)
    ref[100:196, 40:136] = _texture(96, 96, 3, seed=9)
    panels = [(f"panel {k}", ref) for k in range(3)] + [("reference", ref)]
    sheet = comparison_sheet(panels, ref)
    z = SHEET_CROP * SHEET_ZOOM
    assert sheet.shape == (SHEET_LABEL + z, 4 * z + 3 * SHEET_GAP, 3)
    zoomed = ref[100:196, 40:136].repeat(SHEET_ZOOM, 0).repeat(SHEET_ZOOM, 1)
    x = 3 * (z + SHEET_GAP)
    np.testing.assert_array_equal(sheet[SHEET_LABEL:, x : x + z], zoomed)
    assert (sheet[:SHEET_LABEL, :z] < 128).any()  # a label was drawn


def test_save_never_writes_into_the_dataset(tmp_path: Path) -> None:
    """``--save`` into the dataset folder replaced ``img00.png`` with its restored output (and
    the next run scored the sheets); two images of one stem overwrote each other's output."""
    _write_folder(tmp_path / "s", [(32, 32, 3), (32, 32, 3)])
    before = (tmp_path / "s" / "img00.png").read_bytes()
    for target in (tmp_path / "s", tmp_path / "s" / "sub"):
        with pytest.raises(UsageError, match="is inside the dataset folder"):
            evaluate(tmp_path / "s", bicubic_baseline(2), EvalConfig("sr", scale=2), "b", save_dir=target)
    assert (tmp_path / "s" / "img00.png").read_bytes() == before
    Image.open(tmp_path / "s" / "img01.png").save(tmp_path / "s" / "img00.jpg")
    with pytest.raises(UsageError, match="would both be saved as img00.png"):
        evaluate(tmp_path / "s", bicubic_baseline(2), EvalConfig("sr", scale=2), "b", save_dir=tmp_path / "out")
