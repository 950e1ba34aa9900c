"""fetch(): downloads from a local HTTP server, integrity, retries, locking, offline, mirrors."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_weights_support import WeightsServer, entry_dict, leftovers, online, payload, register, server  # noqa: F401

from bbcu_cli.errors import DownloadError, IntegrityError, OfflineError, WeightsError
from bbcu_cli.weights import fetch, get_manifest, resolve
from bbcu_cli.weights.download import DownloadSettings, candidate_urls

DATA = payload()
SHA = hashlib.sha256(DATA).hexdigest()


def _setup(cache: Path, srv: WeightsServer, *actions: str, name: str = "tiny-x4") -> str:
    url = srv.add(f"{name}.safetensors", DATA, *actions)
    register(cache, entry_dict(name, DATA, [url]))
    return name


def test_download_success_hashes_and_reports_progress(online: Path, server: WeightsServer) -> None:
    name = _setup(online, server)
    calls: list[tuple[int, int | None]] = []
    path = fetch(get_manifest().get(name), progress=lambda done, total: calls.append((done, total)))
    assert path == online / "weights" / f"{name}.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    assert calls[0] == (0, len(DATA)) and calls[-1] == (len(DATA), len(DATA))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert leftovers(online) == [path.name]
    # second call: served from the cache, re-hashed, no request
    assert fetch(get_manifest().get(name)) == path
    assert len(server.requests) == 1


def test_corrupt_download_names_both_hashes_and_leaves_nothing(online: Path, server: WeightsServer) -> None:
    name = _setup(online, server, "corrupt")
    with pytest.raises(IntegrityError) as info:
        fetch(get_manifest().get(name))
    bad = DATA[:10] + bytes([DATA[10] ^ 0xFF]) + DATA[11:]
    message = info.value.message
    assert SHA in message and hashlib.sha256(bad).hexdigest() in message
    assert f"{server.base}/{name}.safetensors" in message
    assert leftovers(online) == []  # no temp file, no partial file
    assert len(server.requests) == 1  # integrity failures are not retried on the same URL


@pytest.mark.parametrize("failure", ["drop", "reset", "500"])
def test_transient_failure_is_retried(online: Path, server: WeightsServer, failure: str) -> None:
    name = _setup(online, server, failure)
    path = fetch(get_manifest().get(name))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    assert len(server.requests) == 2 and server.wait_completed(f"/{name}.safetensors") == 1
    assert leftovers(online) == [path.name]


def test_retries_exhausted_then_next_url(online: Path, server: WeightsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BBCU_DOWNLOAD_RETRIES", "1")
    first = server.add("broken/tiny-x4.safetensors", DATA, "drop", "drop", "drop")
    second = server.add("tiny-x4.safetensors", DATA)
    register(online, entry_dict("tiny-x4", DATA, [first, second]))
    path = fetch(get_manifest().get("tiny-x4"))
    assert path.read_bytes() == DATA
    assert server.requests == ["/broken/tiny-x4.safetensors"] * 2 + ["/tiny-x4.safetensors"]


def test_all_urls_fail_gives_download_error(
    online: Path, server: WeightsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BBCU_DOWNLOAD_RETRIES", "2")
    name = _setup(online, server, "drop", "drop", "drop", "drop")
    with pytest.raises(DownloadError) as info:
        fetch(get_manifest().get(name))
    assert "3 attempts" in info.value.message and info.value.hint
    assert len(server.requests) == 3
    assert leftovers(online) == []


def test_http_404_is_not_retried(online: Path, server: WeightsServer) -> None:
    register(online, entry_dict("tiny-x4", DATA, [f"{server.base}/nowhere.safetensors"]))
    with pytest.raises(DownloadError, match="404"):
        fetch(get_manifest().get("tiny-x4"))
    assert len(server.requests) == 1


def test_stale_cached_file_is_replaced(online: Path, server: WeightsServer) -> None:
    name = _setup(online, server)
    stale = online / "weights" / f"{name}.safetensors"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * len(DATA))
    assert fetch(get_manifest().get(name)).read_bytes() == DATA
    assert len(server.requests) == 1


def test_offline_with_empty_cache_is_clear_and_silent(
    online: Path, server: WeightsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _setup(online, server)
    monkeypatch.setenv("BBCU_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        fetch(get_manifest().get(name))
    assert f"{name}.safetensors" in info.value.message
    assert f"bbcu weights download {name}" in info.value.hint and "BBCU_WEIGHTS_URL=file://" in info.value.hint
    with pytest.raises(OfflineError):
        resolve(name, "sr", 4)
    monkeypatch.delenv("BBCU_OFFLINE")
    with pytest.raises(OfflineError):
        fetch(get_manifest().get(name), offline=True)
    assert server.requests == []


def test_file_mirror_is_tried_first_and_works_offline(
    online: Path, server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _setup(online, server)
    mirror = tmp_path / "mirror dir"
    mirror.mkdir()
    (mirror / f"{name}.safetensors").write_bytes(DATA)
    monkeypatch.setenv("BBCU_WEIGHTS_URL", mirror.as_uri())
    monkeypatch.setenv("BBCU_OFFLINE", "1")
    entry = get_manifest().get(name)
    assert candidate_urls(entry, DownloadSettings.from_env())[0] == f"{mirror.as_uri()}/{name}.safetensors"
    assert fetch(entry).read_bytes() == DATA
    assert server.requests == []


def test_http_mirror_then_entry_urls(online: Path, server: WeightsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    name = _setup(online, server)
    monkeypatch.setenv("BBCU_WEIGHTS_URL", f"{server.base}/mirror/")
    assert fetch(get_manifest().get(name)).read_bytes() == DATA  # mirror 404s, entry URL works
    assert server.requests == [f"/mirror/{name}.safetensors", f"/{name}.safetensors"]


def test_environment_proxy_is_used(online: Path, server: WeightsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.add("tiny-x4.safetensors", DATA)
    register(online, entry_dict("tiny-x4", DATA, ["http://weights.invalid/tiny-x4.safetensors"]))
    monkeypatch.setenv("http_proxy", server.base)
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("NO_PROXY", "")
    assert fetch(get_manifest().get("tiny-x4")).read_bytes() == DATA
    assert server.requests == ["http://weights.invalid/tiny-x4.safetensors"]  # absolute URI: went via the proxy


def test_manual_official_entry_explains_the_manual_step(online: Path) -> None:
    """An official-pth entry without a Drive source (a user's own manifest entry) is a manual step."""
    register(online, {**get_manifest().get("bbcu-m-x4-official").to_dict(), "drive": None})
    with pytest.raises(WeightsError) as info:
        fetch(get_manifest().get("bbcu-m-x4-official"))
    err = info.value
    assert "drive.google.com" in err.message and "BBCUMx4.pth" in err.message
    assert "bbcu weights import BBCUMx4.pth --name bbcu-m-x4-official" in err.hint


# The child skips the package root's __init__ (which imports torch) to start in well under a
# second; bbcu_cli.weights itself needs no torch.
_CHILD = """
import sys, types
pkg = types.ModuleType("bbcu_cli")
pkg.__path__ = [sys.argv[2]]
sys.modules["bbcu_cli"] = pkg
from bbcu_cli.weights import fetch, get_manifest
entry = get_manifest().get(sys.argv[1])
print("ready", flush=True)
print(fetch(entry), flush=True)
"""


def test_two_processes_download_once(online: Path, server: WeightsServer) -> None:
    name = _setup(online, server, "hold")
    env = dict(os.environ)

    def start() -> subprocess.Popen[str]:
        package = str(Path(__file__).resolve().parents[2] / "bbcu_cli")
        return subprocess.Popen(
            [sys.executable, "-c", _CHILD, name, package],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = start()
    server.wait_requests(1)  # the first process is downloading (the server holds its response)
    second = start()
    assert second.stdout is not None and second.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # the second process is now waiting on the lock, not downloading
    assert len(server.requests) == 1
    server.gate.set()
    outs = [p.communicate(timeout=60) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    paths = {out.strip().splitlines()[-1] for out, _ in outs}
    assert paths == {str(online / "weights" / f"{name}.safetensors")}
    assert len(server.requests) == 1 and server.wait_completed(f"/{name}.safetensors") == 1
    assert hashlib.sha256(Path(paths.pop()).read_bytes()).hexdigest() == SHA


def test_unusable_cache_folder_is_a_typed_error(
    online: Path, server: WeightsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _setup(online, server)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("BBCU_CACHE_DIR", str(blocker))
    register_path = online / "models.json"
    monkeypatch.setattr("bbcu_cli.weights.cache.user_manifest_path", lambda: register_path)
    with pytest.raises(WeightsError, match="cannot use the weights cache") as info:
        fetch(get_manifest().get(name))
    assert "BBCU_CACHE_DIR" in info.value.hint
    assert server.requests == []
