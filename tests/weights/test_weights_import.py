"""Import of official-format checkpoints, resolution of --model, manifest_entry_for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_weights_support import entry_dict, online, payload, register  # noqa: F401

from bbcu_cli.errors import ModelFormatError, WeightsError
from bbcu_cli.loading import load_model
from bbcu_cli.weights import get_manifest, import_checkpoint, manifest_entry_for, resolve
from bbcu_cli.weights.cache import sha256_file, status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official"
INFO: dict[str, dict] = json.loads((FIXTURES / "fixtures.json").read_text())


def _run(path: Path, name: str) -> np.ndarray:
    """Network output for the fixture input (Pillow RGB/L, /255), as (C, H, W)."""
    info = INFO[name]
    img = Image.open(FIXTURES / info["input"]).convert("RGB" if info["in_channels"] == 3 else "L")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    x = torch.from_numpy(arr if arr.ndim == 3 else arr[:, :, None]).permute(2, 0, 1)[None]
    with torch.no_grad():
        return load_model(path).model(x)[0].numpy()


@pytest.mark.parametrize("name", sorted(INFO))
def test_imported_fixture_reproduces_official_output(online: Path, name: str) -> None:
    info = INFO[name]
    entry = import_checkpoint(FIXTURES / info["checkpoint"], task=info["task"])
    assert entry.name.startswith("imported-") and entry.name.endswith(entry.sha256[:8])  # type: ignore[index]
    assert (entry.task, entry.scale, entry.arch.num_feat, entry.format) == (
        info["task"],
        info["scale"],
        info["num_feat"],
        "bbcu-safetensors",
    )
    resolved = resolve(entry.name, info["task"], info["scale"], offline=True)
    assert resolved.path == online / "weights" / entry.file
    assert sha256_file(resolved.path) == entry.sha256 and resolved.path.stat().st_size == entry.size
    assert resolved.path.stat().st_size < (FIXTURES / info["checkpoint"]).stat().st_size  # packed sign bits
    out = _run(resolved.path, name)
    expected = np.load(FIXTURES / info["expected_float"])
    assert out.shape == expected.shape == tuple(info["output_shape"])
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=0)
    assert status(get_manifest().get(entry.name)) == "cached"


def official_size_file(folder: Path, arch: str, scale: int, name: str) -> Path:
    """A random checkpoint in the official layout (``{"params": state_dict}``) of the official
    entry's size (64 features, 16 blocks), as the authors' files are."""
    import torch

    from bbcu_cli.loading import ModelSpec, build_model

    torch.manual_seed(0)
    model = build_model(ModelSpec(arch, "sr", scale, 3, 64, 16, 130.0))  # type: ignore[arg-type]
    path = folder / name
    torch.save({"params": model.state_dict()}, path)
    return path


def test_import_fills_in_the_official_manual_entry(online: Path, tmp_path: Path) -> None:
    assert status(get_manifest().get("bbcu-l-x4-official")) == "missing"  # on Google Drive, not fetched
    src = official_size_file(tmp_path, "bbcu-l", 4, "BBCULx4.pth")
    entry = import_checkpoint(src, name="bbcu-l-x4-official")
    merged = get_manifest().get("bbcu-l-x4-official")
    assert merged == entry and status(merged) == "cached" and not merged.manual
    assert merged.source_page and "drive.google.com" in merged.source_page  # metadata kept from the official entry
    assert "Imported from BBCULx4.pth" in merged.provenance.notes
    assert merged.drive is not None and merged.drive.sha256 == sha256_file(
        src
    )  # pinned: a later Drive download must match
    assert (merged.arch.num_feat, merged.arch.depth) == (64, 16)
    assert resolve("bbcu-l-x4-official", "sr", 4, offline=True).path.name == "bbcu-l-x4-official.safetensors"
    assert [m.name for m in get_manifest().models].count("bbcu-l-x4-official") == 1


def test_import_under_an_official_name_checks_width_and_depth(online: Path) -> None:
    """A 16-feature, 2-block file is not the 64 x 16 official model; under its own name it imports."""
    with pytest.raises(WeightsError) as info:
        import_checkpoint(FIXTURES / "bbcul_x4_f16_b2.pth", name="bbcu-l-x4-official")
    assert "16 features, depth 2" in info.value.message and "64 features, depth 16" in info.value.message
    assert "another --name" in info.value.hint_for_cli() and "--" not in info.value.hint
    assert status(get_manifest().get("bbcu-l-x4-official")) == "missing"
    entry = import_checkpoint(FIXTURES / "bbcul_x4_f16_b2.pth", name="my-small-bbcu-l")
    assert (entry.arch.num_feat, entry.arch.depth) == (16, 2)


def test_import_refuses_a_file_that_is_not_the_official_model(online: Path) -> None:
    with pytest.raises(WeightsError, match="bbcu-m sr x2") as info:
        import_checkpoint(FIXTURES / "bbcum_x2_f16_b2.pth", name="bbcu-l-x4-official")
    assert "BBCULx4.pth" in info.value.hint
    assert not (online / "weights").exists() or not any((online / "weights").glob("*.safetensors"))


def test_import_errors(online: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError):
        import_checkpoint(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFormatError):
        import_checkpoint(junk)
    with pytest.raises(WeightsError, match="field 'name'"):
        import_checkpoint(FIXTURES / "bbcum_x4_f16_b1.pth", name="Bad Name")
    assert [p.name for p in (online / "weights").iterdir() if not p.name.endswith(".lock")] == []


def test_import_with_k_and_name(online: Path) -> None:
    entry = import_checkpoint(FIXTURES / "bbcum_x4_f16_b1.pth", name="my-model", k=40.0)
    assert entry.name == "my-model" and entry.arch.k == 40.0
    assert load_model(resolve("my-model", "sr", 4).path).spec.k == 40.0
    with pytest.raises(WeightsError, match="'my-model' is already imported with other weights"):
        import_checkpoint(FIXTURES / "bbcum_x4_f16_b1.pth", name="my-model")
    assert get_manifest().get("my-model").arch.k == 40.0
    again = import_checkpoint(FIXTURES / "bbcum_x4_f16_b1.pth", name="my-model", replace=True)
    assert again.arch.k == 32.5 and get_manifest().get("my-model").arch.k == 32.5


def test_manifest_entry_for_describes_the_file(online: Path) -> None:
    entry = import_checkpoint(FIXTURES / "deblock_f16_l6.pth")
    path = online / "weights" / entry.file
    data = manifest_entry_for(
        path,
        "bbcu-deblock-tiny",
        "deblock",
        {"data": "DIV2K", "iterations": 10, "command": "bbcu train", "notes": ""},
        {"LIVE1_q10": {"psnr": 20.0}},
    )
    assert data["sha256"] == sha256_file(path) and data["size"] == path.stat().st_size and data["file"] == path.name
    assert data["arch"] == {
        "name": "dncnn",
        "num_feat": 16,
        "depth": 6,
        "k": 32.5,
        "in_channels": 1,
        "bias": True,
        "noise_channel": False,
        "unshuffle": 1,
    }
    assert (data["task"], data["scale"], data["bundled"], data["provenance"]["iterations"]) == ("deblock", 1, True, 10)
    with pytest.raises(WeightsError, match="provenance.colour"):
        manifest_entry_for(path, "x", "deblock", {"colour": 1}, {})


# ---------------------------------------------------------------- resolve


def test_resolve_existing_file_wins(online: Path) -> None:
    path = FIXTURES / "bbcum_x2_f16_b2.pth"
    resolved = resolve(str(path), "sr", 2)
    assert (resolved.path, resolved.entry, resolved.k) == (path, None, None)


def test_resolve_unknown_name_suggests_close_matches(online: Path) -> None:
    with pytest.raises(WeightsError) as info:
        resolve("bbcu-m-x4-oficial", "sr", 4)
    assert "bbcu-m-x4-official" in info.value.hint
    with pytest.raises(WeightsError, match="no such weights file"):
        resolve("missing/model.pth", "sr", 4)


def test_resolve_default_and_missing_default(online: Path) -> None:
    with pytest.raises(WeightsError) as info:
        resolve(None, "sr", 8)  # every shipped scale (2, 3, 4) has a default now
    assert "no default sr x8 model" in info.value.message
    assert "bbcu models" in info.value.hint
    data = payload(1000)
    register(online, entry_dict("tiny-x4", data, [], default=True))
    (online / "weights").mkdir()
    (online / "weights" / "tiny-x4.safetensors").write_bytes(data)
    resolved = resolve(None, "sr", 4, offline=True)
    assert resolved.name == "tiny-x4" and resolved.k == 32.5 and resolved.entry is not None


def test_resolve_rejects_a_model_for_another_task(online: Path) -> None:
    with pytest.raises(WeightsError, match="is for denoise, not sr x4"):
        resolve("bbcu-denoise-official", "sr", 4)
    with pytest.raises(WeightsError, match="is for sr x2, not sr x4"):
        resolve("bbcu-m-x2-official", "sr", 4)
