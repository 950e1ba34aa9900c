"""``bbcu weights ...`` and ``bbcu models`` through the real entry point (errors -> exit codes)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from clihelp import run_cli
from test_weights_import import official_size_file
from test_weights_support import (  # noqa: F401
    NoDrive,
    WeightsServer,
    entry_dict,
    leftovers,
    online,
    payload,
    register,
    server,
)

from bbcu_cli.weights import cache as cache_mod
from bbcu_cli.weights.cache import get_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official"
DATA = payload(50_000, seed=7)
SHA = hashlib.sha256(DATA).hexdigest()


def _setup(cache: Path, srv: WeightsServer, *actions: str) -> Path:
    register(cache, entry_dict("tiny-x4", DATA, [srv.add("tiny-x4.safetensors", DATA, *actions)]))
    return cache / "weights" / "tiny-x4.safetensors"


def test_download_path_verify_rm(capsys: pytest.CaptureFixture[str], online: Path, server: WeightsServer) -> None:
    target = _setup(online, server)
    res = run_cli(capsys, "weights", "download", "tiny-x4", "--quiet")
    assert res.code == 0 and f"tiny-x4\t{target}" in res.out.splitlines()  # plus the bundled models
    assert hashlib.sha256(target.read_bytes()).hexdigest() == SHA
    assert run_cli(capsys, "weights", "path", "tiny-x4").out.strip() == str(target)
    res = run_cli(capsys, "weights", "verify")
    assert res.code == 0 and "tiny-x4" in res.out and "ok" in res.out
    res = run_cli(capsys, "weights", "rm", "tiny-x4")
    assert res.code == 0 and "removed" in res.out and not target.exists()
    res = run_cli(capsys, "weights", "path", "tiny-x4")
    assert res.code == 1 and "not available locally" in res.err and "bbcu weights download tiny-x4" in res.err


def test_corrupt_download_exits_1(capsys: pytest.CaptureFixture[str], online: Path, server: WeightsServer) -> None:
    _setup(online, server, "corrupt")
    res = run_cli(capsys, "weights", "download", "tiny-x4")
    assert res.code == 1
    assert "sha256 mismatch" in res.err and SHA in res.err
    assert leftovers(online) == []


def test_verify_detects_a_changed_cached_file(
    capsys: pytest.CaptureFixture[str], online: Path, server: WeightsServer
) -> None:
    target = _setup(online, server)
    assert run_cli(capsys, "weights", "download", "tiny-x4", "-q").code == 0
    target.write_bytes(DATA[:-1] + b"\0")
    res = run_cli(capsys, "weights", "verify", "tiny-x4")
    assert res.code == 1 and "MISMATCH" in res.out and "failed verification: tiny-x4" in res.err


def test_offline_download_fails_without_requests(
    capsys: pytest.CaptureFixture[str], online: Path, server: WeightsServer
) -> None:
    _setup(online, server)
    res = run_cli(capsys, "weights", "download", "tiny-x4", "--offline")
    assert res.code == 1 and "offline" in res.err and "bbcu weights download tiny-x4" in res.err
    assert server.requests == []


def test_drive_entry_download_explains_the_manual_step(
    capsys: pytest.CaptureFixture[str], online: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drive refusing the file (here a permission error) ends with the manual fallback."""
    from bbcu_cli.weights import drive

    monkeypatch.setattr(drive, "_client", NoDrive(PermissionError("403 Forbidden")))
    res = run_cli(capsys, "weights", "download", "bbcu-deblock-official")
    assert res.code == 1
    assert (
        "drive.google.com" in res.err
        and "bbcu weights import BBCU-deblocking.pth --name bbcu-deblock-official --task deblock" in res.err
    )


def test_download_all_skips_manual_and_drive_entries(
    capsys: pytest.CaptureFixture[str], online: Path, server: WeightsServer
) -> None:
    target = _setup(online, server)
    res = run_cli(capsys, "weights", "download", "--all")
    assert res.code == 0 and f"tiny-x4\t{target}" in res.out.splitlines()  # plus the bundled models
    assert "skipped" in res.err and "bbcu-l-x4-official" in res.err
    assert run_cli(capsys, "weights", "download").code == 2  # neither names nor --all


