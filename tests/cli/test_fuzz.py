"""Mutated PNG/JPEG/TIFF/BMP/WebP files and header bombs through ``denoise`` and ``upscale``,
as a folder and one by one: no traceback, no hang, one line per failure naming the file, every
valid file restored, every file known to be corrupt refused, no temporary files left.

The corpus comes from :mod:`fuzzgen` (seeded). The default suite runs a small corpus; the
``slow`` test runs 300+ files: ``python -m pytest -m slow tests/cli/test_fuzz.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from clihelp import run_cli
from conftest import FIXTURES
from fuzzgen import corpus
from PIL import Image as PILImage

DENOISE = ["denoise", "-m", FIXTURES / "denoise_f16_l6.pth", "--sigma", "10"]
UPSCALE = ["upscale", "-m", FIXTURES / "bbcum_x2_f16_b2.pth", "-s", "2"]
LIMIT = ["--max-pixels", "1000000"]


def _check_items(items: list[dict], labels: dict[str, str]) -> Counter[str]:
    """Assert the per-class rules; returns counts by (class, status)."""
    counts: Counter[str] = Counter()
    for item in items:
        name = Path(item["input"]).name
        label = labels[name]
        counts[f"{label}:{item['status']}"] += 1
        assert item["status"] in ("ok", "failed"), item
        if item["status"] == "failed":
            assert label != "valid", item
            assert name in item["error"] and "\n" not in item["error"], item
            assert not Path(item["output"]).exists()
        else:
            assert label != "corrupt", item
            with PILImage.open(item["output"]) as out:
                out.load()  # complete, decodable output
    return counts


def _no_leftovers(out: Path) -> None:
    left = [p.name for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")] if out.exists() else []
    assert left == []


def _folder_run(
    capsys: pytest.CaptureFixture[str], command: list[object], folder: Path, out: Path, labels: dict[str, str]
) -> Counter[str]:
    res = run_cli(capsys, *command[:1], folder, *command[1:], "-o", out, "--json", *LIMIT)
    assert res.code == 1, res.err
    assert "Traceback" not in res.err and "internal error" not in res.err
    items = json.loads(res.out)["items"]
    assert sorted(Path(i["input"]).name for i in items) == sorted(labels)
    _no_leftovers(out)
    return _check_items(items, labels)


def _single_runs(
    capsys: pytest.CaptureFixture[str], command: list[object], folder: Path, out: Path, labels: dict[str, str]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    out.mkdir()
    for name in sorted(labels):
        res = run_cli(capsys, *command[:1], folder / name, *command[1:], "-o", out / f"{name}.png", "--json", *LIMIT)
        assert res.code in (0, 1), res.err
        assert "Traceback" not in res.err and "internal error" not in res.err
        counts += _check_items(json.loads(res.out)["items"], labels)
    _no_leftovers(out)
    return counts


def _corpus(tmp_path: Path, per_seed: int) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "in"
    folder.mkdir()
    return folder, corpus(folder, per_seed)


@pytest.mark.timeout(240)
def test_fuzz_small(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder, labels = _corpus(tmp_path, per_seed=2)
    assert len(labels) >= 30
    counts = _folder_run(capsys, DENOISE, folder, tmp_path / "out", labels)
    assert counts["valid:ok"] == sum(v == "valid" for v in labels.values())
    counts = _single_runs(
        capsys,
        UPSCALE,
        folder,
        tmp_path / "single",
        {k: v for k, v in labels.items() if k.startswith(("bomb_", "photo", "deep", "float"))},
    )
    assert counts["corrupt:failed"] >= 9


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("command", [DENOISE, UPSCALE], ids=["denoise", "upscale"])
def test_fuzz_full(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[object]) -> None:
    folder, labels = _corpus(tmp_path, per_seed=28)
    assert len(labels) >= 300
    folder_counts = _folder_run(capsys, command, folder, tmp_path / "out", labels)
    single_counts = _single_runs(capsys, command, folder, tmp_path / "single", labels)
    assert folder_counts == single_counts
    print(f"fuzz {command[0]}: {len(labels)} files, {dict(sorted(folder_counts.items()))}")
