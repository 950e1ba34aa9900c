"""Official checkpoints fetched on demand from Google Drive, with a local fake Drive client.

No test here touches the network: the fake serves files from a temporary folder, and the
``online`` fixture installs a client that refuses every call for any test that forgets it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

import numpy as np
import pytest
import torch
from clihelp import run_cli
from conftest import FIXTURE_INFO, FIXTURES, fixture_expected_png
from PIL import Image
from test_weights_import import official_size_file
from test_weights_support import leftovers, online, register  # noqa: F401

from bbcu_cli.errors import WeightsError
from bbcu_cli.weights import drive, fetch, get_manifest
from bbcu_cli.weights.cache import load_user_manifest, sha256_file
from bbcu_cli.weights.manifest import load_manifest

FOLDER = "1MRZejm6JqnQKRXnLCxZmryRCatWnk31g"
NAME = "bbcu-m-x4-official"
FIXTURE = "bbcum_x4_f16_b1"
QUOTA_TEXT = (
    "Failed to retrieve file url:\n\n\tToo many users have viewed or downloaded this file recently. Please try accessing the file "
    "again later.\n\nYou may still be able to access the file from the browser:\n\n\thttps://drive.google.com/uc?id=x\n\nbut Gdown can't."
)
ACCESS_TEXT = (
    "Failed to retrieve file url:\n\n\tCannot retrieve the public link of the file. You may need to change the permission to "
    "'Anyone with the link', or have had many accesses.\n\nbut Gdown can't. Please check connections and permissions."
)


class FakeDrive:
    """A Drive folder on disk: ``list_folder`` names its files, ``download`` copies one."""

    def __init__(self, folder: Path, error: Exception | None = None) -> None:
        self.folder, self.error = folder, error
        self.calls: list[str] = []

    def serve(self, source: Path, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, self.folder / name)

    def list_folder(self, folder_id: str) -> dict[str, str]:
        self.calls.append(f"list {folder_id}")
        if self.error is not None:
            raise self.error
        return {p.name: f"id-{p.name}" for p in self.folder.iterdir()}

    def download(self, file_id: str, out: BinaryIO) -> None:
        self.calls.append(f"download {file_id}")
        data = (self.folder / file_id.removeprefix("id-")).read_bytes()
        for i in range(0, len(data), 4096):
            out.write(data[i : i + 4096])


@pytest.fixture
def fake(online: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDrive:  # noqa: F811
    client = FakeDrive(tmp_path / "drive")
    client.folder.mkdir()
    monkeypatch.setattr(drive, "_client", client)
    return client


def small_override(cache: Path) -> dict[str, Any]:
    """``bbcu-m-x4-official`` as the fixture is (16 features, 1 block), in the user manifest."""
    info = FIXTURE_INFO[FIXTURE]
    entry = get_manifest().get(NAME).to_dict()
    entry["arch"].update(num_feat=info["num_feat"], depth=info["num_block"], k=info["k"])
    register(cache, entry)
    return entry


def _download(capsys: pytest.CaptureFixture[str], name: str = NAME) -> Any:
    return run_cli(capsys, "weights", "download", name, "-q")


def _upscale(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[Any, Path]:
    src = tmp_path / "in.png"
    shutil.copy(FIXTURES / FIXTURE_INFO[FIXTURE]["input"], src)
    out = tmp_path / "out.png"
    return run_cli(capsys, "upscale", src, "-m", NAME, "-o", out, "-q", "--backend", "float"), out


def test_download_then_upscale_reproduces_the_official_output(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    online: Path,
    fake: FakeDrive,
    tmp_path: Path,  # noqa: F811
) -> None:
    small_override(online)
    fake.serve(FIXTURES / FIXTURE_INFO[FIXTURE]["checkpoint"], "BBCUMx4.pth")
    with caplog.at_level(logging.WARNING):
        res = _download(capsys)
    assert res.code == 0, res.err
    target = online / "weights" / f"{NAME}.safetensors"
    assert res.out.strip() == f"{NAME}\t{target}"
    assert fake.calls == [f"list {FOLDER}", "download id-BBCUMx4.pth"]
    source_sha = sha256_file(FIXTURES / FIXTURE_INFO[FIXTURE]["checkpoint"])
    entry = load_user_manifest().get(NAME)
    assert entry.drive is not None and entry.drive.sha256 == source_sha  # trust on first use: recorded...
    assert source_sha in caplog.text and "trust on first use" in caplog.text  # ...and shown
    assert entry.sha256 == sha256_file(target) and entry.format == "bbcu-safetensors"
    assert leftovers(online) == [target.name]  # no temporary file left
    assert _download(capsys).code == 0 and len(fake.calls) == 2  # a cache hit: Drive not asked again
    up, out = _upscale(capsys, tmp_path)
    assert up.code == 0, up.err
    got, want = np.asarray(Image.open(out)).astype(int), fixture_expected_png(FIXTURE).astype(int)
    assert got.shape == want.shape and np.abs(got - want).max() <= 1 and (got != want).mean() < 0.01
    assert len(fake.calls) == 2


def test_first_use_through_upscale_fetches_from_drive(
    capsys: pytest.CaptureFixture[str], online: Path, fake: FakeDrive, tmp_path: Path
) -> None:  # noqa: F811
    small_override(online)
    fake.serve(FIXTURES / FIXTURE_INFO[FIXTURE]["checkpoint"], "BBCUMx4.pth")
    up, out = _upscale(capsys, tmp_path)
    assert up.code == 0, up.err
    assert len(fake.calls) == 2 and out.is_file()


def test_tampered_cached_file_is_caught(
    capsys: pytest.CaptureFixture[str], online: Path, fake: FakeDrive, tmp_path: Path
) -> None:  # noqa: F811
    small_override(online)
    fake.serve(FIXTURES / FIXTURE_INFO[FIXTURE]["checkpoint"], "BBCUMx4.pth")
    assert _download(capsys).code == 0
    target = online / "weights" / f"{NAME}.safetensors"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0xFF
    target.write_bytes(bytes(data))
    up, _ = _upscale(capsys, tmp_path)
    assert up.code == 1 and "damaged" in up.err and f"bbcu weights rm {NAME}" in up.err
    assert len(up.err.strip().splitlines()) == 1
    assert target.read_bytes() == bytes(data)  # left in place, not replaced silently
    assert len(fake.calls) == 2


def test_a_changed_drive_file_is_refused_until_unpinned(
    capsys: pytest.CaptureFixture[str], online: Path, fake: FakeDrive, tmp_path: Path
) -> None:  # noqa: F811
    small_override(online)
    original = FIXTURES / FIXTURE_INFO[FIXTURE]["checkpoint"]
    fake.serve(original, "BBCUMx4.pth")
    assert _download(capsys).code == 0
    assert "kept" in run_cli(capsys, "weights", "rm", NAME).out
    changed = torch.load(original, weights_only=True)
    first = next(iter(changed["params"]))
    changed["params"][first] = changed["params"][first] * 1.01
    torch.save(changed, fake.folder / "BBCUMx4.pth")
    res = _download(capsys)
    assert res.code == 1 and "first download" in res.err and sha256_file(original) in res.err and "--unpin" in res.err
    assert leftovers(online) == []
    assert run_cli(capsys, "weights", "rm", "--unpin", NAME).code == 0
    small_override(online)  # the test's own override (unpinned) again
    assert _download(capsys).code == 0
    assert load_user_manifest().get(NAME).drive.sha256 == sha256_file(fake.folder / "BBCUMx4.pth")  # type: ignore[union-attr]


def test_wrong_architecture_is_refused_and_nothing_is_cached(
    capsys: pytest.CaptureFixture[str], online: Path, fake: FakeDrive
) -> None:  # noqa: F811
    small_override(online)
    fake.serve(FIXTURES / "bbcul_x4_f16_b2.pth", "BBCUMx4.pth")
    res = _download(capsys)
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1
    assert "bbcu-l sr x4, 3-channel, 16 features, depth 2" in res.err  # found
    assert "bbcu-m sr x4, 3-channel, 16 features, depth 1" in res.err  # expected
    assert "bbcu weights import BBCUMx4.pth" in res.err
    assert leftovers(online) == []
    assert load_user_manifest().get(NAME).drive.sha256 is None  # type: ignore[union-attr]  # nothing pinned


def _gdown_error(text: str) -> Exception:
    import gdown.exceptions

    return gdown.exceptions.FileURLRetrievalError(text)


def _http_error(code: int) -> Exception:
    exc = OSError(f"{code} Client Error")
    exc.response = SimpleNamespace(status_code=code)  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("error", "page", "kind"),
    [
        (lambda: _gdown_error(QUOTA_TEXT), None, "quota exceeded"),
        (lambda: _gdown_error(ACCESS_TEXT), None, "denied access"),
        (lambda: _http_error(429), None, "quota exceeded"),
        (lambda: _http_error(403), None, "denied access"),
        (
            lambda: ConnectionError("HTTPSConnectionPool: Max retries exceeded with url: /uc"),
            None,
            "cannot fetch BBCUMx4.pth",
        ),
        (
            None,
            b"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>Too many users have viewed "
            b"or downloaded this file recently.</body></html>",
            "quota exceeded",
        ),
        (None, b"<html><script>var x=429;</script><body>Sign in - Google Accounts</body></html>", "denied access"),
    ],
)
def test_drive_refusals_are_one_line_with_the_manual_fallback(
    capsys: pytest.CaptureFixture[str],
    online: Path,
    fake: FakeDrive,
    error: Any,
    page: bytes | None,
    kind: str,  # noqa: F811
) -> None:
    if error is not None:
        fake.error = error()
    else:
        (fake.folder / "BBCUMx4.pth").write_bytes(page)  # type: ignore[arg-type]  # gdown saved a web page
    res = _download(capsys)
    assert res.code == 1
    assert len(res.err.strip().splitlines()) == 1, res.err
    assert kind in res.err and f"https://drive.google.com/drive/folders/{FOLDER}" in res.err
    assert f"bbcu weights import BBCUMx4.pth --name {NAME}" in res.err
    assert leftovers(online) == []


def test_offline_refuses_without_calling_drive(
    capsys: pytest.CaptureFixture[str], online: Path, fake: FakeDrive, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: F811
    monkeypatch.setenv("BBCU_OFFLINE", "1")
    res = _download(capsys)
    assert res.code == 1 and "offline" in res.err and f"bbcu weights import BBCUMx4.pth --name {NAME}" in res.err
    assert fake.calls == []


def test_mirror_is_tried_first(
    capsys: pytest.CaptureFixture[str], online: Path, fake: FakeDrive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: F811
    small_override(online)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(FIXTURES / FIXTURE_INFO[FIXTURE]["checkpoint"], mirror / "BBCUMx4.pth")
    monkeypatch.setenv("BBCU_WEIGHTS_URL", mirror.as_uri())
    monkeypatch.setenv("BBCU_OFFLINE", "1")  # a file:// mirror works offline
    assert _download(capsys).code == 0
    assert fake.calls == []


def test_full_size_official_file_is_accepted_for_the_shipped_entry(
    online: Path, fake: FakeDrive, tmp_path: Path
) -> None:  # noqa: F811
    official_size_file(fake.folder, "bbcu-l", 4, "BBCULx4.pth")
    path = fetch(get_manifest().get("bbcu-l-x4-official"))
    entry = get_manifest().get("bbcu-l-x4-official")
    assert path == online / "weights" / "bbcu-l-x4-official.safetensors" and entry.sha256 == sha256_file(path)
    assert (entry.arch.name, entry.arch.num_feat, entry.arch.depth, entry.scale) == ("bbcu-l", 64, 16, 4)
    assert entry.drive is not None and entry.drive.sha256 == sha256_file(fake.folder / "BBCULx4.pth")
    assert "Downloaded BBCULx4.pth from Google Drive" in entry.provenance.notes
    assert fetch(entry) == path and len(fake.calls) == 2


def test_gdown_client_glue(monkeypatch: pytest.MonkeyPatch) -> None:
    """GdownClient passes only the arguments the installed gdown accepts and names files by base name."""
    import gdown

    seen: dict[str, Any] = {}

    def download_folder(id: str, quiet: bool = False, skip_download: bool = False, **kwargs: Any) -> list[Any]:  # noqa: A002
        seen.update(id=id, quiet=quiet, skip_download=skip_download)
        return [SimpleNamespace(id="abc", path="BBCU-SR/BBCULx4.pth", local_path="x")]

    def download(id: str, output: Any, quiet: bool = False) -> Any:  # noqa: A002
        output.write(b"data")
        return output

    monkeypatch.setattr(gdown, "download_folder", download_folder)
    monkeypatch.setattr(gdown, "download", download)
    client = drive.GdownClient()
    assert client.list_folder(FOLDER) == {"BBCULx4.pth": "abc"}
    assert seen == {"id": FOLDER, "quiet": True, "skip_download": True}
    sink = SimpleNamespace(data=b"")
    sink.write = lambda b: setattr(sink, "data", sink.data + b)  # type: ignore[attr-defined]
    client.download("abc", sink)  # type: ignore[arg-type]
    assert sink.data == b"data"


def test_manifest_checks_the_drive_field() -> None:
    entry = json.loads(json.dumps(get_manifest().get(NAME).to_dict()))
    for bad, field in (
        ({"folder": "no/slash", "file": "a.pth"}, "drive.folder"),
        ({"folder": FOLDER, "file": "../a.pth"}, "drive.file"),
    ):
        with pytest.raises(WeightsError, match=field):
            load_manifest({"schema_version": 1, "models": [{**entry, "drive": bad}]})
    with pytest.raises(WeightsError, match="'drive'"):
        load_manifest(
            {
                "schema_version": 1,
                "models": [{**entry, "urls": ["https://x.invalid/a.pth"], "sha256": "0" * 64, "size": 1}],
            }
        )
    digest = hashlib.sha256(b"x").hexdigest()
    ok = load_manifest(
        {
            "schema_version": 1,
            "models": [{**entry, "drive": {"folder": FOLDER, "file": "BBCUMx4.pth", "sha256": digest}}],
        }
    )
    assert ok.models[0].drive.sha256 == digest  # type: ignore[union-attr]
