"""Named SR degradations (bbcu eval --degradation) and the mixed training degradation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from clihelp import run_cli
from PIL import Image

from bbcu_cli.degradations import EVAL_DEGRADATIONS, SR_DEGRADATIONS, MixedDegradation, degrade_sr, downscale
from bbcu_cli.degrade import bicubic_downscale_uint8, jpeg_compress
from bbcu_cli.errors import UsageError
from bbcu_cli.evaluate import EvalConfig, make_degraded


def _image(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 4 + 1, w // 4 + 1, 3)).repeat(4, 0).repeat(4, 1)[:h, :w]
    return np.clip(coarse * 220 + rng.random((h, w, 3)) * 35, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(SR_DEGRADATIONS))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_degradation_gives_the_lr_size(name: str, scale: int) -> None:
    hr = _image(12 * scale, 10 * scale)
    lr = degrade_sr(hr, scale, name, seed=3)
    assert lr.shape == (12, 10, 3) and lr.dtype == np.uint8


def test_degradations_are_what_they_say() -> None:
    hr = _image()
    assert np.array_equal(degrade_sr(hr, 4, "matlab"), bicubic_downscale_uint8(hr, 4))
    assert np.array_equal(degrade_sr(hr, 4, "cv2-cubic"), cv2.resize(hr, (16, 12), interpolation=cv2.INTER_CUBIC))
    assert np.array_equal(degrade_sr(hr, 4, "cv2-area"), cv2.resize(hr, (16, 12), interpolation=cv2.INTER_AREA))
    pil = np.asarray(Image.fromarray(hr).resize((16, 12), Image.BICUBIC))
    assert np.abs(degrade_sr(hr, 4, "pil").astype(int) - pil.astype(int)).max() <= 1
    assert np.array_equal(degrade_sr(hr, 4, "jpeg75"), jpeg_compress(bicubic_downscale_uint8(hr, 4), 75))
    noisy = degrade_sr(hr, 4, "noise5", seed=7).astype(float) - bicubic_downscale_uint8(hr, 4)
    assert 3.5 < noisy.std() < 6.5  # sigma 5 on the 0-255 scale, rounded
    assert np.array_equal(degrade_sr(hr, 4, "noise5", seed=7), degrade_sr(hr, 4, "noise5", seed=7))
    assert not np.array_equal(degrade_sr(hr, 4, "noise5", seed=7), degrade_sr(hr, 4, "noise5", seed=8))


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade_sr(_image(), 4, "sharpen")
    with pytest.raises(ValueError, match="unknown downscaler"):
        downscale(_image(), 4, "box")
    with pytest.raises(UsageError, match="unknown degradation"):
        EvalConfig("sr", degradation="sharpen")
    with pytest.raises(UsageError, match="applies to task='sr'"):
        EvalConfig("denoise", degradation="jpeg75")


def test_eval_input_uses_the_degradation_with_the_image_seed() -> None:
    hr = _image()
    cfg = EvalConfig("sr", 4, degradation="noise5", seed=10)
    got = make_degraded(hr, cfg, index=2)
    assert np.array_equal(np.rint(got * 255).astype(np.uint8), degrade_sr(hr, 4, "noise5", seed=12))


def test_mixed_degradation_draws_every_step_and_is_reproducible() -> None:
    mix = MixedDegradation()
    hr = _image(64, 64)
    runs = [mix.apply(hr, 4, np.random.default_rng(s)) for s in range(200)]
    steps = " ".join(how for _, how in runs)
    for part in ["blur", "noise", "jpeg", *mix.weights]:
        assert part in steps, part
    assert all(lr.shape == (16, 16, 3) and lr.dtype == np.uint8 for lr, _ in runs)
    again = mix.apply(hr, 4, np.random.default_rng(5))
    assert np.array_equal(again[0], runs[5][0]) and again[1] == runs[5][1]
    with pytest.raises(ValueError, match="downscaler weights"):
        MixedDegradation(weights={"box": 1.0})
    with pytest.raises(ValueError, match="probabilities"):
        MixedDegradation(jpeg_p=1.5)


def test_mixed_training_patches(tmp_path: Path) -> None:
    """--degradation mixed: LR patches made per patch from the HR patch, aligned with it."""
    from bbcu_cli.train.config import TrainConfig
    from bbcu_cli.train.data import PatchSampler

    data = tmp_path / "train"
    data.mkdir()
    for i in range(3):  # smooth within a 4x4 block, varying across a few: every downscaler ~ box average
        coarse = np.random.default_rng(i).random((12, 14, 1)).repeat(3, axis=2).astype(np.float32)  # gray: JPEG chroma
        smooth = np.clip(cv2.resize(coarse, (112, 96), interpolation=cv2.INTER_CUBIC), 0, 1)
        Image.fromarray((smooth * 255).astype(np.uint8)).save(data / f"{i}.png")
    cfg = TrainConfig(
        task="sr", arch="bbcu-p", scale=4, patch=8, batch=6, iters=1, data=[str(data)], val="none", degradation="mixed"
    ).resolved()
    batch = PatchSampler(cfg, torch.Generator().manual_seed(0)).next_batch()
    assert batch.inp.shape == (6, 3, 8, 8) and batch.target.shape == (6, 3, 32, 32)
    # the LR patch is a degraded version of its HR patch: close to the HR patch's box average
    box = torch.nn.functional.avg_pool2d(batch.target, 4)
    assert float((batch.inp - box).abs().mean()) < 0.05
    shifted = torch.roll(box, 1, dims=3)
    assert float((batch.inp - shifted).abs().mean()) > 2 * float((batch.inp - box).abs().mean())
    with pytest.raises(UsageError, match="degradation"):
        TrainConfig(task="denoise", iters=1, degradation="mixed").resolved()


def test_eval_cli_all_degradations(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_image(48, 40, seed=i)).save(folder / f"im{i}.png")
    res = run_cli(capsys, "eval", folder, "-s", 4, "-m", "bicubic", "--degradation", "all", "--json")
    assert res.code == 0, res.err
    results = json.loads(res.out)["results"]
    assert [r["degradation"] for r in results] == list(EVAL_DEGRADATIONS)
    assert all(r["dataset"] == "set" and len(r["images"]) == 2 for r in results)
    one = run_cli(capsys, "eval", folder, "-s", 4, "-m", "bicubic", "--degradation", "cv2-area", "--json")
    assert json.loads(one.out)["psnr"] == pytest.approx(results[2]["psnr"])
    bad = run_cli(capsys, "eval", folder, "-s", 4, "-m", "bicubic", "--degradation", "blur9")
    assert bad.code == 2 and "unknown degradation" in bad.err


def test_downscaler_weights_are_configurable(tmp_path: Path) -> None:
    from bbcu_cli.cli.train_cmd import _weights
    from bbcu_cli.train.checkpoint import describe_data
    from bbcu_cli.train.config import TrainConfig

    assert _weights("matlab:0.2, cv2-cubic:0.8") == {"matlab": 0.2, "cv2-cubic": 0.8}
    for bad in ("matlab", "matlab:x"):
        with pytest.raises(UsageError, match="NAME:WEIGHT"):
            _weights(bad)
    cfg = TrainConfig(
        task="sr", iters=1, degradation="mixed", downscalers={"cv2-cubic": 1.0}, data=[str(tmp_path)]
    ).resolved()
    assert cfg.mixed_degradation().weights == {"cv2-cubic": 1.0}
    assert '"cv2-cubic":1.0' in describe_data(cfg, 3)
    for weights in ({"box": 1.0}, {"matlab": float("nan")}, {"matlab": float("inf")}, {"pil": 1.0, "matlab": -0.5}):
        with pytest.raises(UsageError, match="downscaler weights"):
            TrainConfig(task="sr", iters=1, degradation="mixed", downscalers=weights).resolved()
    with pytest.raises(UsageError, match="only applies"):
        TrainConfig(task="sr", iters=1, downscalers={"matlab": 1.0}).resolved()


def test_the_optional_steps_are_configurable(tmp_path: Path) -> None:
    from bbcu_cli.cli.train_cmd import _weights
    from bbcu_cli.train.checkpoint import describe_data
    from bbcu_cli.train.config import TrainConfig

    with pytest.raises(UsageError, match="--mix-extras: 'jpeg' is not NAME:P"):
        _weights("blur:0,jpeg", "--mix-extras", "blur:0")
    extras = {"blur": 0.0, "noise": 0.0, "jpeg": 0.0}
    base = dict(task="sr", iters=1, degradation="mixed", data=[str(tmp_path)])
    cfg = TrainConfig(**base, downscalers={"cv2-cubic": 1.0}, mix_extras=extras).resolved()  # type: ignore[arg-type]
    mix = cfg.mixed_degradation()
    assert (mix.blur_p, mix.noise_p, mix.jpeg_p, mix.weights) == (0.0, 0.0, 0.0, {"cv2-cubic": 1.0})
    assert '"noise_p":0.0' in describe_data(cfg, 3)
    only_noise = TrainConfig(**base, mix_extras={"noise": 1.0}).resolved().mixed_degradation()  # type: ignore[arg-type]
    assert (only_noise.noise_p, only_noise.jpeg_p) == (1.0, MixedDegradation().jpeg_p)
    assert only_noise.weights == MixedDegradation().weights
    rng = np.random.default_rng(0)
    assert MixedDegradation(weights={"cv2-cubic": 1.0}, blur_p=0, noise_p=0, jpeg_p=0).apply(_image(), 4, rng)[1] == (
        "cv2-cubic"
    )
    for bad, match in (({"zap": 1.0}, "unknown step zap"), ({"jpeg": 1.5}, "probabilities")):
        with pytest.raises(UsageError, match=match):
            TrainConfig(**base, mix_extras=bad).resolved()  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="mix.extras only applies"):
        TrainConfig(task="sr", iters=1, mix_extras={"blur": 0.0}).resolved()
