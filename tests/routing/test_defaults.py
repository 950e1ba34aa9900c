"""The bundled SR defaults restore cleanly downscaled inputs with their clean variants (unless --no-route)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from clihelp import run_cli
from modelhelp import mirrored_photo, textured_photo
from PIL import Image

from bbcu_cli.cli.models_cmd import _default_text
from bbcu_cli.degradations import EVAL_DEGRADATIONS, degrade_sr, downscale
from bbcu_cli.factory import resolve_model
from bbcu_cli.imagefiles import read_image
from bbcu_cli.weights import get_manifest


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_each_sr_default_names_a_bundled_clean_variant_and_loads_it(scale: int) -> None:
    default = get_manifest().default_for("sr", scale)
    assert default is not None and default.clean_variant is not None
    clean = get_manifest().get(default.clean_variant)
    assert clean.bundled and not clean.default and clean.scale == scale
    found = resolve_model(None, task="sr", scale=scale, offline=True, lite=True, route=True)
    assert found.model.route is not None and found.model.route.variant("clean").name == clean.name
    auto = resolve_model(None, task="sr", scale=scale, offline=True, lite=True, route=None)  # the CLI's default
    assert auto.model.route is not None and auto.model.route.variant("clean").name == clean.name
    assert resolve_model(None, task="sr", scale=scale, lite=True).model.route is None  # the library: off unless asked
    assert resolve_model(clean.name, task="sr", lite=True, route=True).model.route is None  # the variant alone


@pytest.mark.parametrize(
    ("model", "scale", "alias"),
    [
        (None, 2, "bbcu-alias-x2"),
        (None, 3, "bbcu-alias-x3"),
        (None, 4, "bbcu-alias-x4"),
        ("bbcu-fast-x4", 4, "bbcu-alias-fast-x4"),
    ],
)
def test_the_defaults_and_fast_tier_ask_their_alias_variant_after_the_clean_one(
    model: str | None, scale: int, alias: str
) -> None:
    entry = get_manifest().get(alias)
    assert entry.bundled and not entry.default and entry.scale == scale and not entry.variants()
    route = resolve_model(model, task="sr", scale=scale, offline=True, lite=True, route=None).model.route
    assert route is not None and [v.kind for v in route.variants] == ["clean", "alias"]
    assert route.variant("alias").name == alias


def test_upscale_routes_by_default_reports_the_variant_and_no_route_turns_it_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hr = textured_photo()
    Image.fromarray(downscale(hr, 4, "matlab")).save(tmp_path / "clean.png")
    Image.fromarray(downscale(hr, 4, "cv2-cubic")).save(tmp_path / "aliased.png")
    smooth = mirrored_photo()  # point sampled but mostly smooth: neither variant is sure to do better
    nearest = cv2.resize(smooth, (smooth.shape[1] // 4, smooth.shape[0] // 4), interpolation=cv2.INTER_NEAREST)
    Image.fromarray(nearest).save(tmp_path / "unsure.png")
    inputs = [tmp_path / n for n in ("clean.png", "aliased.png", "unsure.png")]
    out = run_cli(capsys, "upscale", *inputs, "-o", tmp_path / "o", "--json")
    assert out.code == 0, out.err
    variants = {Path(i["input"]).name: i["variant"] for i in json.loads(out.out)["items"]}
    assert variants == {"clean.png": "clean", "aliased.png": "alias", "unsure.png": "robust"}
    out = run_cli(capsys, "upscale", *inputs, "-o", tmp_path / "o", "--overwrite")
    assert "input looks cleanly downscaled: clean variant" in out.err
    assert "input looks aliased: alias variant" in out.err
    assert (
        "looked cleanly downscaled (restored with the clean variant): 1 of 3; "
        "looked aliased (restored with the alias variant): 1 of 3" in out.err
    )
    out = run_cli(capsys, "upscale", tmp_path / "clean.png", "-o", f"{tmp_path / 'p'}/", "--json", "--no-route")
    assert out.code == 0 and json.loads(out.out)["items"][0]["variant"] is None
    same = read_image(tmp_path / "o" / "clean_x4.png", raw=True).pixels
    alone = read_image(tmp_path / "p" / "clean_x4.png", raw=True).pixels
    assert same.shape == alone.shape and not np.array_equal(same, alone)


def test_eval_counts_the_images_the_clean_variant_restored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hr").mkdir()
    Image.fromarray(textured_photo()).save(tmp_path / "hr" / "photo.png")
    out = run_cli(capsys, "eval", tmp_path / "hr", "-s", "4", "--degradation", "all", "--json")
    assert out.code == 0, out.err
    routed = {r["degradation"]: r["clean_variant_images"] for r in json.loads(out.out)["results"]}
    assert routed["matlab"] == [1, 1] and set(routed) == set(EVAL_DEGRADATIONS)
    aliased = {r["degradation"]: r["alias_variant_images"] for r in json.loads(out.out)["results"]}
    assert aliased["matlab"] == [0, 1] and aliased["cv2-cubic"] == [1, 1]
    alone = run_cli(capsys, "eval", tmp_path / "hr", "-s", "4", "--json", "--no-route")
    assert alone.code == 0 and "clean_variant_images" not in json.loads(alone.out)
    assert json.loads(alone.out)["psnr"] < _routed_psnr(out.out, "matlab")


def _routed_psnr(text: str, degradation: str) -> float:
    return next(r["psnr"] for r in json.loads(text)["results"] if r["degradation"] == degradation)


def test_route_on_a_model_without_a_clean_variant_warns_and_runs_it_alone(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="bbcu_cli"):
        found = resolve_model("bbcu-l-x4", task="sr", lite=True, route=None)
    assert found.model.route is None and "no clean variant" not in caplog.text  # the default: silent
    with caplog.at_level("WARNING", logger="bbcu_cli"):
        found = resolve_model("bbcu-l-x4", task="sr", lite=True, route=True)
    assert found.model.route is None
    assert "bbcu-l-x4 has no clean variant" in caplog.text


def test_models_lists_the_clean_variant_of_defaults_and_of_the_fast_tier(capsys: pytest.CaptureFixture[str]) -> None:
    listed = {m["name"]: m for m in json.loads(run_cli(capsys, "models", "--json").out)["models"]}
    assert listed["bbcu-fast-x4"]["clean_variant"] == "bbcu-fast-clean-x4" and not listed["bbcu-fast-x4"]["default"]
    assert listed["bbcu-p-x4"]["clean_variant"] == "bbcu-clean-x4" and listed["bbcu-p-x4"]["default"]
    assert listed["bbcu-p-x4"]["alias_variant"] == "bbcu-alias-x4"
    assert _default_text(listed["bbcu-p-x4"]) == "yes, + bbcu-clean-x4, + bbcu-alias-x4"
    assert _default_text(listed["bbcu-fast-x4"]) == "+ bbcu-fast-clean-x4, + bbcu-alias-fast-x4"
    assert _default_text(listed["bbcu-p-x3"]) == "yes, + bbcu-clean-x3, + bbcu-alias-x3"
    assert _default_text(listed["bbcu-l-x4"]) == ""


def test_variants_are_loaded_only_when_an_input_goes_to_them() -> None:
    from bbcu_cli.engine.restore import Restorer

    found = resolve_model(None, task="sr", scale=4, offline=True, lite=True, route=None)
    route = found.model.route
    assert route is not None and all(v.model is None for v in route.variants)
    restorer = Restorer(found.model, backend="packed", device="cpu", threads=1)
    restorer.restore(downscale(textured_photo(), 4, "cv2-cubic"))
    assert route.variant("alias").model is not None and route.variant("clean").model is None
    loaded = route.variant("alias").model
    restorer.restore(downscale(textured_photo(), 4, "cv2-cubic"))
    assert route.variant("alias").model is loaded  # loaded once


@pytest.mark.parametrize("scale", [2, 3])
def test_the_fast_tier_asks_the_clean_detector_first_without_a_clean_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scale: int
) -> None:
    """bbcu-fast-x2 / -x3 have an alias variant but no clean one: the clean detector still holds
    the inputs it takes back on the model (the alias detector was fitted on what it leaves), so
    every input goes where the default sends it, the clean variant read as the model itself."""
    name = f"bbcu-fast-x{scale}"
    fast = resolve_model(name, task="sr", scale=scale, offline=True, lite=True, route=None).model.route
    assert fast is not None and [v.kind for v in fast.variants] == ["alias"] and len(fast.gates) == 1
    assert fast.variant("alias").name == f"bbcu-alias-fast-x{scale}"
    default = resolve_model(None, task="sr", scale=scale, offline=True, lite=True, route=None).model.route
    assert default is not None
    # at x3 the whole textured crop made small with cv2-cubic stays on the model (P 0.88 against
    # the alias threshold 0.36); its top half (the books) goes to the alias variant (P 0.15)
    aliased = textured_photo()[:96] if scale == 3 else textured_photo()
    kinds = []
    for hr in (textured_photo(), mirrored_photo(), aliased):
        for way in ("matlab", "cv2-cubic", "cv2-area", "jpeg75"):
            lr = degrade_sr(hr, scale, way)
            want = default.choose(lr).variant
            kinds.append(want)
            assert fast.choose(lr).variant == ("robust" if want == "clean" else want), way
    assert {"clean", "alias"} <= set(kinds), kinds  # both detectors decided something here
    Image.fromarray(downscale(np.ascontiguousarray(aliased), scale, "cv2-cubic")).save(tmp_path / "aliased.png")
    out = run_cli(
        capsys, "upscale", tmp_path / "aliased.png", "-m", name, "-s", scale, "-o", tmp_path / "o.png", "--json"
    )
    assert out.code == 0, out.err
    assert [i["variant"] for i in json.loads(out.out)["items"]] == ["alias"]


def test_a_routed_variant_runs_its_own_entrys_copies() -> None:
    """The variants are resolved by name: each carries its own entry's ``copies``; a Restorer
    without ``copies`` runs each model's own, one with ``copies`` runs that on every model."""
    from bbcu_cli.engine.restore import Restorer

    found = resolve_model(None, task="sr", scale=4, offline=True, lite=True, route=None)
    route = found.model.route
    assert route is not None and route.variant("alias").loaded().copies == 2
    found.model.copies = 1  # the robust model alone: the variant must keep its own 2
    small = downscale(textured_photo(), 4, "cv2-cubic")
    restorer = Restorer(found.model, backend="packed", device="cpu", threads=1)
    restorer.restore(small)
    assert restorer.last_choice is not None and restorer.last_choice.variant == "alias"
    assert restorer.copies == 1 and restorer._variants["alias"].copies == 2
    told = Restorer(found.model, backend="packed", device="cpu", threads=1, copies=1)
    told.restore(small)
    assert told._variants["alias"].copies == 1
    x2 = resolve_model(None, task="sr", scale=2, offline=True, lite=True, route=None).model.route
    assert x2 is not None and all(v.loaded().copies == 1 for v in x2.variants)
