"""Issue #20, reading and process side: float TIFFs, truncated and forged files, pipes, memory
bounds on every read path, symlink loops, SIGTERM and stale temporary files, Ctrl-C while
importing, closed standard streams, one-line typed errors, decoder chatter and raw names."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from clihelp import run_cli
from conftest import FIXTURES
from filehelp import huge_png
from PIL import Image as PILImage
from test_interrupt import _check_partial, _inputs, _start, _wait_for_first_output

from bbcu_cli.atomicfile import STALE_SECONDS, sweep_stale
from bbcu_cli.errors import InputError, OutputError, printable
from bbcu_cli.imagefiles import list_images, read_image, write_image
from bbcu_cli.imagefiles._core import Image

MODEL = FIXTURES / "denoise_f16_l6.pth"
SR_MODEL = FIXTURES / "bbcum_x2_f16_b2.pth"
REPO = Path(__file__).resolve().parents[2]


def _gradient(h: int = 40, w: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx + yy) / (h + w)).astype(np.float32)


def _jpeg(size: tuple[int, int] = (256, 256)) -> bytes:
    rng = np.random.default_rng(3)
    arr = (rng.random((size[1], size[0], 3)) * 60 + _gradient(size[1], size[0])[..., None] * 180).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def jpeg_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 16x16 JPEG whose SOF0 claims ``width x height`` (a few hundred bytes)."""
    buf = io.BytesIO()
    PILImage.fromarray(np.full((16, 16), 128, np.uint8)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "bbcu_cli", *args], capture_output=True, text=True, env=env, timeout=120, **kw
    )  # type: ignore[call-overload]


def _one_line_errors(text: str) -> None:
    assert "Traceback" not in text and "internal error" not in text, text


# --- 4: float and 32-bit integer TIFFs ----------------------------------------------------


@pytest.mark.parametrize("kind", ["F-gray", "I", "I;16"])
def test_float_and_int_tiffs_read_on_their_scale(tmp_path: Path, kind: str) -> None:
    g = _gradient()
    path = tmp_path / "in.tif"
    if kind == "F-gray":
        PILImage.fromarray(g, "F").save(path)
    elif kind == "I":
        PILImage.fromarray((g * 65535).astype(np.int32), "I").save(path)
    else:
        PILImage.fromarray((g * 65535).astype(np.uint16)).save(path)
    img = read_image(path)
    assert img.bit_depth == 16
    np.testing.assert_allclose(img.pixels[..., 0], g, atol=1e-4)
    raw = read_image(path, raw=True)
    assert raw.pixels.dtype in (np.float32, np.uint16)


def test_float_rgb_tiff_refused_clearly(tmp_path: Path) -> None:
    g = _gradient()
    cv2.imwrite(str(tmp_path / "rgb.tif"), np.dstack([g, g * 0.5, 1 - g]))
    with pytest.raises(InputError, match="rgb.tif is a TIFF of a kind that cannot be read"):
        read_image(tmp_path / "rgb.tif")


def test_float_tiff_through_denoise_is_not_black(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    g = _gradient() * 0.8 + 0.1
    PILImage.fromarray(g, "F").save(tmp_path / "f.tif")
    res = run_cli(capsys, "denoise", tmp_path / "f.tif", "-m", MODEL, "-o", tmp_path / "o.tif", "--sigma", "5")
    assert res.code == 0, res.err
    out = np.asarray(PILImage.open(tmp_path / "o.tif")).astype(np.float64) / 65535
    assert abs(out.mean() - g.mean()) < 0.05


# --- 6: truncated, damaged and forged files -----------------------------------------------


def test_jpeg_with_damaged_entropy_data_is_refused(tmp_path: Path) -> None:
    data = bytearray(_jpeg())
    mid = len(data) // 2
    data[mid : mid + 100] = b"\0" * 100  # libjpeg only warns: "Corrupt JPEG data ..."
    (tmp_path / "z.jpg").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"z\.jpg is truncated or corrupt: Corrupt JPEG data"):
        read_image(tmp_path / "z.jpg")


