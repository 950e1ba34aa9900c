"""The architecture registry (bbcu_cli.archs): families, detection round trips, extension."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Collection, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from bbcu_cli import archs
from bbcu_cli.archs import ArchFamily, ModelSpec
from bbcu_cli.engine.tiling import align_for, bytes_per_input_pixel, halo_for
from bbcu_cli.errors import ModelFormatError
from bbcu_cli.loading import build_model, recognise
from bbcu_cli.weights import manifest

REPO = Path(__file__).resolve().parents[2]
SPECS = [
    ModelSpec("bbcu-l", "sr", 2, 3, 8, 2, 16.25),
    ModelSpec("bbcu-l", "sr", 4, 3, 8, 1, 16.25),
    ModelSpec("bbcu-m", "sr", 3, 3, 8, 2, 16.25),
    ModelSpec("bbcu-m", "sr", 4, 1, 8, 1, 16.25),
    ModelSpec("bbcu-p", "sr", 4, 3, 8, 2, 16.25),
    ModelSpec("bbcu-p", "sr", 8, 1, 8, 1, 16.25),
    ModelSpec("dncnn", "denoise", 1, 3, 8, 4, 16.25, noise_channel=True),
    ModelSpec("dncnn", "deblock", 1, 1, 8, 3, 16.25, bias=True),
    ModelSpec("dncnn", "denoise", 1, 3, 8, 5, 16.25, unshuffle=2),
]


def test_every_family_is_registered() -> None:
    assert archs.names() == ("bbcu-l", "bbcu-m", "bbcu-p", "dncnn")
    assert all(isinstance(f, ArchFamily) and archs.family(f.name) is f for f in archs.families())
    assert archs.archs_for_task("sr") == ("bbcu-m", "bbcu-l", "bbcu-p")
    assert archs.archs_for_task("denoise") == archs.archs_for_task("deblock") == ("dncnn",)
    assert archs.default_arch("sr") == "bbcu-m" and archs.default_arch("deblock") == "dncnn"
    assert archs.archs_for_task("inpaint") == () and archs.find("nope") is None
    with pytest.raises(ModelFormatError, match="unknown architecture 'nope'"):
        archs.family("nope")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.arch}-{s.task}-x{s.scale}-c{s.in_channels}-u{s.unshuffle}")
def test_detection_round_trips(spec: ModelSpec) -> None:
    sd = build_model(spec).state_dict()
    fam = archs.detect(sd)
    assert fam is not None and fam.name == spec.arch
    assert archs.recognise(sd, k=spec.k, task=spec.task) == spec
    assert recognise(sd, k=spec.k, task=spec.task) == spec


def test_detection_patterns_do_not_overlap() -> None:
    for spec in SPECS:
        keys = frozenset(build_model(spec).state_dict())
        assert [f.name for f in archs.families() if f.matches(keys)] == [spec.arch]


def test_family_figures_drive_the_tiler() -> None:
    for spec in SPECS:
        fam = archs.family(spec.arch)
        assert halo_for(spec) == fam.halo(spec) > 0
        assert align_for(spec) == fam.align(spec) >= 1 and halo_for(spec) % align_for(spec) == 0
        assert bytes_per_input_pixel(spec) == fam.bytes_per_pixel(spec) > 0
        assert fam.packed is not None and fam.packed.units(build_model(spec))


def test_manifest_arch_names_come_from_the_registry() -> None:
    assert tuple(manifest.ARCHS) == archs.names()


def test_describe_uses_the_family() -> None:
    assert SPECS[2].describe() == "BBCU-M x3, 8 ch, 2 blocks"
    assert SPECS[6].describe() == "binary DnCNN denoise, 3-ch, 8 feat, 4 layers, noise-level input"


# ---------------------------------------------------------------- a family added at run time


class _Plain(nn.Module):
    """A toy family's network: one 3x3 conv (``plain.weight``)."""

    def __init__(self, channels: int, num_feat: int) -> None:
        super().__init__()
        self.plain = nn.Conv2d(channels, num_feat, 3, 1, 1)


