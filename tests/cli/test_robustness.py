"""Issue #6: bad input gives one clear line per file, nothing is lost, pipes, shards, --jobs."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from conftest import FIXTURES
from filehelp import huge_png, huge_tiff
from PIL import Image as PILImage

from bbcu_cli import imagefiles
from bbcu_cli.batch import item as pipeline
from bbcu_cli.batch.plan import BatchItem
from bbcu_cli.batch.refs import select_shard
from bbcu_cli.bench import random_model
from bbcu_cli.engine.restore import Restorer
from bbcu_cli.errors import OutputError
from bbcu_cli.imagefiles import read_image, to_uint, write_image
from bbcu_cli.loading import ModelSpec
from bbcu_cli.noise_estimate import estimate_sigma

MODEL = FIXTURES / "denoise_f16_l6.pth"
REPO = Path(__file__).resolve().parents[2]


def _png(path: Path, seed: int, size: tuple[int, int] = (24, 20), mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    PILImage.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def _images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [_png(folder / f"img{i:02d}.png", i) for i in range(count)]


def _items(res_out: str) -> dict[str, dict]:
    return {Path(i["input"]).name: i for i in json.loads(res_out)["items"]}


def _bad_inputs(tmp_path: Path) -> tuple[Path, list[str], dict[str, str]]:
    folder = tmp_path / "in"
    good = _images(folder, 2)
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(good[0].read_bytes()[:60])
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    (folder / "text.tif").write_bytes(b"hello, I am not a picture\n" * 10)
    (folder / "huge.png").write_bytes(huge_png())
    (folder / "huge.tif").write_bytes(huge_tiff())
    gif = tmp_path / "pic.ppm"  # GIF is read since #19: an unsupported format stands in
    PILImage.new("RGB", (8, 8)).save(gif)
    (tmp_path / "noimages").mkdir()
    args = [str(folder), str(gif), str(tmp_path / "noimages"), str(tmp_path / "missing.png")]
    causes = {
        "empty.png": "empty",
        "truncated.png": "truncated or corrupt",
        "corrupt.jpg": "corrupt",
        "text.tif": "not a readable image",
        "huge.png": "max-pixels",
        "huge.tif": "max-pixels",
        "pic.ppm": "not supported",
        "noimages": "holds no images",
        "missing.png": "does not exist",
    }
    return folder, args, causes


def test_bad_inputs_one_line_each_and_batch_goes_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder, args, causes = _bad_inputs(tmp_path)
    out = tmp_path / "out"
    res = run_cli(capsys, "denoise", *args, "-m", MODEL, "-o", out, "--json")
    assert res.code == 1
    items = _items(res.out)
    assert {n for n, i in items.items() if i["status"] == "ok"} == {"img00.png", "img01.png"}
    for name, cause in causes.items():
        assert items[name]["status"] == "failed", name
        assert name in items[name]["error"] and cause in items[name]["error"], items[name]["error"]
        lines = [ln for ln in res.err.splitlines() if name in ln]
        assert len(lines) == 1 and lines[0].startswith("failed: "), res.err
    assert "Traceback" not in res.err
    assert sorted(p.name for p in out.iterdir()) == ["img00_denoised.png", "img01_denoised.png"]


def test_plain_summary_lists_failures(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder, _args, _causes = _bad_inputs(tmp_path)
    (folder / "br[red]ket[b].png").write_bytes(b"no markup please")
    res = run_cli(capsys, "denoise", folder, "-m", MODEL, "-o", tmp_path / "out")
    assert res.code == 1
    assert "2 ok, 0 skipped, 7 failed" in res.err
    assert res.err.count("failed: ") == 7 and "Traceback" not in res.err
    assert "br[red]ket[b].png is not a readable image" in res.err


def test_unreadable_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good, locked = _images(tmp_path / "in", 2)
    if os.geteuid() == 0:  # root reads anything: simulate the permission error
        real = Path.open

        def guarded_open(self: Path, *args: object, **kwargs: object) -> object:
            if self.name == locked.name:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "open", guarded_open)
    else:
        locked.chmod(0)
    res = run_cli(capsys, "denoise", tmp_path / "in", "-m", MODEL, "-o", tmp_path / "out", "--json")
    assert res.code == 1
    items = _items(res.out)
    assert items[good.name]["status"] == "ok"
    assert items[locked.name]["status"] == "failed"
    assert "cannot read" in items[locked.name]["error"] and locked.name in items[locked.name]["error"]


def test_output_folder_not_creatable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _images(tmp_path / "in", 2)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a file, not a folder")
    res = run_cli(capsys, "denoise", tmp_path / "in", "-m", MODEL, "-o", blocker / "sub", "--json")
    assert res.code == 1
    items = _items(res.out)
    assert len(items) == 2 and all(i["status"] == "failed" for i in items.values())
    assert all("cannot create output folder" in i["error"] for i in items.values())
    assert "Traceback" not in res.err


def test_output_folder_not_writable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _images(tmp_path / "in", 2)
    out = tmp_path / "out"

    def denied(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    res = run_cli(capsys, "denoise", tmp_path / "in", "-m", MODEL, "-o", out, "--json")
    assert res.code == 1
    items = _items(res.out)
    assert all(i["status"] == "failed" and "permission denied" in i["error"] for i in items.values())
    assert all(Path(i["output"]).name in i["error"] for i in items.values())
    assert list(out.iterdir()) == []


def test_disk_full_fails_one_item_and_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _images(tmp_path / "in", 3)
    out = tmp_path / "out"
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    res = run_cli(capsys, "denoise", tmp_path / "in", "-m", MODEL, "-o", out, "--json")
    assert res.code == 1
    items = _items(res.out)
    assert [i["status"] for i in items.values()] == ["ok", "failed", "ok"]
    assert "disk is full" in items["img01.png"]["error"] and "img01_denoised.png" in items["img01.png"]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["img00_denoised.png", "img02_denoised.png"]


def test_existing_outputs_never_replaced(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _images(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "img01_denoised.png").write_bytes(b"keep me")
    args = ["denoise", tmp_path / "in", "-m", MODEL, "-o", out, "--json"]
    res = run_cli(capsys, *args)
    assert res.code == 0  # skipped by default (#18): status skipped, with the reason
    items = _items(res.out)
    assert [i["status"] for i in items.values()] == ["ok", "skipped", "ok"]
    assert "--overwrite" in items["img01.png"]["reason"]
    assert (out / "img01_denoised.png").read_bytes() == b"keep me"
    res = run_cli(capsys, *args, "--skip-existing")
    assert res.code == 0 and json.loads(res.out)["summary"]["skipped"] == 3
    assert (out / "img01_denoised.png").read_bytes() == b"keep me"


def test_write_without_overwrite_never_clobbers(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    img = read_image(_png(tmp_path / "src.png", 0), raw=True)
    with pytest.raises(OutputError, match="already exists"):
        write_image(target, img, overwrite=False)
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["src.png", "x.png"]
    write_image(tmp_path / "new.png", img, overwrite=False)
    assert read_image(tmp_path / "new.png").pixels.shape == img.pixels.shape


def test_interrupt_during_write_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = read_image(_png(tmp_path / "src.png", 0))

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "out.png", img)
    assert os.listdir(tmp_path) == ["src.png"]


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("alpha", [False, True])
def test_raw_read_and_integer_write(tmp_path: Path, depth: int, alpha: bool) -> None:
    rng = np.random.default_rng(depth)
    dtype = np.uint8 if depth == 8 else np.uint16
    arr = rng.integers(0, np.iinfo(dtype).max + 1, (12, 16, 3 + alpha), dtype=dtype)
    src = tmp_path / "src.png"
    write_image(src, imagefiles.Image(arr[..., :3], arr[..., 3] if alpha else None, depth, "rgb", None))
    raw, flt = read_image(src, raw=True), read_image(src)
    assert raw.pixels.dtype == dtype and raw.bit_depth == depth
    np.testing.assert_array_equal(raw.pixels, arr[..., :3])
    np.testing.assert_array_equal(raw.pixels, to_uint(flt.pixels, depth))
    for fmt in ("png", "tiff", "jpg", "bmp"):
        write_image(tmp_path / f"raw.{fmt}", raw)
        write_image(tmp_path / f"flt.{fmt}", flt)
        assert (tmp_path / f"raw.{fmt}").read_bytes() == (tmp_path / f"flt.{fmt}").read_bytes(), fmt


def test_pipeline_output_matches_float_path_with_tiny_tile_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bbcu_cli.engine.restore as engine_restore

    loaded = random_model(ModelSpec("bbcu-m", "sr", 2, 3, 8, 1, 16.0))
    restorer = Restorer(loaded, backend="float", device="cpu")
    src = read_image(_png(tmp_path / "a.png", 3, (40, 30)), raw=True)
    want = to_uint(restorer.restore(read_image(tmp_path / "a.png").pixels), 8)
    monkeypatch.setattr(engine_restore, "_MAX_AUTO_BUDGET", 1)  # forces the smallest square tiles
    tiles = restorer.tiles_for(30, 40)
    assert len(tiles) == 2 and max(t.x1 - t.x0 for t in tiles) <= 32
    out = pipeline.restore_image(restorer, src).image
    assert out.pixels.dtype == np.uint8
    np.testing.assert_array_equal(out.pixels, want)


def test_auto_tiles_bounded_for_wide_images() -> None:
    from bbcu_cli.engine.tiling import bytes_per_input_pixel

    loaded = random_model(ModelSpec("bbcu-m", "sr", 4, 3, 64, 16, 130.0))
    restorer = Restorer(loaded, backend="float", device="cpu")
    per_px = bytes_per_input_pixel(loaded.spec)
    for h, w in ((1500, 2000), (100, 20000), (8000, 12000)):
        worst = max((t.py1 - t.py0) * (t.px1 - t.px0) for t in restorer.tiles_for(h, w))
        assert worst * per_px <= 768 << 20, (h, w)


def test_sigma_sample_is_bounded_and_close() -> None:
    rng = np.random.default_rng(0)
    noisy = np.clip(rng.normal(128, 20, (3000, 2000, 1)), 0, 255).astype(np.uint8)
    sample = pipeline._sigma_sample(noisy)
    assert sample.dtype == np.float32 and sample.size <= 4_000_000
    assert abs(estimate_sigma(sample) - 20) < 1.0


def test_shards_cover_every_input_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _images(tmp_path / "in", 7)
    seen: list[set[str]] = []
    for i in (1, 2, 3):
        res = run_cli(
            capsys, "denoise", tmp_path / "in", "-m", MODEL, "-o", tmp_path / "out", "--json", "--shard", f"{i}/3"
        )
        assert res.code == 0, res.err
        seen.append(set(_items(res.out)))
    assert set.union(*seen) == {f"img{i:02d}.png" for i in range(7)}
    assert sum(len(s) for s in seen) == 7
    for n in range(1, 30):
        items = [BatchItem(Path(f"f{k}.png"), None) for k in range(n)]
        parts = [select_shard(items, f"{i}/4") for i in range(1, 5)]
        assert sorted(str(it.source) for p in parts for it in p) == sorted(str(it.source) for it in items)


def test_jobs_same_bytes_and_input_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _images(tmp_path / "in", 6)
    (tmp_path / "in" / "img03.png").write_bytes(b"not a png")  # a failure in the middle
    outs = {}
    for jobs in (1, 3):
        out = tmp_path / f"out{jobs}"
        res = run_cli(capsys, "denoise", tmp_path / "in", "-m", MODEL, "-o", out, "--json", "--jobs", jobs)
        assert res.code == 1
        items = json.loads(res.out)["items"]
        assert [Path(i["input"]).name for i in items] == [f"img{i:02d}.png" for i in range(6)]
        assert [i["status"] for i in items] == ["ok"] * 3 + ["failed"] + ["ok"] * 2
        outs[jobs] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(outs[1]) == 5 and outs[1] == outs[3]


def test_stdin_stdout_round_trip(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _png(tmp_path / "a.png", 0)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "bbcu_cli", "denoise", "-", "-m", str(MODEL)]
    piped = subprocess.run(cmd, input=src.read_bytes(), capture_output=True, env=env, timeout=120)
    assert piped.returncode == 0, piped.stderr.decode()
    assert piped.stdout.startswith(b"\x89PNG")
    assert "Traceback" not in piped.stderr.decode()
    want = tmp_path / "want.png"
    assert run_cli(capsys, "denoise", src, "-m", MODEL, "-o", want, "-q").code == 0
    assert piped.stdout == want.read_bytes()
    assert PILImage.open(io.BytesIO(piped.stdout)).size == (24, 20)
    res = run_cli(capsys, "denoise", src, "-m", MODEL, "-o", "-", "--json")
    assert res.code == 2 and "stdout" in res.err
    jpeg = tmp_path / "a.jpg"
    PILImage.open(src).save(jpeg, quality=40)
    piped = subprocess.run(cmd, input=jpeg.read_bytes(), capture_output=True, env=env, timeout=120)
    assert piped.returncode == 0 and piped.stdout.startswith(b"\xff\xd8")  # the input's container (was PNG)
    as_png = subprocess.run(
        [*cmd, "--format", "png"], input=jpeg.read_bytes(), capture_output=True, env=env, timeout=120
    )
    assert as_png.returncode == 0 and as_png.stdout.startswith(b"\x89PNG")


def test_overwrite_never_renames_over_a_device_fifo_or_symlink(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """#20.1: a special target is written into; a symlink's target file is replaced, not the link."""
    import os
    import stat as st

    from clihelp import run_cli

    src = tmp_path / "in.png"
    PILImage.fromarray((np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)).save(src)
    res = run_cli(
        capsys, "denoise", src, "--sigma", 10, "-o", os.devnull, "--format", "png", "-q"
    )  # no --overwrite needed
    assert res.code == 0, res.err
    assert st.S_ISCHR(os.stat(os.devnull).st_mode)
    res = run_cli(capsys, "denoise", src, "--sigma", 10, "-o", os.devnull, "--format", "png", "--overwrite", "-q")
    assert res.code == 0 and st.S_ISCHR(os.stat(os.devnull).st_mode)
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    res = run_cli(capsys, "denoise", src, "--sigma", 10, "-o", link, "--overwrite", "-q")
    assert res.code == 0, res.err
    assert link.is_symlink() and real.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    import threading

    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    res = run_cli(capsys, "denoise", src, "--sigma", 10, "-o", fifo, "--overwrite", "-q")
    reader.join(timeout=30)
    assert res.code == 0, res.err
    assert st.S_ISFIFO(os.lstat(fifo).st_mode) and got and got[0][:4] == b"\x89PNG"


