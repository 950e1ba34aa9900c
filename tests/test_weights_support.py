"""Helpers for the weights tests: a local HTTP server with scripted failures, a clean env.

No tests here. The server (127.0.0.1, random port, a thread) serves in-memory files; per path a
queue of one-shot actions decides how the next request is answered: ``ok``, ``corrupt`` (one
byte flipped), ``drop`` (half the body, then the connection closes), ``reset`` (half the body,
then a TCP reset), ``500``, ``404``, ``hold`` (wait for ``release`` before answering).
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

_CHUNK = 8192


class WeightsServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.plan: dict[str, list[str]] = defaultdict(list)
        self.requests: list[str] = []
        self.completed: Counter[str] = Counter()
        self.gate = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, name: str, data: bytes, *actions: str) -> str:
        self.files[f"/{name}"] = data
        self.plan[f"/{name}"].extend(actions)
        return f"{self.base}/{name}"

    def wait_requests(self, n: int, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < end:
            time.sleep(0.02)
        assert len(self.requests) >= n, f"server saw {self.requests}"

    def wait_completed(self, path: str, n: int = 1, timeout: float = 10.0) -> int:
        """Full responses served for ``path``, once ``n`` have been counted (or the timeout passed).

        The client can hold the last byte before the handler thread counts the response.
        """
        end = time.monotonic() + timeout
        while self.completed[path] < n and time.monotonic() < end:
            time.sleep(0.01)
        return self.completed[path]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        state: WeightsServer = self.server.state  # type: ignore[attr-defined]
        state.requests.append(self.path)
        path = urllib.parse.urlsplit(self.path).path  # proxied requests carry an absolute URI
        action = state.plan[path].pop(0) if state.plan[path] else "ok"
        if path not in state.files or action in ("404", "500"):
            self.send_error(404 if action != "500" else 500)
            return
        if action == "hold":
            state.gate.wait(30)
        body = state.files[path]
        if action == "corrupt":
            body = body[:10] + bytes([body[10] ^ 0xFF]) + body[11:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if action in ("drop", "reset"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if action == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        for i in range(0, len(body), _CHUNK):
            self.wfile.write(body[i : i + _CHUNK])
        state.completed[path] += 1


@pytest.fixture
def server() -> Iterator[WeightsServer]:
    srv = WeightsServer()
    srv.thread.start()
    yield srv
    srv.gate.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


class NoDrive:
    """Drive client that refuses every call: tests never reach the real Google Drive."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or RuntimeError("this test may not use Google Drive")
        self.calls: list[str] = []

    def list_folder(self, folder_id: str) -> dict[str, str]:
        self.calls.append(f"list {folder_id}")
        raise self.error

    def download(self, file_id: str, out: Any) -> None:
        self.calls.append(f"download {file_id}")
        raise self.error


@pytest.fixture
def online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh cache in ``tmp_path/cache``, online, fast retries, no proxies, and a Drive client
    that refuses every call (:class:`NoDrive`); returns the cache."""
    from bbcu_cli.weights import drive

    monkeypatch.setattr(drive, "_client", NoDrive())
    cache = tmp_path / "cache"
    monkeypatch.setenv("BBCU_CACHE_DIR", str(cache))
    monkeypatch.delenv("BBCU_OFFLINE", raising=False)
    monkeypatch.delenv("BBCU_WEIGHTS_URL", raising=False)
    monkeypatch.setenv("BBCU_DOWNLOAD_BACKOFF", "0.01")
    monkeypatch.setenv("BBCU_DOWNLOAD_TIMEOUT", "10")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return cache


def payload(n: int = 100_000, seed: int = 1) -> bytes:
    """Deterministic pseudo-random bytes (stands in for a weights file)."""
    out, block = bytearray(), hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def entry_dict(name: str, data: bytes, urls: list[str], **extra: Any) -> dict[str, Any]:
    """A valid manifest entry for ``data`` (a tiny sr x4 model)."""
    entry = {
        "name": name,
        "task": "sr",
        "scale": 4,
        "arch": {
            "name": "bbcu-m",
            "num_feat": 16,
            "depth": 1,
            "k": 32.5,
            "in_channels": 3,
            "bias": False,
            "noise_channel": False,
        },
        "file": f"{name}.safetensors",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "urls": urls,
        "bundled": False,
        "default": False,
        "format": "bbcu-safetensors",
        "provenance": {"data": "test", "iterations": None, "command": "", "notes": ""},
        "metrics": {},
        "source_page": None,
        "description": "test model",
    }
    entry.update(extra)
    return entry


def register(cache: Path, *entries: dict[str, Any]) -> None:
    """Write the user manifest ``<cache>/models.json``."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "models.json").write_text(json.dumps({"schema_version": 1, "models": list(entries)}))


def leftovers(cache: Path) -> list[str]:
    """Files in the weights folder other than lock files."""
    folder = cache / "weights"
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.is_dir() else []
