"""Everyday use of the CLI (#18): reruns, any scale, feedback, metrics that pair, no silent
conflicts, help that teaches; and #20 defect 17 (``--suffix`` leaving the output folder).

Everything runs through ``bbcu`` (in-process, or a subprocess where logging set-up matters),
on small generated images with the bundled models or the official-format fixtures.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clihelp import run_cli
from conftest import FIXTURES
from PIL import Image
from rich.console import Console

from bbcu_cli.cli.helptext import ENVIRONMENT, default_models
from bbcu_cli.cli.report import TileBar

REPO = Path(__file__).resolve().parents[2]
DENOISER = FIXTURES / "denoise_f16_l6.pth"
ENV_NAME = re.compile(r"environ(?:\.get)?[\(\[]\s*\"([A-Z_]+)\"|_env_number\(\"([A-Z_]+)\"")


def _images(folder: Path, count: int, size: tuple[int, int] = (40, 32)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(count):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _json(res_out: str) -> dict:
    return json.loads(res_out)


def _inputs(payload: dict) -> list[str]:
    return sorted(Path(i["input"]).name for i in payload["items"])


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _bbcu(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m bbcu_cli ARGS`` in a fresh interpreter (logging is set up per process)."""
    env = {**os.environ, "BBCU_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.pop("BBCU_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "bbcu_cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# ---------------------------------------------------------------- 1. reruns


def test_denoise_folder_three_runs_then_upscale_touch_only_originals(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    originals = sorted(p.name for p in _images(folder, 5))
    counts = []
    for _ in range(3):
        res = run_cli(capsys, "denoise", folder, "--sigma", 25, "--json")
        assert res.code == 0, res.err
        payload = _json(res.out)
        assert _inputs(payload) == originals  # no output of a run is an input of the next
        counts.append((payload["summary"]["ok"], payload["summary"]["skipped"]))
    assert counts == [(5, 0), (0, 5), (0, 5)]
    assert _tree(folder) == originals
    assert _tree(tmp_path / "folder_denoised") == sorted(f"{Path(n).stem}_denoised.png" for n in originals)
    res = run_cli(capsys, "upscale", folder, "-s", 2, "--json")
    assert res.code == 0, res.err
    assert _inputs(_json(res.out)) == originals and _json(res.out)["summary"]["ok"] == 5
    assert _tree(folder) == originals


def test_listing_leaves_out_own_outputs_with_a_note(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "f"
    _images(folder, 1)
    for name in ("b00_x2_x4.png", "img0_denoised.png", "c_x1.5.png", "d_deblocked.png"):
        shutil.copy(folder / "img0.png", folder / name)
    res = run_cli(capsys, "denoise", folder, "-m", DENOISER, "--json")
    assert res.code == 0, res.err
    assert _inputs(_json(res.out)) == ["img0.png"]
    assert "left out 4 file(s) named like outputs of bbcu" in res.err
    named = run_cli(capsys, "denoise", folder / "c_x1.5.png", "-m", DENOISER, "-q")  # explicit files are kept
    assert named.code == 0 and (folder / "c_x1.5_denoised.png").is_file()


def test_listing_that_leaves_out_everything_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Pointing at a folder of earlier outputs (or making -o the input folder with an empty
    --suffix) leaves nothing to run: exit 1 like a folder without images, not a silent 0 ok."""
    folder = tmp_path / "f_denoised"
    _images(folder, 1)[0].rename(folder / "img0_denoised.png")
    res = run_cli(capsys, "denoise", folder, "-m", DENOISER)
    assert res.code == 1 and "all 1 image(s) found were left out as outputs of bbcu (img0_denoised.png)" in res.err
    plain = tmp_path / "plain"
    _images(plain, 2)
    res = run_cli(capsys, "denoise", plain, "-m", DENOISER, "--suffix", "", "-o", plain)
    assert res.code == 1 and "all 2 image(s) found were left out" in res.err


def test_shell_expanded_glob_drops_earlier_outputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _images(tmp_path, 1)[0]
    assert run_cli(capsys, "denoise", src, "-m", DENOISER, "-q").code == 0
    earlier = tmp_path / "img0_denoised.png"
    before = earlier.read_bytes()
    res = run_cli(capsys, "denoise", src, earlier, "-m", DENOISER, "--json")  # what `bbcu denoise *.png` passes
    assert res.code == 0, res.err
    assert [(Path(i["input"]).name, i["status"]) for i in _json(res.out)["items"]] == [("img0.png", "skipped")]
    assert earlier.read_bytes() == before and not (tmp_path / "img0_denoised_denoised.png").exists()


def test_pattern_into_folder_keeps_subfolders(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``'**/*.png' -o out/`` flattened a/x.png and b/x.png into one name (refused as a collision)."""
    for sub in ("a", "b/c"):
        _images(tmp_path / sub, 1)
    res = run_cli(capsys, "denoise", tmp_path / "**" / "*.png", "-r", "-m", DENOISER, "-o", tmp_path / "out", "-q")
    assert res.code == 0, res.err
    found = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert found == ["a/img0_denoised.png", "b/c/img0_denoised.png"]
    flat = run_cli(capsys, "denoise", tmp_path / "a" / "*.png", "-m", DENOISER, "-o", f"{tmp_path / 'flat'}/", "-q")
    assert flat.code == 0 and (tmp_path / "flat" / "img0_denoised.png").is_file()
    clash = run_cli(capsys, "denoise", *sorted(tmp_path.glob("[ab]/**/img0.png")), "-m", DENOISER, "-o", tmp_path / "x")
    assert clash.code == 2 and "name their folder or a pattern instead" in clash.err, clash.err


def test_overwrite_never_replaces_a_file_named_as_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``bbcu denoise a.png a_denoised.png --overwrite``: the second file may be an original named
    like an output; it is an input, so the run is refused and it stays as it was."""
    src = _images(tmp_path, 2)
    original = src[1].rename(tmp_path / "img0_denoised.png")
    before = original.read_bytes()
    res = run_cli(capsys, "denoise", src[0], original, "-m", DENOISER, "--overwrite")
    assert res.code == 2
    assert "img0_denoised.png is an input, and --overwrite would replace it with the output of" in res.err
    assert original.read_bytes() == before
    pattern = run_cli(capsys, "denoise", tmp_path / "*.png", "-m", DENOISER, "--overwrite", "-q")
    assert pattern.code == 0, pattern.err  # bbcu's own listing leaves earlier outputs out: replaced
    assert original.read_bytes() != before


def test_existing_output_skipped_by_default_overwrite_replaces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    src = _images(tmp_path, 1)[0]
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    args = ["denoise", src, "-m", DENOISER, "-o", out]
    res = run_cli(capsys, *args)
    assert res.code == 0 and out.read_bytes() == b"keep me"
    assert "1 skipped" in res.err and "pass --overwrite to replace" in res.err
    item = _json(run_cli(capsys, *args, "--skip-existing", "--json").out)["items"][0]
    assert item["status"] == "skipped" and "exists" in item["reason"] and out.read_bytes() == b"keep me"
    assert run_cli(capsys, *args, "--overwrite", "-q").code == 0 and out.read_bytes() != b"keep me"


def test_readme_set_up_line_succeeds_twice(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    line = next(cmd for cmd in re.findall(r"&& (bbcu upscale [^\n`]+)", readme))
    args = shlex.split(line)[1:]
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "bears_lr.png", tmp_path / "examples")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        first, second = run_cli(capsys, *args), run_cli(capsys, *args)
    finally:
        os.chdir(cwd)
    assert (first.code, second.code) == (0, 0), second.err
    assert "1 skipped" in second.err


# ---------------------------------------------------------------- 2. any scale


@pytest.mark.parametrize(("outscale", "size"), [(1.5, (62, 41)), (3, (123, 81)), (3.5, (144, 95))])
def test_outscale_gives_the_exact_size(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, outscale: float, size: tuple[int, int]
) -> None:
    """41x27 at 1.5 is 61.5 x 40.5: both halves go up (``round`` sent 40.5 down to 40)."""
    src = _images(tmp_path, 1, size=(41, 27))[0]
    res = run_cli(capsys, "upscale", src, "--outscale", outscale, "--json")
    assert res.code == 0, res.err
    payload = _json(res.out)
    out = Path(payload["items"][0]["output"])
    assert out.name == f"img0_x{outscale:g}.png"
    assert Image.open(out).size == size
    shipped = sorted(s for (task, s) in default_models() if task == "sr")
    assert payload["model_scale"] == min(s for s in shipped if s >= outscale) and payload["outscale"] == outscale


def test_outscale_says_which_model_scale_ran(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _images(tmp_path, 1)[0]
    res = run_cli(capsys, "upscale", src, "--outscale", 1.5)
    assert res.code == 0, res.err
    assert "x2 model resized to x1.5" in res.err


def test_scale_3_runs_or_points_to_outscale(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _images(tmp_path, 1, size=(20, 16))[0]
    res = run_cli(capsys, "upscale", src, "-s", 3, "-q")
    if ("sr", 3) in default_models():
        assert res.code == 0, res.err
        assert Image.open(tmp_path / "img0_x3.png").size == (60, 48)
    else:
        assert res.code == 2 and "--outscale 3" in res.err


@pytest.mark.parametrize("extra", [["--outscale", "9"], ["--outscale", "0.5"], ["--outscale", "3", "-s", "2"]])
def test_outscale_out_of_reach_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str]
) -> None:
    src = _images(tmp_path, 1)[0]
    res = run_cli(capsys, "upscale", src, *extra)
    assert res.code == 2
    assert not list(tmp_path.glob("img0_x*"))


# ---------------------------------------------------------------- 3. feedback


def test_header_per_file_lines_and_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _images(folder, 2)
    res = run_cli(capsys, "denoise", folder, "-m", DENOISER, "--threads", 1)
    assert res.code == 0, res.err
    header = next(line for line in res.err.splitlines() if line.startswith("denoise:"))
    for word in ("denoise_f16_l6.pth", "backend", "device cpu", "1 thread(s)", "tiles auto"):
        assert word in header
    assert (
        len(re.findall(r"^ok .*img\d\.png -> .*img\d_denoised\.png", res.err, re.M)) == 2
    )  # stderr is not a terminal here
    assert re.search(r"2 ok, 0 skipped, 0 failed in [\d.]+ s, [\d.]+ MP/s .*outputs in .*in_denoised", res.err)


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _images(tmp_path, 1)[0]
    res = run_cli(capsys, "denoise", src, "-m", DENOISER, "-q")
    assert (res.code, res.err, res.out) == (0, "", "")


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_command_shows_bbcu_debug_only(tmp_path: Path, where: str) -> None:
    _images(tmp_path, 1)
    cmd = ["denoise", "img0.png", "-m", str(DENOISER)]
    res = _bbcu(["-v", *cmd] if where == "before" else [*cmd, "-v"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "DEBUG bbcu_cli" in res.stderr and "tile(s)" in res.stderr and "backend" in res.stderr
    assert not re.search(r"\bPIL\b|STREAM", res.stderr)  # no Pillow chatter


def test_tile_bar_appears_after_the_delay_only_on_a_terminal() -> None:
    shown = io.StringIO()
    bar = TileBar(True, delay=0.0, console=Console(file=shown, force_terminal=True, width=80))
    bar(0, 4)
    bar(1, 4)
    assert bar.progress is not None  # the engine's TileProgress hook drives a Rich bar
    bar(4, 4)
    assert bar.progress is None and "tiles" in shown.getvalue()
    quiet = TileBar(True, delay=0.0, console=Console(file=io.StringIO(), force_terminal=False))
    quiet(0, 4)
    quiet(1, 4)
    assert quiet.progress is None
    slow = TileBar(True, delay=60.0, console=Console(file=io.StringIO(), force_terminal=True))
    slow(0, 4)
    slow(1, 4)
    assert slow.progress is None


# ---------------------------------------------------------------- 4. metrics


def test_metrics_pairs_by_stem_without_own_suffixes_and_prints_protocol(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    refs, outs = tmp_path / "refs", tmp_path / "out"
    ref = _images(refs, 1)[0].rename(refs / "ARMS.png")
    outs.mkdir()
    shutil.copy(ref, outs / "ARMS_x4.png")
    res = run_cli(capsys, "metrics", outs, refs, "--y", "--crop", 4)
    assert res.code == 0, res.err
    assert "ARMS_x4.png" in res.out and "ARMS.png" in res.out
    assert "protocol: Y, crop 4" in res.err
    payload = _json(run_cli(capsys, "metrics", outs, refs, "--json").out)
    assert payload["protocol"] == "RGB" and payload["items"][0]["reference"].endswith("ARMS.png")


def test_metrics_goes_on_past_a_bad_pair_and_names_unmatched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A pair of different sizes or a damaged file fails that pair only (exit 1, listed at the
    end, valid JSON); an output without a reference is named in a note and in ``unmatched``."""
    refs, outs = tmp_path / "refs", tmp_path / "out"
    good = _images(refs, 3)
    outs.mkdir()
    shutil.copy(good[0], outs / good[0].name)
    _images(tmp_path / "small", 1, size=(20, 16))[0].rename(outs / good[1].name)  # size mismatch
    (outs / good[2].name).write_bytes(b"not an image")
    shutil.copy(good[0], outs / "extra.png")
    res = run_cli(capsys, "metrics", outs, refs)
    assert res.code == 1
    assert good[0].name in res.out and "PSNR inf" in res.out
    assert f"failed: {outs / good[1].name} is 20x16 but" in res.err and f"failed: {outs / good[2].name}" in res.err
    assert "note: 1 file(s) without a reference of the same stem: extra.png" in res.err
    payload = _json(run_cli(capsys, "metrics", outs, refs, "--json").out)
    assert [i["status"] for i in payload["items"]] == ["ok", "failed", "failed"]
    assert payload["summary"]["failed"] == 2 and payload["unmatched"] == [str(outs / "extra.png")]


def test_metrics_and_ref_share_one_json_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _images(tmp_path, 1)[0]
    restored = _json(run_cli(capsys, "denoise", src, "-m", DENOISER, "--ref", src, "--json").out)
    measured = _json(run_cli(capsys, "metrics", tmp_path / "img0_denoised.png", src, "--json").out)
    assert set(measured) - {"unmatched"} <= set(restored)  # metrics' own key: outputs without a reference
    assert {"command", "model", "protocol", "items", "summary"} <= set(measured)
    assert set(measured["items"][0]) == set(restored["items"][0])
    assert set(measured["summary"]) == set(restored["summary"])
    assert restored["protocol"] == measured["protocol"] == "RGB"
    assert restored["items"][0]["psnr"] == pytest.approx(measured["items"][0]["psnr"])


def test_ref_folder_with_two_references_of_one_stem_is_refused(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """``x.png`` and ``x.jpg`` in a reference folder: which one is meant is not guessed (exit 2);
    an input without any reference is restored with a warning that says so."""
    src, refs = tmp_path / "in", tmp_path / "refs"
    images = _images(src, 2)
    refs.mkdir()
    shutil.copy(images[0], refs / images[0].name)
    Image.open(images[0]).save(refs / f"{images[0].stem}.jpg")
    res = run_cli(capsys, "denoise", src, "-m", DENOISER, "--ref", refs, "-o", tmp_path / "o")
    assert res.code == 2 and f"share the stem {images[0].stem!r}" in res.err, res.err
    (refs / f"{images[0].stem}.jpg").unlink()
    res = run_cli(capsys, "denoise", src, "-m", DENOISER, "--ref", refs, "-o", tmp_path / "o", "--json")
    assert res.code == 0, res.err
    assert f"no reference for {images[1]}" in caplog.text
    assert [i["psnr"] is not None for i in _json(res.out)["items"]] == [True, False]


def test_ref_prints_per_file_metrics_and_protocol(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = _images(tmp_path, 1, size=(24, 20))[0]
    hr = tmp_path / "hr.png"
    Image.open(src).resize((48, 40)).save(hr)
    res = run_cli(capsys, "upscale", src, "-s", 2, "--ref", hr)
    assert res.code == 0, res.err
    assert re.search(r"^ok .*PSNR [\d.]+ dB  SSIM [\d.]+", res.err, re.M)
    assert "(Y, crop 2)" in res.err


# ---------------------------------------------------------------- 5. conflicts, #20.17


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["-o", "x.jpg", "--format", "png"], "x.png"),
        (["--format", "ico"], "use one of"),  # gif is written since #19
        (["-o", "x.ppm"], ".png"),
        (["--suffix", "/../../x"], "path separator"),
        (["--suffix", "..\\x"], "path separator"),
    ],
)
def test_conflicts_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], words: str
) -> None:
    src = _images(tmp_path / "in", 1)[0]
    before = _tree(tmp_path)
    res = run_cli(capsys, "denoise", src, "-m", DENOISER, *extra)
    assert res.code == 2 and words in res.err
    assert _tree(tmp_path) == before and not (tmp_path.parent / "x.png").exists()