def test_jpeg_cut_short_with_eoi_is_refused(tmp_path: Path) -> None:
    data = _jpeg()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3] + b"\xff\xd9")
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_image(tmp_path / "cut.jpg")


def test_jpeg_header_bomb_refused_from_the_header(tmp_path: Path) -> None:
    (tmp_path / "bomb.jpg").write_bytes(jpeg_bomb())
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"declares 20000x20000 pixels but holds only \d+ bytes"):
        read_image(tmp_path / "bomb.jpg", max_pixels=500_000_000)
    assert time.perf_counter() - start < 2.0


def _png_rows(h: int = 40, w: int = 48) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray((np.random.default_rng(1).random((h, w, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_png_with_bad_crc_or_cut_is_refused(tmp_path: Path) -> None:
    data = bytearray(_png_rows())
    idat = data.find(b"IDAT")
    flipped = bytearray(data)
    flipped[idat + 40] ^= 0x10
    (tmp_path / "crc.png").write_bytes(bytes(flipped))
    (tmp_path / "cut.png").write_bytes(bytes(data[: len(data) - 30]))
    with pytest.raises(InputError, match="CRC error in chunk 'IDAT'"):
        read_image(tmp_path / "crc.png")
    with pytest.raises(InputError, match="truncated"):
        read_image(tmp_path / "cut.png")


def test_png_with_trailing_junk_is_read(tmp_path: Path) -> None:
    (tmp_path / "t.png").write_bytes(_png_rows() + b"junk" * 1000)
    assert read_image(tmp_path / "t.png").pixels.shape == (40, 48, 3)


# --- 7: a pipe whose reader quits early ---------------------------------------------------


class _ShortPipe(io.RawIOBase):
    """Accepts 64 KiB (a short write), then fails like a pipe whose reader is gone."""

    name = "<stdout>"

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.taken >= 65536:
            raise BrokenPipeError(32, "Broken pipe")
        n = min(len(data), 65536 - self.taken)
        self.taken += n
        return n


def test_short_write_to_a_closed_pipe_is_a_failure() -> None:
    pixels = (np.random.default_rng(0).random((300, 300, 3)) * 255).astype(np.uint8)
    with pytest.raises(OutputError, match="closed the pipe after 65536 of"):
        write_image(_ShortPipe(), Image(pixels, None, 8, "rgb", None), "png")


def test_cli_stdout_reader_quits_early(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    PILImage.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    cmd = f"{sys.executable} -m bbcu_cli denoise big.png -m {MODEL} -o - --sigma 5 | head -c 10 > /dev/null; exit ${{PIPESTATUS[0]}}"
    res = subprocess.run(
        ["bash", "-c", cmd],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert res.returncode == 1, res.stderr
    assert "closed the pipe" in res.stderr and "1 ok" not in res.stderr
    _one_line_errors(res.stderr)


# --- 9: --max-pixels counts output pixels, 0 means no limit ------------------------------


def test_max_pixels_counts_output_pixels(tmp_path: Path) -> None:
    PILImage.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "s.png")
    read_image(tmp_path / "s.png", max_pixels=400, scale=2)
    with pytest.raises(InputError, match=r"10x10, 400 pixels of output at x2, over the max_pixels limit of 399 pixels"):
        read_image(tmp_path / "s.png", max_pixels=399, scale=2)


def test_max_pixels_zero_is_no_limit(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(huge_png(17000, 17000))  # 289 MP: over Pillow's and the old default
    with pytest.raises(InputError) as info:
        read_image(tmp_path / "big.png", max_pixels=0)
    assert "max-pixels" not in str(info.value) and "declares 17000x17000" in str(info.value)


def test_cli_max_pixels_below_scale_squared(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    PILImage.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "one.png")
    res = run_cli(
        capsys,
        "upscale",
        tmp_path / "one.png",
        "-m",
        SR_MODEL,
        "-s",
        "2",
        "-o",
        tmp_path / "o.png",
        "--max-pixels",
        "3",
        "--json",
    )
    assert res.code == 1
    assert (
        "1x1, 4 pixels of output at x2, over the --max-pixels limit of 3 pixels"
        in json.loads(res.out)["items"][0]["error"]
    )


# --- 10: memory bounded on every read path ------------------------------------------------


def _peak_rss_mb(code: str) -> float:
    """Peak RSS (MB) of a fresh interpreter running ``code``, as it reports itself."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    tail = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    res = subprocess.run(
        [sys.executable, "-c", code + tail], check=True, env=env, timeout=120, capture_output=True, text=True
    )
    return int(res.stdout.split()[-1]) / 1024


def test_deep_png_with_huge_tail_reads_bounded(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    ok, buf = cv2.imencode(".png", (np.random.default_rng(0).random((40, 48)) * 65535).astype(np.uint16))
    path.write_bytes(buf.tobytes())
    with open(path, "r+b") as fh:
        fh.truncate(len(buf) + (400 << 20))  # 400 MiB of zeros after IEND (sparse)
    code = f"from bbcu_cli.imagefiles import read_image; assert read_image({str(path)!r}).pixels.shape == (40, 48, 1)"
    base = _peak_rss_mb("import bbcu_cli.imagefiles")
    assert _peak_rss_mb(code) < base + 150


class _Endless(io.RawIOBase):
    """``yes | bbcu denoise -``: a stream that never ends (fails the test after 64 MiB)."""

    def __init__(self, head: bytes = b"") -> None:
        super().__init__()
        self.head, self.served = head, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        assert self.served < 64 << 20, "read without bound"
        n = len(b)
        chunk = (
            (self.head[self.served :] + b"y\n" * (n // 2 + 1))[:n]
            if self.served < len(self.head)
            else b"y\n" * (n // 2 + 1)
        )
        b[:n] = chunk[:n]
        self.served += n
        return n


def test_endless_stdin_is_bounded() -> None:
    stream = io.BufferedReader(_Endless())
    with pytest.raises(InputError, match="not a readable image"):
        read_image(stream)
    png = _png_rows(8, 8)
    with pytest.raises(InputError, match="holds more than"):
        read_image(io.BufferedReader(_Endless(png[:-12])))  # a header, then endless bytes


# --- 11: symlink loops under ** -----------------------------------------------------------


@pytest.mark.timeout(60)
def test_recursive_glob_survives_symlink_loops(tmp_path: Path) -> None:
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    (sub / "up").symlink_to("..")
    (sub / "top").symlink_to("../..")
    (tmp_path / "a" / "self").symlink_to(".")
    for p in (tmp_path / "a" / "x.png", sub / "y.png"):
        PILImage.fromarray(np.zeros((4, 4), np.uint8)).save(p)
    found = list_images([str(tmp_path / "**" / "*.png")], True)
    assert sorted(p.name for p in found) == ["x.png", "y.png"]
    assert sorted(p.name for p in list_images([str(tmp_path)], True)) == ["x.png", "y.png"]


# --- 12: SIGTERM and stale temporary files ------------------------------------------------


@pytest.mark.timeout(300)
def test_sigterm_is_handled_like_sigint(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    _inputs(src)
    proc = _start(src, out)
    _wait_for_first_output(out, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr.decode()
    assert "interrupted after" in stderr.decode() and "Traceback" not in stderr.decode()
    _check_partial(out)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporary_files_are_swept(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    host = "".join(c for c in socket.gethostname() if c.isalnum())[:16]
    dead = out / f".a.png.bbcu-{host}-{_dead_pid()}-abcd1234.tmp"
    live = out / f".b.png.bbcu-{host}-{os.getppid()}-abcd1234.tmp"
    old = out / f".c.png.bbcu-otherhost-{os.getppid()}-abcd1234.tmp"
    foreign = [out / ".a.png.x1y2z3w4.tmp", out / "notes.tmp", out / f".a.png.bbcu-{host}-1-abcd1234.part"]
    for p in [dead, live, old, *foreign]:
        p.write_bytes(b"x")
    os.utime(old, (time.time() - STALE_SECONDS - 60,) * 2)
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "i.png")
    res = run_cli(capsys, "denoise", tmp_path / "i.png", "-m", MODEL, "-o", out / "i.png", "--sigma", "5")
    assert res.code == 0, res.err
    assert not dead.exists() and not old.exists()
    assert live.exists() and all(p.exists() for p in foreign)
    assert sweep_stale(out, now=time.time()) == []


# --- 13: Ctrl-C while importing -----------------------------------------------------------


def test_ctrl_c_during_import_is_quiet(tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typer':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, _Interrupt())\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), str(REPO)]))
    res = subprocess.run(
        [sys.executable, "-m", "bbcu_cli", "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert res.returncode == 130
    assert res.stderr.strip() == "interrupted"


# --- 14: closed streams and CLI values that used to be internal errors --------------------


def test_closed_stdin_and_stdout(tmp_path: Path) -> None:
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "i.png")
    base = f"{sys.executable} -m bbcu_cli denoise"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for cmd, needle in [
        (f"{base} - -m {MODEL} -o o.png <&-", "stdin is closed"),
        (f"{base} i.png -m {MODEL} -o - >&-", "is closed"),
        (f"{base} i.png -m {MODEL} -o j.png --json >&-", "cannot write to stdout"),
    ]:
        res = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 1, (cmd, res.stderr)
        assert needle in res.stderr, (cmd, res.stderr)
        _one_line_errors(res.stderr)


def test_metrics_crop_larger_than_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    PILImage.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "s.png")
    res = run_cli(capsys, "metrics", tmp_path / "s.png", tmp_path / "s.png", "--crop", "100")
    assert res.code == 1
    assert "leaves 0x0 of a 64x64 image" in res.err and "--crop 26" in res.err
    _one_line_errors(res.err)


@pytest.mark.parametrize(
    "args",
    [
        ["--size", "100000x100000"],
        ["--feat", "0"],
        ["--depth", "0"],
        ["--arch", "dncnn", "--depth", "1"],
        ["--backend", "float", "--backend", "bogus"],
    ],
)
def test_bench_bad_values_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    res = run_cli(capsys, "bench", "--repeat", "1", "--size", "16x16", *args)
    assert res.code == 2, res.err
    assert res.err.startswith("error: ") and res.err.count("\n") == 1
    _one_line_errors(res.err)


# --- 18: decoder chatter attached to files; names escaped ---------------------------------


def _deep_png_bad_idat() -> bytes:
    """A 16-bit PNG whose IDAT holds damaged deflate data under a correct CRC (libpng complains)."""
    ok, buf = cv2.imencode(".png", (np.random.default_rng(0).random((40, 48)) * 65535).astype(np.uint16))
    data = bytearray(buf.tobytes())
    at = data.find(b"IDAT")
    length = struct.unpack(">I", data[at - 4 : at])[0]
    body = bytearray(data[at + 4 : at + 4 + length])
    body[10:40] = b"\xff" * 30
    data[at + 4 : at + 4 + length] = body
    data[at + 4 + length : at + 8 + length] = struct.pack(">I", zlib.crc32(b"IDAT" + bytes(body)))
    return bytes(data)


def test_decoder_chatter_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "deep.png").write_bytes(_deep_png_bad_idat())
    res = _run(["denoise", "deep.png", "-m", str(MODEL), "-o", "out.png"], cwd=tmp_path)
    assert res.returncode == 1
    assert "libpng" not in res.stderr.replace("deep.png is truncated or corrupt: libpng", "")
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert all("deep.png" in line or line[0].isdigit() or line.startswith("denoise:") for line in lines), res.stderr


def test_names_with_control_characters_are_escaped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    name = "evil\x1b[2J\nname.png"
    (tmp_path / name).write_bytes(b"not an image")
    res = run_cli(capsys, "denoise", tmp_path / name, "-m", MODEL, "-o", tmp_path / "o.png")
    assert res.code == 1
    assert "\x1b" not in res.err and "evil\\x1b[2J\\nname.png" in res.err
    assert printable("a\nb\x1b") == "a\\nb\\x1b"


def test_names_with_control_characters_are_escaped_on_ok_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The success path too: per-file ``ok`` lines (shown off a terminal and under capture), the
    left-out note and the summary's ``outputs in`` never print a control character raw."""
    src = tmp_path / "in"
    src.mkdir()
    good = src / "evil\x1b[31m\nname.png"
    PILImage.fromarray((_gradient() * 255).astype(np.uint8)).save(good, format="PNG")
    shutil.copy(good, src / "old\x1b[1m_denoised.png")
    res = run_cli(capsys, "denoise", src, "-m", MODEL, "-o", tmp_path / "o\x1b[2Jut")
    assert res.code == 0, res.err
    assert "\x1b" not in res.err
    assert "ok " in res.err and "evil\\x1b[31m\\nname.png -> " in res.err
    assert "old\\x1b[1m_denoised.png" in res.err and "outputs in " in res.err and "o\\x1b[2Jut" in res.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["denoise", "-m", str(MODEL), "--sigma", "nan"], "--sigma nan is not a number"),
        (["denoise", "-m", str(MODEL), "--threads", "99999999999"], "99999999999 is not in the range 0<=x<=4096"),
        (["upscale", "-s", "0"], "-s 0: scale must be 2, 3 or 4 (pass -s 2, -s 3 or -s 4, or e.g. --outscale 1.5"),
        (["upscale", "--outscale", "nan"], "--outscale nan: not a number"),
        (["upscale", "--outscale", "inf"], "--outscale inf: not a number"),
    ],
)
def test_bad_numbers_are_usage_errors_with_a_working_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    """NaN slipped through click's ranges, a huge thread count overflowed, and -s 0 used to
    suggest --outscale 0: each is now exit 2 with nothing written."""
    src = tmp_path / "a.png"
    PILImage.fromarray((_gradient() * 255).astype(np.uint8)).save(src)
    res = run_cli(capsys, args[0], src, *args[1:], "-o", tmp_path / "o.png")
    assert res.code == 2 and message in res.err, res.err
    assert not (tmp_path / "o.png").exists()


def test_output_without_extension_refused_before_compute(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    PILImage.fromarray((_gradient() * 255).astype(np.uint8)).save(src)
    res = run_cli(capsys, "denoise", src, "-m", MODEL, "-o", tmp_path / "noext")
    assert res.code == 2 and "has no extension to pick the image format from" in res.err, res.err
    assert "denoise:" not in res.err  # refused before the run header: no compute
    assert run_cli(capsys, "denoise", src, "-m", MODEL, "-o", tmp_path / "noext", "--format", "png").code == 0
    assert (tmp_path / "noext").is_file()


def test_summary_names_no_output_location_when_nothing_was_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    res = run_cli(capsys, "denoise", bad, "-m", MODEL, "-o", tmp_path / "o.png")
    assert res.code == 1 and "0 ok, 0 skipped, 1 failed" in res.err
    assert "outputs in" not in res.err


def test_folder_at_the_output_path_fails_the_item(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A folder where the output file would go is neither kept as "existing output" (exit 0)
    nor written into: the item fails and says so."""
    src = tmp_path / "a.png"
    PILImage.fromarray((_gradient() * 255).astype(np.uint8)).save(src)
    (tmp_path / "a_denoised.png").mkdir()
    res = run_cli(capsys, "denoise", src, "-m", MODEL)
    assert res.code == 1 and "a_denoised.png: a folder of that name exists" in res.err, res.err
    assert "0 ok, 0 skipped, 1 failed" in res.err


def test_image_bytes_never_go_to_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from bbcu_cli.batch import output

    class Tty(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(Tty()))
    with pytest.raises(OutputError, match="refusing to write image data to a terminal"):
        output._stdout()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO()))
    assert output._stdout() is sys.stdout.buffer