def test_import_then_models_and_rm_unregisters(
    capsys: pytest.CaptureFixture[str], online: Path, tmp_path: Path
) -> None:
    src = official_size_file(tmp_path, "bbcu-m", 4, "BBCUMx4.pth")
    res = run_cli(capsys, "weights", "import", src, "--name", "bbcu-m-x4-official")
    assert res.code == 0 and "as 'bbcu-m-x4-official'" in res.out
    res = run_cli(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(res.out)["models"]}
    assert rows["bbcu-m-x4-official"]["status"] == "cached" and rows["bbcu-m-x4-official"]["size"] > 0
    assert rows["bbcu-l-x4-official"]["status"] == "missing"  # downloadable from Google Drive
    table = run_cli(capsys, "models").out
    assert "bbcu-m-x4-official" in table and "cached" in table and "missing" in table
    rm = run_cli(capsys, "weights", "rm", "bbcu-m-x4-official").out.strip()
    assert rm == "bbcu-m-x4-official: removed (sha256 of BBCUMx4.pth kept; --unpin forgets it)"  # the import pinned it
    assert (
        run_cli(capsys, "weights", "rm", "--unpin", "bbcu-m-x4-official").out.strip()
        == "bbcu-m-x4-official: unregistered"
    )
    rows = {r["name"]: r for r in json.loads(run_cli(capsys, "models", "--json").out)["models"]}
    assert rows["bbcu-m-x4-official"]["status"] == "missing"
    assert run_cli(capsys, "weights", "import", FIXTURES / "bbcum_x4_f16_b1.pth", "--task", "paint").code == 2


def test_bundled_files_are_used_and_not_removable(
    capsys: pytest.CaptureFixture[str], online: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "tiny-x4.safetensors").write_bytes(DATA)
    monkeypatch.setattr(cache_mod, "bundled_dir", lambda: bundled)
    register(online, entry_dict("tiny-x4", DATA, [], bundled=True, default=True))
    assert run_cli(capsys, "weights", "path", "tiny-x4").out.strip() == str(bundled / "tiny-x4.safetensors")
    res = run_cli(capsys, "weights", "rm", "tiny-x4")
    assert res.code == 1 and "not removable" in res.err and (bundled / "tiny-x4.safetensors").exists()
    res = run_cli(capsys, "weights", "verify")
    assert res.code == 0 and "bundled" in res.out


def test_mirror_serves_another_cache(
    capsys: pytest.CaptureFixture[str],
    online: Path,
    server: WeightsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _setup(online, server)
    assert run_cli(capsys, "weights", "download", "tiny-x4", "-q").code == 0
    assert run_cli(capsys, "weights", "import", FIXTURES / "denoise_f16_l6.pth", "--name", "tiny-denoise").code == 0
    mirror = tmp_path / "mirror"
    res = run_cli(capsys, "weights", "mirror", mirror)
    bundled = [e for e in get_manifest().models if e.bundled]
    assert res.code == 0 and f"{len(bundled) + 2} model(s)" in res.out
    listed = json.loads((mirror / "weights_manifest.json").read_text())["models"]
    assert sorted(m["name"] for m in listed) == sorted(["tiny-denoise", "tiny-x4"] + [e.name for e in bundled])
    files = sorted(p.name for p in mirror.iterdir())
    assert files == sorted(
        ["tiny-denoise.safetensors", "tiny-x4.safetensors", "weights_manifest.json"] + [e.file for e in bundled]
    )
    # another machine: empty cache, the mirror's manifest as its user manifest, no server
    other = tmp_path / "other-cache"
    other.mkdir()
    shutil.copy(mirror / "weights_manifest.json", other / "models.json")
    monkeypatch.setenv("BBCU_CACHE_DIR", str(other))
    monkeypatch.setenv("BBCU_WEIGHTS_URL", mirror.as_uri())
    server.plan["/tiny-x4.safetensors"].append("404")
    res = run_cli(capsys, "weights", "download", "tiny-x4", "tiny-denoise", "--offline")
    assert res.code == 0, res.err
    assert (other / "weights" / "tiny-x4.safetensors").read_bytes() == DATA
    assert len(server.requests) == 1  # only the first download, before the mirror existed


def test_mirror_does_not_follow_a_planted_part_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """#20.2: a symlink planted at the old predictable DIR/.<file>.part name redirects nothing."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    entry = next(e for e in get_manifest().models if e.bundled)
    (mirror / f".{entry.file}.part").symlink_to(victim)
    res = run_cli(capsys, "weights", "mirror", mirror)
    assert res.code == 0, res.err
    assert victim.read_text() == "precious"
    assert (mirror / entry.file).is_file() and not (mirror / entry.file).is_symlink()
    assert not [p for p in mirror.iterdir() if p.name.endswith(".part") and not p.is_symlink()]


@pytest.mark.parametrize("model", ["nosuchmodel", "bbcu-p-x5", "./missing.pth"])
def test_unknown_model_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, model: str) -> None:
    """An unknown ``-m`` (name or path) is bad usage, exit 2 like any bad option value (was 1),
    with one line naming it; nothing is written."""
    src = tmp_path / "in.png"
    shutil.copy(Path(__file__).parents[2] / "examples" / "bears_lr.png", src)
    res = run_cli(capsys, "upscale", src, "-m", model, "-o", tmp_path / "out.png")
    assert res.code == 2 and res.out == ""
    assert model.lstrip("./") in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "out.png").exists()
    assert run_cli(capsys, "weights", "download", model).code == 2
