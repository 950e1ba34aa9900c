"""Each item of a model with a clean variant says which of the two restored it: ``variant`` in
the ``--json`` items and a few words on the ok line (bbcu_cli.routing chooses per image)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from modelhelp import random_loaded
from PIL import Image as PILImage

from bbcu_cli.aliasing import AliasingDetector, detector_features
from bbcu_cli.batch.item import ItemResult, RestoreOptions, process_file
from bbcu_cli.batch.restore import restore_frames, restore_image
from bbcu_cli.cli.item_text import item_line, variant_text
from bbcu_cli.cli.report import emit_json
from bbcu_cli.engine.restore import Restorer
from bbcu_cli.imagefiles import Image, ImageSequence
from bbcu_cli.loading import ModelSpec
from bbcu_cli.routing import Route, Variant

SR = ModelSpec("bbcu-p", "sr", 4, 3, 8, 1, 130.0 * 8 / 64)  # type: ignore[arg-type]
DENOISE = ModelSpec("dncnn", "denoise", 1, 3, 8, 3, 7.3, noise_channel=True)
CLEAN_NOTE = "input looks cleanly downscaled: clean variant"
MIXED_NOTE = "frames restored by different variants"


def _detector(threshold: float) -> AliasingDetector:
    """All weights zero: probability 0.5 for every image of 32 pixels or more on a side."""
    n = len(detector_features(np.zeros((32, 32), np.uint8)))  # type: ignore[arg-type]
    return AliasingDetector(4, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, threshold)


def _restorer(threshold: float | None, spec: ModelSpec = SR) -> Restorer:
    """A tiny random model; with a route to another one unless ``threshold`` is None
    (0.6: every judged image goes to the clean variant, 0.4: to the model itself)."""
    model = random_loaded(spec, seed=1)
    if threshold is not None:
        model.route = Route((Variant("clean", random_loaded(spec, seed=2), "clean-x4", _detector(threshold)),))
    return Restorer(model, backend="float", device="cpu")


def _image(h: int = 40, w: int = 48, seed: int = 0) -> Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image(pixels, None, 8, "rgb", None)


@pytest.mark.parametrize(("threshold", "variant"), [(0.6, "clean"), (0.4, "robust"), (None, None)])
def test_restore_image_says_which_variant_ran(threshold: float | None, variant: str | None) -> None:
    done = restore_image(_restorer(threshold), _image())
    assert done.variant == variant
    assert done.image.pixels.shape == (160, 192, 3) and done.weight is None


def test_the_clean_variant_really_restored_what_is_reported_clean() -> None:
    clean_model = random_loaded(SR, seed=2)
    done = restore_image(_restorer(0.6), _image())
    plain = restore_image(Restorer(clean_model, backend="float", device="cpu"), _image())
    assert done.variant == "clean" and np.array_equal(done.image.pixels, plain.image.pixels)


def test_an_image_the_model_did_not_run_on_has_no_variant() -> None:
    """A clean input through a denoiser is kept as it is (weight 0): no variant, even right
    after an image that the clean variant restored."""
    restorer = _restorer(0.6, DENOISE)
    noisy = np.clip(128 + np.random.default_rng(0).normal(0, 25, (40, 40, 3)), 0, 255).astype(np.uint8)
    assert restore_image(restorer, Image(noisy, None, 8, "rgb", None)).variant == "clean"
    flat = restore_image(restorer, Image(np.full((40, 40, 3), 120, np.uint8), None, 8, "rgb", None))
    assert flat.weight == 0.0 and flat.variant is None


def _frames(*sizes: int) -> ImageSequence:
    return ImageSequence([_image(s, s, seed=i) for i, s in enumerate(sizes)], [100] * len(sizes))


def test_frames_are_mixed_only_when_their_variants_differ() -> None:
    """A frame under 32 pixels on a side cannot be judged: the model itself restores it."""
    restorer = _restorer(0.6)
    assert restore_frames(restorer, _frames(40, 40)).variant == "clean"
    assert restore_frames(restorer, _frames(20, 24)).variant == "robust"
    assert restore_frames(restorer, _frames(40, 20)).variant == "mixed"
    assert restore_frames(_restorer(None), _frames(40, 20)).variant is None


def _process(tmp_path: Path, threshold: float | None) -> ItemResult:
    src = tmp_path / "small.png"
    PILImage.fromarray(_image().pixels).save(src)
    result = process_file(_restorer(threshold), src, tmp_path / "out.png", opts=RestoreOptions(scale=4, overwrite=True))
    assert result.status == "ok", result.error
    return result


def test_an_item_carries_its_variant_into_json_and_the_ok_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _process(tmp_path, 0.6)
    assert result.variant == "clean" and result.to_json()["variant"] == "clean"
    assert item_line(result).plain.endswith(f"  {CLEAN_NOTE}")
    emit_json("upscale", "bbcu-p-x4", [result, _process(tmp_path, None)])
    items = json.loads(capsys.readouterr().out)["items"]
    assert [i["variant"] for i in items] == ["clean", None]


def test_the_ok_line_says_nothing_for_the_model_itself_or_no_route(tmp_path: Path) -> None:
    result = _process(tmp_path, 0.4)
    assert result.variant == "robust" and result.to_json()["variant"] == "robust"
    assert item_line(result).plain == f"ok {result.input} -> {result.output}  {result.seconds:.2f} s"


def test_variant_words() -> None:
    def line(**kw: object) -> str:
        return item_line(ItemResult("a.png", "b.png", "ok", seconds=0.5, **kw)).plain  # type: ignore[arg-type]

    assert line(variant="clean") == f"ok a.png -> b.png  0.50 s  {CLEAN_NOTE}"
    assert line(variant="mixed") == f"ok a.png -> b.png  0.50 s  {MIXED_NOTE}"
    assert line(variant="robust") == line() == "ok a.png -> b.png  0.50 s"
    both = line(sigma=2.0, weight=0.4, variant="clean")
    assert both == f"ok a.png -> b.png  0.50 s  sigma 2.0  change x0.40 (little noise)  {CLEAN_NOTE}"
    assert variant_text(ItemResult("a.png", None, "failed", error="x")) == ""
