"""The bundled default models: present, verified, and behaving as a user expects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bbcu_cli import get_model, restore_array
from bbcu_cli.degrade import add_gaussian_noise, bicubic_downscale_uint8, jpeg_compress
from bbcu_cli.imagefiles import read_image
from bbcu_cli.metrics import image_metrics
from bbcu_cli.noise_estimate import estimate_sigma
from bbcu_cli.weights.cache import get_manifest, verify

CLEAN = Path(__file__).resolve().parents[1] / "data" / "clean_crop.png"


def _clean() -> np.ndarray:
    return (read_image(CLEAN).pixels * 255).round().astype(np.uint8)


def _psnr(out: np.ndarray, ref: np.ndarray, space: str = "rgb", crop: int = 0) -> float:
    q = np.clip(np.rint(out * 255), 0, 255) / 255.0
    return image_metrics(q.astype(np.float32), ref.astype(np.float32) / 255.0, crop=crop, space=space)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize("task,scale", [("sr", 2), ("sr", 3), ("sr", 4), ("denoise", 1), ("deblock", 1)])
def test_default_bundled_and_verified(task: str, scale: int) -> None:
    entry = get_manifest().default_for(task, scale if task == "sr" else None)
    assert entry is not None and entry.bundled
    ok, actual = verify(entry)
    assert ok, f"{entry.name}: sha256 {actual} != manifest {entry.sha256}"


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("degradation,margin", [("matlab", 0.3), ("cv2-cubic", -0.3)])
def test_sr_default_beats_bicubic(scale: int, degradation: str, margin: float) -> None:
    """Also on input shrunk without antialiasing (cv2-cubic), where the bicubic-only models fall 2.1-2.9 dB
    below bicubic on this 128x96 crop (bbcu-l-x4, bbcu-l-x2); the robust defaults stay within 0.3 dB of it
    here (x2 -0.25, x3 +0.51, x4 +0.22). The dataset results are in the model card.
    """
    from bbcu_cli.degradations import degrade_sr
    from bbcu_cli.degrade import bicubic_upscale

    hr = _clean()
    hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    lr = degrade_sr(hr, scale, degradation)
    ours = restore_array(get_model(task="sr", scale=scale), lr)
    base = bicubic_upscale(lr.astype(np.float32) / 255.0, scale)
    assert _psnr(ours, hr, "y", scale) > _psnr(base, hr, "y", scale) + margin


def test_upscale_x3_from_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from clihelp import run_cli

    lr = bicubic_downscale_uint8(_clean(), 3)
    src = tmp_path / "lr.png"
    from PIL import Image

    Image.fromarray(lr).save(src)
    res = run_cli(capsys, "upscale", src, "-s", "3", "-o", tmp_path / "out.png", "-q")
    assert res.code == 0, res.err
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (lr.shape[1] * 3, lr.shape[0] * 3)


def test_sigma_steers_the_denoiser() -> None:
    clean = _clean()
    noisy = add_gaussian_noise(clean / 255.0, 25, seed=0)
    model = get_model(task="denoise")
    scores = {s: _psnr(restore_array(model, noisy, sigma=s), clean) for s in (5, 25, 70)}
    assert scores[25] > scores[5] and scores[25] > scores[70]
    assert scores[25] > _psnr(noisy, clean) + 5
    assert abs(estimate_sigma(noisy) - 25) < 0.2 * 25


def test_deblock_default_improves_jpeg() -> None:
    clean = _clean()
    jpeg = jpeg_compress(clean, 10)
    out = restore_array(get_model(task="deblock"), jpeg)
    assert _psnr(out, clean) > _psnr(jpeg / 255.0, clean) + 0.2