def test_single_file_output_with_several_inputs_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a, b = _images(tmp_path, 2)
    res = run_cli(capsys, "denoise", a, b, "-m", DENOISER, "-o", tmp_path / "single.png")
    assert res.code == 2 and "names one file but there are 2 inputs" in res.err
    assert not (tmp_path / "single.png").exists()
    _images(tmp_path / "one", 1)
    res = run_cli(capsys, "denoise", tmp_path / "one", "-m", DENOISER, "-o", tmp_path / "one.png")
    assert res.code == 2 and "a folder input" in res.err


# ---------------------------------------------------------------- 7. help


@pytest.mark.parametrize(("command", "task"), [("upscale", "sr"), ("denoise", "denoise"), ("deblock", "deblock")])
def test_command_help_teaches(capsys: pytest.CaptureFixture[str], command: str, task: str) -> None:
    res = run_cli(capsys, command, "--help")
    text = res.out
    assert res.code == 0 and "<bool>" not in text
    tail = text[text.index("Examples:") :]
    assert 2 <= len(re.findall(rf"bbcu {command} ", tail)) <= 4
    for (t, _scale), name in default_models().items():
        if t == task:
            assert name in text
    default_suffix = {"sr": "_x<scale>", "denoise": "_denoised", "deblock": "_deblocked"}[task]
    assert default_suffix in " ".join(text.split())