def _plain_matches(keys: Collection[str]) -> bool:
    return "plain.weight" in keys


def _plain_recognise(sd: archs.registry.StateDict, k: float | None, task: str | None) -> ModelSpec:
    out, cin = sd["plain.weight"].shape[:2]
    return ModelSpec("plain", "denoise", 1, int(cin), int(out), 1, 1.0 if k is None else k)


PLAIN = ArchFamily(
    name="plain",
    title="Plain",
    tasks=("denoise",),
    scales=(1,),
    depth_unit="layers",
    keys="(plain.weight)",
    matches=_plain_matches,
    recognise=_plain_recognise,
    build=lambda spec: _Plain(spec.in_channels, spec.num_feat),
    describe=lambda spec: f"plain {spec.num_feat}",
    halo=lambda spec: 1,
    bytes_per_pixel=lambda spec: 4 * spec.num_feat,
)


@pytest.fixture
def plain_family() -> Iterator[ArchFamily]:
    archs.register(PLAIN)
    try:
        yield PLAIN
    finally:
        archs.unregister("plain")


def test_a_registered_family_is_detected_and_unregistered(plain_family: ArchFamily) -> None:
    sd = _Plain(3, 5).state_dict()
    assert archs.detect(sd) is plain_family
    spec = recognise(sd)
    assert spec == ModelSpec("plain", "denoise", 1, 3, 5, 1, 1.0) and spec.describe() == "plain 5"
    assert "plain" in archs.names() and "plain" in archs.archs_for_task("denoise")
    assert isinstance(build_model(spec), _Plain) and halo_for(spec) == 1 and align_for(spec) == 1
    with pytest.raises(ValueError, match="already registered"):
        archs.register(PLAIN)
    archs.unregister("plain")
    with pytest.raises(ModelFormatError, match="unrecognised checkpoint"):
        recognise(sd)
    archs.register(PLAIN)  # for the fixture's unregister


def test_unrecognised_keys_name_every_family(plain_family: ArchFamily) -> None:
    with pytest.raises(ModelFormatError) as info:
        recognise({"foo.weight": torch.zeros(1, 1, 3, 3)})
    assert info.value.hint.startswith("expected BBCU-L/BBCU-M keys")
    for title in ("BBCU-P", "DnCNN", "Plain keys (plain.weight)"):
        assert title in info.value.hint


def test_a_family_without_packed_layout_stays_on_the_float_path(plain_family: ArchFamily) -> None:
    from bbcu_cli.engine.packed_plan import check_exact
    from bbcu_cli.loading import LoadedModel

    spec = _plain_recognise(_Plain(3, 4).state_dict(), None, None)
    ok, why = check_exact(LoadedModel(build_model(spec), spec, "test"))
    assert not ok and "no packed plan" in why


def test_checks_follow_the_family() -> None:
    from bbcu_cli.checkpoint_checks import check_spec

    dn = SPECS[6]
    with pytest.raises(ModelFormatError, match="a DnCNN needs at least 3 layers"):
        check_spec(replace(dn, depth=2), "f")
    with pytest.raises(ModelFormatError, match="only valid for dncnn"):
        check_spec(replace(SPECS[0], unshuffle=2), "f")
    with pytest.raises(ModelFormatError, match="scale 8 is not supported by bbcu-m"):
        check_spec(replace(SPECS[2], scale=8), "f")
    check_spec(SPECS[5], "f")  # bbcu-p x8


def test_registry_imports_without_torch() -> None:
    code = (
        "import sys\n"
        "from bbcu_cli import archs\n"
        "from bbcu_cli.weights import manifest\n"
        "assert archs.names() == manifest.ARCHS and archs.default_arch('sr') == 'bbcu-m'\n"
        "assert archs.family('dncnn').halo(archs.ModelSpec('dncnn', 'denoise', 1, 3, 8, 4, 1.0)) == 5\n"
        "assert 'torch' not in sys.modules, 'the registry imported torch'\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr[-2000:]
