"""Routing with two variants: the first whose detector takes the image restores it whole."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from modelhelp import random_loaded
from test_weights_support import entry_dict, payload

from bbcu_cli.aliasing import AliasingDetector, detector_features, measure
from bbcu_cli.engine.restore import Restorer
from bbcu_cli.errors import WeightsError
from bbcu_cli.loading import ModelSpec
from bbcu_cli.routing import Route, Variant
from bbcu_cli.weights import load_manifest

SPEC = ModelSpec("bbcu-p", "sr", 4, 3, 8, 1, 130.0 * 8 / 64)  # type: ignore[arg-type]
IMG = np.random.default_rng(0).random((40, 48, 3), dtype=np.float32)


def _detector(threshold: float) -> AliasingDetector:
    n = len(detector_features(np.zeros((32, 32), np.uint8)))  # type: ignore[arg-type]
    return AliasingDetector(4, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0, threshold)  # p = 0.5 for every image


def _routed(clean_threshold: float, alias_threshold: float) -> tuple[Restorer, dict[str, Restorer]]:
    robust, clean, alias = (random_loaded(SPEC, seed=s) for s in (1, 2, 3))
    robust.route = Route(
        (
            Variant("clean", clean, "clean-x4", _detector(clean_threshold)),
            Variant("alias", alias, "alias-x4", _detector(alias_threshold)),
        )
    )
    itself = random_loaded(SPEC, seed=1)  # the same weights, without the route
    pairs = (("robust", itself), ("clean", clean), ("alias", alias))
    alone = {k: Restorer(m, backend="float", device="cpu") for k, m in pairs}
    return Restorer(robust, backend="float", device="cpu"), alone


@pytest.mark.parametrize(
    ("clean_t", "alias_t", "chosen"),
    [(0.6, 0.6, "clean"), (0.4, 0.6, "alias"), (0.4, 0.4, "robust"), (0.6, 0.4, "clean")],
)
def test_the_first_variant_that_takes_the_image_restores_it(clean_t: float, alias_t: float, chosen: str) -> None:
    routed, alone = _routed(clean_t, alias_t)
    out = routed.restore(IMG, out_dtype=np.uint8)
    assert routed.last_choice is not None and routed.last_choice.variant == chosen
    assert np.array_equal(out, alone[chosen].restore(IMG, out_dtype=np.uint8))
    others = [k for k in alone if k != chosen]
    assert not any(np.array_equal(out, alone[k].restore(IMG, out_dtype=np.uint8)) for k in others)


def test_an_image_too_small_to_judge_stays_on_the_model_itself() -> None:
    routed, _ = _routed(0.6, 0.6)
    routed.restore(IMG[:20])
    assert routed.last_choice is not None and (routed.last_choice.variant, routed.last_choice.probability) == (
        "robust",
        None,
    )


def test_the_route_measures_each_image_once_for_all_its_detectors(monkeypatch: pytest.MonkeyPatch) -> None:
    from bbcu_cli import routing

    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(routing, "measure", lambda px: calls.append(px.shape) or measure(px))
    routed, _ = _routed(0.4, 0.4)
    routed.restore(IMG)
    assert calls == [IMG.shape]
    assert routed.loaded.route is not None and routed.loaded.route.variant("alias").name == "alias-x4"
    with pytest.raises(KeyError):
        Route(()).variant("clean")


ROBUST = entry_dict("robust-x4", payload(100), [], default=True)
CLEAN, ALIAS = entry_dict("clean-x4", payload(100, 1), []), entry_dict("alias-x4", payload(100, 2), [])


def _load(*entries: dict[str, Any]) -> Any:
    return load_manifest({"schema_version": 1, "models": list(entries)}, source="m.json")


def test_an_alias_variant_is_kept_beside_the_clean_one_in_the_order_they_are_asked() -> None:
    robust = {**copy.deepcopy(ROBUST), "alias_variant": "alias-x4", "clean_variant": "clean-x4"}
    entry = _load(robust, CLEAN, ALIAS).get("robust-x4")
    assert entry.variants() == {"clean": "clean-x4", "alias": "alias-x4"}
    assert list(entry.variants()) == ["clean", "alias"]


@pytest.mark.parametrize(
    ("robust", "others", "words"),
    [
        ({"alias_variant": "nope"}, (ALIAS,), "must name another sr x4 entry"),
        ({"alias_variant": "robust-x4"}, (), "must not name the entry itself"),
        ({"alias_variant": "alias-x4"}, ({**ALIAS, "clean_variant": "clean-x4"}, CLEAN), "without variants of its own"),
        ({"alias_variant": "alias-x4"}, ({**ALIAS, "scale": 2},), "must name another sr x4 entry"),
    ],
)
def test_bad_alias_variants_name_the_field(
    robust: dict[str, Any], others: tuple[dict[str, Any], ...], words: str
) -> None:
    with pytest.raises(WeightsError) as info:
        _load({**copy.deepcopy(ROBUST), **robust}, *others)
    assert words in info.value.message
    assert "'alias_variant'" in info.value.message or "alias_variant are only" in info.value.message
