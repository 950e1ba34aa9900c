"""Ctrl-C in the middle of a real batch: exit 130, only complete outputs, summary printed;
``--skip-existing`` then finishes the rest, byte-identical to an uninterrupted run.

The batch runs as ``python -m bbcu_cli`` in a subprocess. So that it can be interrupted
half-way however fast or loaded the machine is, a ``sitecustomize`` module (test-only, on the
child's PYTHONPATH) makes every restore wait ``DELAY`` seconds first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from PIL import Image as PILImage

from bbcu_cli.cli.app import main

MODEL = FIXTURES / "denoise_f16_l6.pth"
REPO = Path(__file__).resolve().parents[2]
COUNT = 8
DELAY = 0.3
# The hook also restores Python's Ctrl-C handler: a test run started in the background by a
# shell without job control (``cmd &`` in a script, nohup) inherits SIGINT as ignored, and the
# child would then never see the interrupt the test sends.
HOOK = f"""
import signal
import time
from bbcu_cli.engine import restore as _restore

signal.signal(signal.SIGINT, signal.default_int_handler)

_real = _restore.Restorer.restore


def _slow(self, *args, **kwargs):
    time.sleep({DELAY})
    return _real(self, *args, **kwargs)


_restore.Restorer.restore = _slow
"""


def _inputs(folder: Path) -> None:
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(COUNT):
        PILImage.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"img{i}.png")


def _args(src: Path, out: Path, *extra: str) -> list[str]:
    return ["denoise", str(src), "-o", str(out), "-m", str(MODEL), "--backend", "float", *extra]


def _start(src: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    hook = src.parent / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), str(REPO)]))
    cmd = [sys.executable, "-m", "bbcu_cli", *_args(src, out, *extra)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _wait_for_first_output(out: Path, proc: subprocess.Popen[bytes], limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not (out.is_dir() and any(out.glob("*.png"))):
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.01)


def _interrupted_run(src: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    proc = _start(src, out, *extra)
    _wait_for_first_output(out, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout.decode(), stderr.decode()


def _check_partial(out: Path) -> list[str]:
    names = sorted(p.name for p in out.iterdir())
    assert all(not n.startswith(".") and not n.endswith(".tmp") for n in names), names
    for name in names:
        with PILImage.open(out / name) as img:
            img.load()  # every output that exists is complete
    return names


@pytest.mark.timeout(300)
def test_sigint_then_resume(tmp_path: Path) -> None:
    src, out, ref = tmp_path / "in", tmp_path / "out", tmp_path / "ref"
    _inputs(src)
    code, stdout, stderr = _interrupted_run(src, out, "--json")
    assert code == 130, stderr
    payload = json.loads(stdout)
    assert payload["interrupted"] is True
    done = [Path(i["output"]).name for i in payload["items"] if i["status"] == "ok"]
    assert "interrupted after" in stderr and "--skip-existing" in stderr
    assert "Traceback" not in stderr
    assert 1 <= len(done) < COUNT
    assert _check_partial(out) == sorted(done)

    assert main(_args(src, out, "--skip-existing", "-q", "--jobs", "2")) == 0
    assert len(_check_partial(out)) == COUNT
    assert main(_args(src, ref, "-q")) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {p.name: p.read_bytes() for p in ref.iterdir()}


@pytest.mark.timeout(300)
def test_sigint_with_jobs_plain_summary(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    _inputs(src)
    code, stdout, stderr = _interrupted_run(src, out, "--jobs", "3")
    assert code == 130
    assert stdout == ""
    assert " ok, 0 skipped, 0 failed" in stderr and "interrupted after" in stderr
    _check_partial(out)
