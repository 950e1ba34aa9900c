"""Manifest: schema validation (errors name entry and field), shipped entries, merging."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from test_weights_support import entry_dict, payload, register

from bbcu_cli.errors import WeightsError
from bbcu_cli.weights import get_manifest, load_manifest
from bbcu_cli.weights.cache import load_shipped_manifest, status

ROOT = Path(__file__).resolve().parents[2]
GOOD = entry_dict("bbcu-m-x4", payload(100), [])
_DROP = object()


def _manifest(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "models": list(entries)}


def _with(**changes: Any) -> dict[str, Any]:
    entry = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is _DROP:
            entry.pop(key)
        else:
            entry[key] = value
    return entry


def test_one_manifest_file_the_top_level_one_links_to_the_package_copy() -> None:
    top = ROOT / "weights_manifest.json"
    assert top.is_symlink() and top.resolve() == (ROOT / "bbcu_cli" / "weights_manifest.json").resolve()


def test_shipped_manifest_has_the_six_official_drive_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBCU_CACHE_DIR", str(tmp_path))
    manifest = load_shipped_manifest()
    official = {m.name: m for m in manifest.models if m.name.endswith("-official")}
    assert sorted(official) == sorted(
        [
            "bbcu-l-x2-official",
            "bbcu-l-x4-official",
            "bbcu-m-x2-official",
            "bbcu-m-x4-official",
            "bbcu-denoise-official",
            "bbcu-deblock-official",
        ]
    )
    files = {m.name: m.file for m in official.values()}
    assert files["bbcu-l-x4-official"] == "BBCULx4.pth" and files["bbcu-deblock-official"] == "BBCU-deblocking.pth"
    for entry in official.values():
        assert not entry.manual and entry.sha256 is None and entry.urls == () and entry.format == "official-pth"
        assert "drive.google.com" in (entry.source_page or "") and "github.com/Zj-BinXia/BBCU" in entry.provenance.notes
        assert entry.drive is not None and (entry.drive.folder, entry.drive.file, entry.drive.sha256) == (
            "1MRZejm6JqnQKRXnLCxZmryRCatWnk31g",
            entry.file,
            None,
        )
        assert status(entry) == "missing"  # fetched from Google Drive on first use
    assert official["bbcu-m-x4-official"].arch.k == 130.0 and official["bbcu-m-x4-official"].arch.depth == 16
    deblock, denoise = official["bbcu-deblock-official"], official["bbcu-denoise-official"]
    assert (deblock.arch.in_channels, deblock.arch.bias) == (1, True)
    assert (denoise.arch.in_channels, denoise.arch.bias, denoise.arch.depth) == (3, False, 20)
    assert "nb=20" in denoise.provenance.notes


def test_error_names_file_entry_and_field(tmp_path: Path) -> None:
    others = [entry_dict(f"m{i}", payload(10, i), []) for i in range(3)]
    bad = _with(sha256="abc")
    path = tmp_path / "weights_manifest.json"
    path.write_text(json.dumps(_manifest(*others, bad)))
    with pytest.raises(WeightsError) as info:
        load_manifest(path)
    assert (
        info.value.message == "weights_manifest.json: models[3] 'bbcu-m-x4': field 'sha256' must be 64 hex characters"
    )


@pytest.mark.parametrize(
    ("entry", "field", "words"),
    [
        (_with(file=_DROP), "file", "is missing"),
        (_with(colour="red"), "colour", "not a known field"),
        (_with(task="paint"), "task", "must be one of sr, denoise, deblock"),
        (_with(scale=0), "scale", "positive integer"),
        (_with(task="denoise"), "scale", "must be 1 for denoise"),
        (_with(arch={**GOOD["arch"], "num_feat": -4}), "arch.num_feat", "positive integer"),
        (_with(arch={**GOOD["arch"], "name": "dncnn"}), "arch.name", "dncnn for denoise/deblock"),
        (_with(arch={**GOOD["arch"], "bias": "no"}), "arch.bias", "true or false"),
        (_with(size=None), "size", "exactly when sha256"),
        (_with(sha256=None, size=None), "sha256", "manual official-pth"),
        (_with(urls=["ftp://x/y"]), "urls", "http(s):// or file://"),
        (_with(file="../evil.safetensors"), "file", "plain file name"),
        (_with(name="Bad Name"), "name", "lower-case"),
        (_with(provenance={"data": "x", "iterations": -1}), "provenance.iterations", "positive integer"),
        (_with(bundled=True, format="official-pth"), "format", "bundled"),
        (_with(copies=3), "copies", "must be 1, 2, 4 or 8 (self-ensemble copies; got 3)"),
        (_with(copies=True), "copies", "must be 1, 2, 4 or 8"),
        (_with(copies=2.0), "copies", "must be 1, 2, 4 or 8"),
    ],
)
def test_invalid_entries_are_rejected(entry: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(WeightsError) as info:
        load_manifest(_manifest(entry), source="test.json")
    message = info.value.message
    assert message.startswith("test.json: models[0]") and f"field '{field}'" in message and words in message


def test_duplicate_names_and_defaults_are_rejected() -> None:
    with pytest.raises(WeightsError, match=r"models\[1\] 'bbcu-m-x4': field 'name' is used by an earlier entry"):
        load_manifest(_manifest(GOOD, GOOD))
    a, b = _with(default=True), _with(name="other", file="other.safetensors", default=True)
    with pytest.raises(
        WeightsError, match=r"models\[1\] 'other': field 'default' is already set for another sr x4 entry"
    ):
        load_manifest(_manifest(a, b))
    load_manifest(_manifest(a, _with(name="x2", file="x2.safetensors", scale=2, default=True)))


def test_schema_version_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="schema_version"):
        load_manifest({"schema_version": 2, "models": []})
    bad = tmp_path / "models.json"
    bad.write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read"):
        load_manifest(bad)


def test_lookups_and_user_manifest_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBCU_CACHE_DIR", str(tmp_path))
    manifest = load_manifest(_manifest(_with(default=True), _with(name="x2", file="x2.safetensors", scale=2)))
    assert manifest.get("x2").scale == 2 and manifest.find("nope") is None
    assert manifest.default_for("sr", 4).name == "bbcu-m-x4"  # type: ignore[union-attr]
    assert manifest.default_for("sr", 2) is None
    with pytest.raises(WeightsError, match="unknown model 'nope'"):
        manifest.get("nope")
    override = load_manifest(
        _manifest(
            _with(name="x2", file="x2.safetensors", scale=2, description="mine"),
            _with(name="new", file="n.safetensors", default=True),
        )
    )
    merged = manifest.merged(override)
    assert merged.names() == ["bbcu-m-x4", "x2", "new"]
    assert merged.get("x2").description == "mine"
    assert merged.default_for("sr", 4).name == "new"  # type: ignore[union-attr]
    register(tmp_path, _with(name="bbcu-l-x4-official", description="local"))
    assert get_manifest().get("bbcu-l-x4-official").description == "local"
    assert len(get_manifest().models) == len(load_shipped_manifest().models)


def test_invalid_user_manifest_names_its_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBCU_CACHE_DIR", str(tmp_path))
    register(tmp_path, _with(sha256="0" * 63))
    with pytest.raises(WeightsError) as info:
        get_manifest()
    assert str(tmp_path / "models.json") in info.value.message and "field 'sha256'" in info.value.message


def test_copies_default_to_one_and_the_x4_default_and_its_variants_take_two() -> None:
    from bbcu_cli.engine.ensemble import COPY_COUNTS
    from bbcu_cli.weights.manifest_rules import COPY_COUNTS as MANIFEST_COUNTS

    assert MANIFEST_COUNTS == COPY_COUNTS
    assert load_manifest(_manifest(GOOD)).get("bbcu-m-x4").copies == 1
    assert load_manifest(_manifest(_with(copies=4))).get("bbcu-m-x4").copies == 4
    two = {e.name for e in load_shipped_manifest().models if e.copies == 2}
    assert two == {"bbcu-p-x4", "bbcu-clean-x4", "bbcu-alias-x4"}
    assert all(e.copies in (1, 2) for e in load_shipped_manifest().models)
