"""Start-up without torch: help, version, model listing and the weights commands never import it.

Each check runs ``python -X importtime -m bbcu_cli ARGS`` in a fresh interpreter (offline, with
an empty cache) and reads the import log on stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: a module column of ``-X importtime`` naming torch or one of its submodules
TORCH_LINE = re.compile(r"^import time:.*\|\s*torch(\.\S+)?\s*$")


def _run(args: list[str], cache: Path, importtime: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BBCU_CACHE_DIR": str(cache), "BBCU_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _torch_imports(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if TORCH_LINE.match(line)]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["models", "--json"],
        ["weights", "--help"],
        ["weights", "verify"],
        ["weights", "path", "bbcu-l-x4"],
        ["upscale", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_command_does_not_import_torch(args: list[str], tmp_path: Path) -> None:
    res = _run(["-m", "bbcu_cli", *args], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert _torch_imports(res.stderr) == []


def test_pattern_matches_torch_lines() -> None:
    """The check itself: torch and its submodules match, look-alikes do not."""
    lines = [
        "import time:     19474 |    1339688 |           torch",
        "import time:       310 |        310 |   torch._C",
        "import time:       120 |        120 |     torchvision",
        "import time:        80 |         80 | bbcu_cli.torch_free",
    ]
    assert _torch_imports("\n".join(lines)) == lines[:2]


def test_package_root_is_lazy(tmp_path: Path) -> None:
    code = (
        "import sys, bbcu_cli\n"
        "assert 'torch' not in sys.modules, 'import bbcu_cli imported torch'\n"
        "from bbcu_cli import load_model, LoadedModel, Restorer, get_model, BbcuError\n"
        "assert callable(load_model) and 'torch' in sys.modules\n"
        "assert bbcu_cli.load_model is load_model and set(bbcu_cli.__all__) <= set(dir(bbcu_cli))\n"
    )
    res = _run(["-c", code], tmp_path, importtime=False)
    assert res.returncode == 0, res.stderr[-2000:]


def test_version_output(tmp_path: Path) -> None:
    from bbcu_cli import __version__

    res = _run(["-m", "bbcu_cli", "--version"], tmp_path, importtime=False)
    assert res.returncode == 0, res.stderr
    assert f"bbcu {__version__}" in res.stdout
    assert re.search(r"^packed kernel: (on, \w+( \+ amx)?|off: .+)$", res.stdout, re.M), res.stdout
    assert re.search(r"^torch: ", res.stdout, re.M), res.stdout


@pytest.mark.parametrize(
    ("args", "expected"), [(["models", "--json"], "PASSIVE"), (["-v", "train", "--help"], "unset")]
)
def test_omp_wait_policy(args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inference commands let OpenMP threads sleep; ``train`` keeps the OpenMP default."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    code = (
        "import os, sys\n"
        "from bbcu_cli.cli.app import main\n"
        f"rc = main({args!r})\n"
        "print('policy', os.environ.get('OMP_WAIT_POLICY', 'unset'), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    res = _run(["-c", code], tmp_path, importtime=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"policy {expected}" in res.stderr


def test_still_image_io_skips_imageio(tmp_path: Path) -> None:
    """Reading and writing 8-bit stills goes through Pillow alone: importing imageio (and the
    format lookup that loads every Pillow plugin) would cost each ``bbcu`` run about 0.1 s."""
    code = (
        "import sys, numpy as np\n"
        "from bbcu_cli.imagefiles import Image, read_image, write_image\n"
        f"p = {str(tmp_path / 'x.png')!r}\n"
        "for name in (p, p[:-3] + 'jpg', p[:-3] + 'webp'):\n"
        "    write_image(name, Image(np.zeros((6, 5, 3), np.float32), None, 8, 'rgb', None))\n"
        "    assert read_image(name).pixels.shape == (6, 5, 3)\n"
        "assert 'imageio' not in sys.modules, sorted(m for m in sys.modules if 'imageio' in m)\n"
    )
    res = _run(["-c", code], tmp_path, importtime=False)
    assert res.returncode == 0, res.stderr[-2000:]


#: modules a quiet restore of a bundled model has no use for (each costs 5-25 ms of start-up;
#: numpy.ma comes with numpy's median and quantile functions)
LAZY_EXTRAS = ("filelock", "rich", "numpy.ma", "socket", "torch")


def test_quiet_upscale_skips_lock_progress_and_socket(tmp_path: Path) -> None:
    """A quiet ``bbcu upscale`` on bundled weights imports no file lock (downloads only), no Rich
    (it prints nothing), no socket and no torch (packed path)."""
    out = tmp_path / "out.png"
    res = _run(["-m", "bbcu_cli", "upscale", "examples/bears_lr.png", "-s", "2", "-o", str(out), "-q"], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert out.is_file()
    names = {line.rsplit("|", 1)[1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}
    assert "bbcu_cli.cli.restore_cmd" in names  # the log is read right
    unwanted = LAZY_EXTRAS if _packed_kernel_built() else LAZY_EXTRAS[:-1]  # no compiler: float path, torch
    loaded = sorted(n for n in names if any(n == m or n.startswith(m + ".") for m in unwanted))
    assert loaded == []


def _packed_kernel_built() -> bool:
    from bbcu_cli import kernels

    return kernels.built()


def test_a_run_builds_only_its_own_command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Typer turns every command's signature into options on each call: a run builds only the
    command it names, and gets the same help as from the whole app."""
    from bbcu_cli.cli.app import _app_for, app, main

    monkeypatch.setattr(sys, "argv", ["bbcu"])  # click names the program after argv[0]
    one = _app_for(["-v", "upscale", "x.png"])
    assert [c.name for c in one.registered_commands] == ["upscale"] and one.registered_groups == []
    assert [g.name for g in _app_for(["weights", "verify"]).registered_groups] == ["weights"]
    assert _app_for(["upscal", "x.png"]) is app and _app_for(["--help"]) is app
    monkeypatch.setenv("_BBCU_COMPLETE", "complete_bash")
    assert _app_for(["upscale"]) is app
    monkeypatch.delenv("_BBCU_COMPLETE")
    assert main(["upscale", "--help"]) == 0
    alone = capsys.readouterr().out
    with pytest.raises(SystemExit):
        app(["upscale", "--help"])
    assert capsys.readouterr().out == alone and "--scale" in alone


def test_the_console_script_asks_openblas_for_one_thread_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    import bbcu_cli.cli.app as app
    from bbcu_cli.__main__ import entry

    monkeypatch.setattr(app, "main", lambda: 0)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert entry() == 0 and os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert entry() == 0 and os.environ["OPENBLAS_NUM_THREADS"] == "4"