def test_root_help_lists_every_environment_variable_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_cli(capsys, "--help")
    assert res.code == 0 and "--install-completion" in res.out and "<bool>" not in res.out
    listed = " ".join(name for name, _ in ENVIRONMENT)
    read = {a or b for path in (REPO / "bbcu_cli").rglob("*.py") for a, b in ENV_NAME.findall(path.read_text())}
    readme = (REPO / "README.md").read_text()
    for name in sorted(read):
        assert name in listed, f"{name} is read but not listed"
        assert name in res.out, f"{name} missing from bbcu --help"
        assert name in readme, f"{name} missing from README"


def test_verbose_after_a_command_without_its_own_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "models", "-v").code == 0
    assert run_cli(capsys, "weights", "verify", "--verbose").code == 0


def test_quality_sets_jpeg_and_webp_compression(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--quality`` reaches the JPEG / WebP encoder; WebP at 100 is lossless; out of range is a usage error."""
    src = _images(tmp_path / "in", 1, (96, 80))[0]
    sizes = {}
    for q in (30, 95):
        out = tmp_path / f"q{q}.jpg"
        res = run_cli(capsys, "denoise", src, "--sigma", 25, "-m", DENOISER, "-o", out, "--quality", q, "-q")
        assert res.code == 0, res.err
        sizes[q] = out.stat().st_size
    assert sizes[30] < sizes[95]
    lossless = tmp_path / "l.webp"
    assert (
        run_cli(capsys, "denoise", src, "--sigma", 25, "-m", DENOISER, "-o", lossless, "--quality", 100, "-q").code == 0
    )
    png = tmp_path / "l.png"
    assert run_cli(capsys, "denoise", src, "--sigma", 25, "-m", DENOISER, "-o", png, "-q").code == 0
    with Image.open(lossless) as a, Image.open(png) as b:
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    assert run_cli(capsys, "denoise", src, "-m", DENOISER, "-o", tmp_path / "x.jpg", "--quality", 0).code == 2