_GUARD_SNIPPET = """
import os, sys
from bbcu_cli.cli.process import python_stderr_apart
from bbcu_cli.errors import InputError
from bbcu_cli.imagefiles._guard import decode_guard
with python_stderr_apart():
    with decode_guard("x.png"):  # a status line printed by another thread meanwhile (--jobs)
        print("ok other truncated scan.png -> out.png", file=sys.stderr)
    try:
        with decode_guard("y.png"):  # a C decoder writes to descriptor 2
            os.write(2, b"libpng error: Read Error: file truncated\\n")
    except InputError as exc:
        print("caught:", exc, file=sys.stderr)
    else:
        raise SystemExit("the decoder's damage report was not caught")
"""


def test_decode_guard_ignores_python_stderr_of_other_threads(tmp_path: Path) -> None:
    """With ``--jobs``, status lines printed while another file decodes are not taken for that
    file's decoder messages (a valid file was once failed as 'truncated' because of a line naming
    another file), while what a C decoder writes to descriptor 2 is still caught."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    res = subprocess.run(
        [sys.executable, "-c", _GUARD_SNIPPET], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ok other truncated scan.png -> out.png" in res.stderr
    assert "caught: y.png is truncated or corrupt: libpng error: Read Error: file truncated" in res.stderr


def test_jobs_status_lines_never_fail_a_good_file(tmp_path: Path) -> None:
    """The scenario that failed before: one file named like a damage report, a JPEG decoded by a
    reader thread while the main thread prints that name (-j 4)."""
    src = tmp_path / "in"
    src.mkdir()
    for i in (1, 3, 4, 5):
        _png(src / f"i{i}.png", i)
    _png(src / "i2 truncated scan.png", 2)
    PILImage.open(_png(tmp_path / "j.png", 6)).save(src / "i6.jpg")
    res = subprocess.run(
        [sys.executable, "-m", "bbcu_cli", "denoise", str(src), "--sigma", "5", "-j", "4", "-o", str(tmp_path / "o")],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "BBCU_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(list((tmp_path / "o").iterdir())) == 6
