"""Tests for bbcu_cli.degrade: MATLAB bicubic imresize, noise, JPEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bbcu_cli.degrade import (
    add_gaussian_noise,
    bicubic_downscale_uint8,
    bicubic_upscale,
    contributions,
    cubic,
    image_seed,
    imresize,
    jpeg_compress,
    mirror_indices,
    modcrop,
    round_uint8,
)

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _rng_image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


# --- kernel and index mapping -------------------------------------------------------------


def test_cubic_kernel_values() -> None:
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])
    expected = np.array([1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625])
    np.testing.assert_allclose(cubic(x), expected, atol=1e-15)


def test_mirror_indices_matches_symmetric_padding() -> None:
    np.testing.assert_array_equal(mirror_indices(np.arange(-4, 8), 3), [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1])
    n, pad = 5, 7
    padded = np.pad(np.arange(n), pad, mode="symmetric")
    np.testing.assert_array_equal(mirror_indices(np.arange(-pad, n + pad), n), padded)


@pytest.mark.parametrize(("n_in", "n_out", "scale"), [(13, 4, 1 / 3), (7, 28, 4.0), (9, 5, 0.5)])
def test_contribution_weights_are_normalised(n_in: int, n_out: int, scale: float) -> None:
    weights, indices = contributions(n_in, n_out, scale)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert indices.min() >= 0 and indices.max() < n_in
    expected_taps = int(np.ceil(4 / min(scale, 1.0))) + 2
    assert weights.shape == indices.shape == (n_out, expected_taps)


# --- imresize ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "scale", "expected"),
    [
        ((37, 53), 0.5, (19, 27)),
        ((37, 53, 3), 1 / 3, (13, 18, 3)),
        ((31, 9), 0.25, (8, 3)),
        ((7, 5, 3), 3.0, (21, 15, 3)),
    ],
)
def test_output_size_is_ceil(shape: tuple[int, ...], scale: float, expected: tuple[int, ...]) -> None:
    assert imresize(_rng_image(shape), scale).shape == expected


def test_output_shape_argument() -> None:
    out = imresize(_rng_image((20, 30, 3)), output_shape=(7, 11))
    assert out.shape == (7, 11, 3)


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 0.25, 2.0, 4.0])
def test_constant_image_stays_constant(scale: float) -> None:
    img = np.full((23, 17, 3), 0.37)
    np.testing.assert_allclose(imresize(img, scale), 0.37, atol=1e-12)


def test_float32_dtype_preserved_and_no_clipping() -> None:
    img = np.zeros((16, 16), dtype=np.float32)
    img[:, 8:] = 1.0
    out = imresize(img, 2.0)
    assert out.dtype == np.float32
    assert out.max() > 1.0 and out.min() < 0.0  # cubic overshoot is kept


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        imresize(np.zeros((8, 8), dtype=np.uint8), 0.5)
    with pytest.raises(ValueError):
        imresize(np.zeros((8, 8)))
    with pytest.raises(ValueError):
        imresize(np.zeros((2, 8, 8, 3)), 0.5)


def test_top_left_alignment_when_size_not_divisible() -> None:
    """MATLAB maps output pixel x to u = x/s + (1 - 1/s)/2 whatever the input length.

    Pixels far from the right/bottom border therefore do not depend on how the image is cut
    there (resize_right centres its grid instead, so it only agrees when in * s is integral).
    """
    img = _rng_image((40, 41))
    a = imresize(img[:40, :41], 0.25)  # 10 x 11 output, non-integral width ratio
    b = imresize(img[:40, :40], 0.25)
    np.testing.assert_allclose(a[:, :8], b[:, :8], atol=1e-12)


# Shrinks use inputs divisible by the factor (odd output sizes); grows use odd input sizes.
_RESIZE_RIGHT_CASES = [
    ((26, 34), 0.5),
    ((26, 34, 3), 0.5),
    ((33, 45), 1 / 3),
    ((33, 45, 3), 1 / 3),
    ((36, 44), 0.25),
    ((36, 44, 3), 0.25),
    ((13, 17), 2.0),
    ((13, 17, 3), 2.0),
    ((11, 9), 4.0),
    ((11, 9, 3), 4.0),
]


@pytest.mark.parametrize(("shape", "scale"), _RESIZE_RIGHT_CASES)
def test_matches_resize_right(shape: tuple[int, ...], scale: float) -> None:
    resize_right = pytest.importorskip("resize_right")
    img = _rng_image(shape, seed=len(shape) + int(scale * 12))
    factors = [scale, scale] + [1.0] * (img.ndim - 2)
    ref = resize_right.resize(
        img,
        scale_factors=factors,
        interp_method=resize_right.interp_methods.cubic,
        pad_mode="symmetric",
        antialiasing=True,
    )
    out = imresize(img, scale)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-6


# --- benchmark helpers ----------------------------------------------------------------------


def test_modcrop() -> None:
    assert modcrop(np.zeros((10, 13, 3)), 4).shape == (8, 12, 3)
    assert modcrop(np.zeros((9, 9)), 3).shape == (9, 9)


def test_round_uint8_half_away_from_zero() -> None:
    x = np.array([0.5, 1.5, 2.5, 2.4999, -3.0, 254.5, 300.0])
    np.testing.assert_array_equal(round_uint8(x), [1, 2, 3, 2, 0, 255, 255])


def test_bicubic_downscale_uint8() -> None:
    hr = (_rng_image((30, 43, 3)) * 255).round().astype(np.uint8)
    lr = bicubic_downscale_uint8(hr, 4)
    assert lr.dtype == np.uint8 and lr.shape == (7, 10, 3)
    expected = round_uint8(imresize(hr[:28, :40] / 255.0, 0.25) * 255.0)
    np.testing.assert_array_equal(lr, expected)
    with pytest.raises(ValueError):
        bicubic_downscale_uint8(hr.astype(np.float32), 2)


def test_bicubic_upscale_shape() -> None:
    assert bicubic_upscale(_rng_image((5, 7), 1), 3).shape == (15, 21)


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


SET5_BICUBIC = [(4, 28.43, 0.8113), (2, 33.68, 0.9305)]  # Y-PSNR / SSIM, README protocol


@pytest.mark.parametrize(("scale", "psnr_ref", "ssim_ref"), SET5_BICUBIC)
def test_set5_bicubic_baseline(scale: int, psnr_ref: float, ssim_ref: float) -> None:
    folder = DATASETS / "bench" / "Set5"
    if not folder.is_dir():
        pytest.skip(f"benchmark data not found at {folder}")
    metrics = pytest.importorskip("bbcu_cli.metrics")
    psnrs, ssims = [], []
    for path in sorted(folder.glob("*.png")):
        hr = modcrop(_read_rgb(path), scale)
        lr = bicubic_downscale_uint8(hr, scale)
        sr = round_uint8(bicubic_upscale(lr / 255.0, scale) * 255.0)
        p, s = metrics.image_metrics(
            sr.astype(np.float32) / 255.0, hr.astype(np.float32) / 255.0, crop=scale, space="y"
        )
        psnrs.append(p)
        ssims.append(s)
    assert len(psnrs) == 5
    assert abs(np.mean(psnrs) - psnr_ref) < 0.01
    assert abs(np.mean(ssims) - ssim_ref) < 0.01


# --- noise and JPEG -------------------------------------------------------------------------


def test_gaussian_noise_is_seeded_and_unclipped() -> None:
    img = np.full((64, 64, 3), 0.5, dtype=np.float32)
    a = add_gaussian_noise(img, 25, seed=image_seed(7, 3))
    b = add_gaussian_noise(img, 25, seed=10)
    c = add_gaussian_noise(img, 25, seed=11)
    assert a.dtype == np.float32 and a.shape == img.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert abs(float((a - img).std()) - 25 / 255) < 0.005
    edge = add_gaussian_noise(np.zeros((32, 32)), 50, seed=0)
    assert edge.min() < 0.0


def test_image_seed() -> None:
    assert image_seed(0, 0) == 0 and image_seed(5, 2) == 7


def test_jpeg_gray_and_rgb_shapes_and_channel_order() -> None:
    gray = (_rng_image((24, 40)) * 255).astype(np.uint8)
    assert jpeg_compress(gray, 10).shape == (24, 40)
    assert jpeg_compress(gray[..., None], 10).shape == (24, 40, 1)
    red = np.zeros((32, 32, 3), dtype=np.uint8)
    red[..., 0] = 200
    out = jpeg_compress(red, 95)
    assert out.shape == red.shape and out.dtype == np.uint8
    assert out[..., 0].mean() > 190 and out[..., 2].mean() < 10


def test_jpeg_quality_orders_error() -> None:
    img = (_rng_image((48, 48, 3), 3) * 255).astype(np.uint8)
    err = [np.abs(jpeg_compress(img, q).astype(float) - img).mean() for q in (10, 50, 95)]
    assert err[0] > err[1] > err[2]
    with pytest.raises(ValueError):
        jpeg_compress(img.astype(np.float32), 10)
