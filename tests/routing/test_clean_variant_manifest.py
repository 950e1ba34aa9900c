"""Manifest: a ``clean_variant`` must name another sr entry of the same scale."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_weights_support import entry_dict, payload

from bbcu_cli.errors import WeightsError
from bbcu_cli.weights import load_manifest

ROBUST = entry_dict("robust-x4", payload(100), [], default=True)
CLEAN = entry_dict("clean-x4", payload(100, 1), [])


def _load(*entries: dict[str, Any]) -> None:
    load_manifest({"schema_version": 1, "models": list(entries)}, source="m.json")


def _robust(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(ROBUST), **changes}


def test_a_clean_variant_of_the_same_scale_is_accepted_and_kept() -> None:
    manifest = load_manifest({"schema_version": 1, "models": [_robust(clean_variant="clean-x4"), CLEAN]})
    assert manifest.get("robust-x4").clean_variant == "clean-x4"
    assert manifest.get("clean-x4").clean_variant is None


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ((_robust(clean_variant="nope"), CLEAN), "must name another sr x4 entry"),
        ((_robust(clean_variant="clean-x4"), {**CLEAN, "scale": 2}), "must name another sr x4 entry"),
        ((_robust(clean_variant="robust-x4"),), "must not name the entry itself"),
        ((_robust(clean_variant="clean-x4"), {**CLEAN, "clean_variant": "robust-x4"}), "without variants of its own"),
        ((_robust(clean_variant=4), CLEAN), "clean_variant"),
    ],
)
def test_bad_clean_variants_name_the_entry_and_field(entries: tuple[dict[str, Any], ...], words: str) -> None:
    with pytest.raises(WeightsError) as info:
        _load(*entries)
    assert "field 'clean_variant'" in info.value.message and words in info.value.message
    assert info.value.message.startswith("m.json: models[")
