"""Issue #20, weights side (items 3, 5, 8, 14, 15, 16): crafted and damaged checkpoints, manifests,
cache files and download settings give one typed line naming the file and the fix, within bounded
memory, and nothing the user owns is deleted.

Every crafted file is generated here (from a bundled model or an official-format fixture).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from clihelp import run_cli
from conftest import FIXTURES
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from test_weights_support import WeightsServer, entry_dict, online, payload, register, server  # noqa: F401

from bbcu_cli import checkpoint_checks, loading
from bbcu_cli.errors import IntegrityError, ModelFormatError, UsageError, WeightsError
from bbcu_cli.loading import load_model, read_state_dict
from bbcu_cli.weights import fetch, get_manifest
from bbcu_cli.weights.download import MAX_TOTAL_BACKOFF_S, DownloadSettings, backoff_delays

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "bbcu_cli" / "weights" / "bundled" / "bbcu-denoise.safetensors"
DENOISE_PTH = FIXTURES / "denoise_f16_l6.pth"
GIB = 1 << 30


# ---------------------------------------------------------------- generators


def _bundled() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(BUNDLED), "pt") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata())


def _with_spec(path: Path, **changes: object) -> Path:
    """The bundled denoiser with its spec metadata changed (``spec=...`` replaces the text)."""
    tensors, meta = _bundled()
    spec = json.loads(meta["spec"])
    text = changes.pop("spec") if "spec" in changes else json.dumps({**spec, **changes})
    save_file(tensors, str(path), metadata={**meta, "spec": str(text)})
    return path


def _with_tensor(path: Path, key: str, change: Callable[[torch.Tensor], torch.Tensor]) -> Path:
    tensors, meta = _bundled()
    tensors[key] = change(tensors[key].clone()).contiguous()
    save_file(tensors, str(path), metadata=meta)
    return path


def _poison(t: torch.Tensor, value: float) -> torch.Tensor:
    t.view(-1)[0] = value
    return t


def _fixture_sd() -> dict[str, torch.Tensor]:
    obj = torch.load(DENOISE_PTH, weights_only=True)
    return obj.get("params", obj)


def _zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip of ``(name, payload, method, crc32, uncompressed size)`` members, written by hand."""
    body, central = bytearray(), bytearray()
    for name, data, method, crc, usize in members:
        raw = name.encode()
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), usize, len(raw), 0)
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0,
                crc,
                len(data),
                usize,
                len(raw),
                0,
                0,
                0,
                0,
                0,
                len(body),
            )
            + raw
        )
        body += head + raw + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(body), 0)
    return bytes(body + central + end)


def deflate_bomb(path: Path, blocks: int) -> Path:
    """A ``torch.save`` zip whose one tensor is ``blocks`` x 16 MiB of float zeros, deflated to
    about 16 KiB per block (the same byte-aligned deflate block repeated)."""
    small, numel = 1234567, blocks * (1 << 22)
    buf = io.BytesIO()
    torch.save({"params": {"model.0.weight": torch.zeros(small)}}, buf)
    members = []
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as template:
        for info in template.infolist():
            data = template.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(struct.pack("<i", small), struct.pack("<i", numel))
            if "/data/" not in info.filename:
                members.append((info.filename, data, 0, zlib.crc32(data), len(data)))
                continue
            comp = zlib.compressobj(9, zlib.DEFLATED, -15)
            chunk = bytes(1 << 24)
            block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
            crc = 0
            for _ in range(blocks):
                crc = zlib.crc32(chunk, crc)
            members.append((info.filename, block * blocks + comp.flush(), 8, crc, blocks << 24))
    path.write_bytes(_zip(members))
    return path


def legacy_lying_size(path: Path) -> Path:
    """A legacy (pre-zip) ``torch.save`` file whose storage declares 1.6 GB but holds 5 MB."""
    small, numel = 1234567, 400_000_000
    buf = io.BytesIO()
    torch.save({"params": {"model.0.weight": torch.zeros(small)}}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue().replace(struct.pack("<i", small), struct.pack("<i", numel))
    path.write_bytes(data.replace(struct.pack("<q", small), struct.pack("<q", numel)))
    return path


def crafted(folder: Path) -> dict[str, Path]:
    """Every crafted checkpoint of items 3, 14 and 15, by case name."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = DENOISE_PTH.read_bytes()
    sd = _fixture_sd()
    cases = {
        "deep-spec": lambda p: _with_spec(p, depth=100_000),
        "wide-spec": lambda p: _with_spec(p, num_feat=1024, depth=200),
        "spec-not-json": lambda p: _with_spec(p, spec="{not json"),
        "spec-a-list": lambda p: _with_spec(p, spec="[1, 2]"),
        "spec-missing-fields": lambda p: _with_spec(p, spec='{"arch": "dncnn"}'),
        "spec-unknown-arch": lambda p: _with_spec(p, arch="vit"),
        "spec-nan-k": lambda p: _with_spec(p, spec=_bundled()[1]["spec"].replace('"k": 65.0', '"k": NaN')),
        "short-signbits": lambda p: _with_tensor(p, "model.2.binary_conv.weight_signbits", lambda t: t[:, :-1]),
        "nan-weight": lambda p: _with_tensor(p, "model.0.weight", lambda t: _poison(t, float("nan"))),
        "inf-alpha": lambda p: _with_tensor(p, "model.2.binary_conv.weight_alpha", lambda t: _poison(t, float("inf"))),
    }
    out = {name: make(folder / f"{name}.safetensors") for name, make in cases.items()}
    torch.save({k: v.flatten() for k, v in sd.items()}, folder / "one-dim.pth")
    torch.save({i: v for i, v in enumerate(sd.values())}, folder / "int-keys.pth")
    (folder / "truncated.pth").write_bytes(raw[: len(raw) // 2])
    (folder / "header-too-long.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    (folder / "header-not-json.safetensors").write_bytes(struct.pack("<Q", 4) + b"{no}")
    offsets = {"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 1 << 42]}}
    blob = json.dumps(offsets).encode()
    (folder / "offsets-past-end.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob + bytes(64))
    out |= {
        p.stem: p
        for p in folder.iterdir()
        if p.stem in ("one-dim", "int-keys", "truncated") or p.stem.startswith(("header", "offsets"))
    }
    out["deflate-bomb"] = deflate_bomb(folder / "deflate-bomb.pth", 96)  # 1.5 GiB of floats in 1.6 MB
    out["legacy-lying-size"] = legacy_lying_size(folder / "legacy-lying-size.pth")
    return out


def _png(path: Path) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
    return path


# ---------------------------------------------------------------- item 3: memory before validation


def _no_real_build(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make ``build_model`` fail unless it runs on the meta device; returns the devices it saw."""
    seen: list[str] = []
    original = loading.build_model

    def guarded(spec: loading.ModelSpec) -> torch.nn.Module:
        device = torch.empty(0).device.type
        seen.append(device)
        assert device == "meta", f"a real {spec.describe()} was built before validation"
        return original(spec)

    monkeypatch.setattr(loading, "build_model", guarded)
    return seen


def test_deep_spec_refused_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_real_build(monkeypatch)
    with pytest.raises(ModelFormatError, match=r"depth = 100000 is outside 1\.\.256") as info:
        load_model(_with_spec(tmp_path / "deep.safetensors", depth=100_000))
    assert "deep.safetensors" in info.value.message


def test_spec_that_does_not_describe_the_tensors_is_refused_on_meta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _no_real_build(monkeypatch)
    with pytest.raises(ModelFormatError, match="the tensors do not match .*1024 feat, 200 layers"):
        load_model(_with_spec(tmp_path / "wide.safetensors", num_feat=1024, depth=200))
    assert seen == ["meta"]


def test_deflate_bomb_refused_from_the_zip_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint_checks, "MAX_TENSOR_BYTES", 8 << 20)
    bomb = deflate_bomb(tmp_path / "bomb.pth", 2)  # 32 MiB once decompressed, 36 KB on disk
    assert bomb.stat().st_size < 100_000
    loaded_by_torch: list[str] = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loaded_by_torch.append("x"))
    with pytest.raises(ModelFormatError, match=r"would decompress to 32\.0 MiB .* over the 8\.0 MiB limit") as info:
        read_state_dict(bomb)
    assert "bomb.pth" in info.value.message and not loaded_by_torch


def test_safetensors_declaring_more_than_the_limit_is_refused_from_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_checks, "MAX_TENSOR_BYTES", 100_000)  # the bundled file unpacks to ~1 MB
    with pytest.raises(ModelFormatError, match="once unpacked, over the"):
        read_state_dict(BUNDLED)


def test_crafted_checkpoints_stay_under_1_gib(tmp_path: Path) -> None:
    """Every crafted file loaded in a fresh process: each refused, peak RSS < 1 GiB (reported)."""
    files = crafted(tmp_path / "crafted")
    script = textwrap.dedent(
        """
        import json, resource, sys
        from bbcu_cli.errors import BbcuError
        from bbcu_cli.loading import load_model
        out = {}
        for name, path in json.loads(sys.argv[1]).items():
            try:
                load_model(path)
                out[name] = "loaded"
            except BbcuError as exc:
                out[name] = type(exc).__name__
        out["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(out))
        """
    )
    arg = json.dumps({k: str(v) for k, v in files.items()})
    res = subprocess.run([sys.executable, "-c", script, arg], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads(res.stdout.strip().splitlines()[-1])
    peak = report.pop("peak_rss_kib") * 1024
    print(f"peak RSS over {len(files)} crafted checkpoints: {peak / 2**20:.0f} MiB")
    assert report == dict.fromkeys(files, "ModelFormatError")
    assert peak < GIB


# ---------------------------------------------------------------- item 14: one typed line naming the file


@pytest.fixture(scope="module")
def crafted_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    files = crafted(tmp_path_factory.mktemp("crafted"))
    files.pop("deflate-bomb")  # covered above; 1.6 GB through the CLI in-process is not needed twice
    return files


CASES = [
    "deep-spec",
    "wide-spec",
    "spec-not-json",
    "spec-a-list",
    "spec-missing-fields",
    "spec-unknown-arch",
    "spec-nan-k",
    "short-signbits",
    "nan-weight",
    "inf-alpha",
    "one-dim",
    "int-keys",
    "truncated",
    "header-too-long",
    "header-not-json",
    "offsets-past-end",
    "legacy-lying-size",
]


@pytest.mark.parametrize("case", CASES)
def test_malformed_checkpoint_gives_one_line_naming_the_file(
    case: str, crafted_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = crafted_files[case]
    res = run_cli(capsys, "denoise", _png(tmp_path / "in.png"), "-o", tmp_path / "out.png", "-m", path, "-q")
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert res.code == 1, res.err
    assert len(lines) == 1 and lines[0].startswith("error: "), res.err
    assert path.name in lines[0] and "internal error" not in lines[0] and "Traceback" not in res.err
    assert lines[0].endswith(")")  # the hint: what to do about it
    assert not (tmp_path / "out.png").exists()


def test_torch_zip_named_safetensors_is_read_by_content(tmp_path: Path) -> None:
    """torch.load picks safetensors for a *.safetensors name; the loader goes by the bytes."""
    disguised = tmp_path / "really-a-pth.safetensors"
    shutil.copy(DENOISE_PTH, disguised)
    assert load_model(disguised).spec == load_model(DENOISE_PTH).spec


def test_deep_user_manifest_is_a_typed_error(online: Path, capsys: pytest.CaptureFixture[str]) -> None:
    online.mkdir(parents=True)
    (online / "models.json").write_text("[" * 100_000 + "]" * 100_000)
    res = run_cli(capsys, "models")
    assert res.code == 1 and "nested too deeply" in res.err and "models.json" in res.err
    assert "internal error" not in res.err and len(res.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("BBCU_WEIGHTS_URL", "http://[::1", "is not a valid URL"),
        ("BBCU_WEIGHTS_URL", "http:///no-host", "is not an http(s)://host"),
        ("BBCU_WEIGHTS_URL", "ftp://host/x", "is not an http(s)://host"),
        ("BBCU_DOWNLOAD_BACKOFF", "nan", "BBCU_DOWNLOAD_BACKOFF='nan' is not a number from 0 to 60"),
        ("BBCU_DOWNLOAD_BACKOFF", "inf", "is not a number from 0 to 60"),
        ("BBCU_DOWNLOAD_TIMEOUT", "-1", "is not a number from 0.1 to 600"),
        ("BBCU_DOWNLOAD_RETRIES", "1e9", "BBCU_DOWNLOAD_RETRIES='1e9' is not an integer from 0 to 10"),
        ("BBCU_DOWNLOAD_RETRIES", "2.5", "is not an integer"),
    ],
)
def test_bad_download_settings_are_named(
    var: str,
    value: str,
    message: str,
    online: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(online, entry_dict("tiny-x4", b"x", ["http://127.0.0.1:9/tiny-x4.safetensors"]))
    monkeypatch.setenv(var, value)
    with pytest.raises(WeightsError) as info:
        DownloadSettings.from_env()
    assert message in info.value.message and var in info.value.hint
    res = run_cli(capsys, "weights", "download", "tiny-x4", "-q")
    assert res.code == 1 and message in res.err and "internal error" not in res.err


def test_an_unparseable_manifest_url_is_a_download_error(online: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register(online, entry_dict("tiny-x4", b"x", ["http://[::1/tiny-x4.safetensors"]))
    res = run_cli(capsys, "weights", "download", "tiny-x4", "-q")
    assert res.code == 1 and "not a valid URL" in res.err and "internal error" not in res.err


# ---------------------------------------------------------------- item 15: accepted and silently wrong


@pytest.mark.parametrize("k", ["0", "-1", "nan", "inf", "-inf", "1e400"])
def test_bad_k_is_a_usage_error(k: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run_cli(
        capsys, "denoise", _png(tmp_path / "in.png"), "-o", tmp_path / "out.png", "-m", DENOISE_PTH, f"--k={k}", "-q"
    )
    assert res.code == 2 and "must be a finite number > 0" in res.err, res.err
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(UsageError):
        load_model(DENOISE_PTH, k=float(k))


def test_good_k_still_applies() -> None:
    assert load_model(DENOISE_PTH, k=7.5).spec.k == 7.5


def test_sign_bits_of_the_wrong_length_are_not_zero_padded(tmp_path: Path) -> None:
    for cut in (lambda t: t[:, :-1], lambda t: torch.cat([t, t[:, :1]], 1), lambda t: t[:-1]):
        path = _with_tensor(tmp_path / "bits.safetensors", "model.2.binary_conv.weight_signbits", cut)
        with pytest.raises(
            ModelFormatError, match=r"model\.2\.binary_conv\.weight_signbits .* expected uint8 \(C_out, 36\)"
        ):
            read_state_dict(path)


def test_sign_bits_without_alpha_are_refused(tmp_path: Path) -> None:
    tensors, meta = _bundled()
    del tensors["model.2.binary_conv.weight_alpha"]
    save_file(tensors, str(tmp_path / "noalpha.safetensors"), metadata=meta)
    with pytest.raises(ModelFormatError, match="has no model.2.binary_conv.weight_alpha"):
        read_state_dict(tmp_path / "noalpha.safetensors")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(value: float, tmp_path: Path) -> None:
    sd = _fixture_sd()
    sd["model.2.binary_conv.weight"] = _poison(sd["model.2.binary_conv.weight"].clone(), value)
    torch.save({"params": sd}, tmp_path / "bad.pth")
    with pytest.raises(ModelFormatError, match="holds NaN or infinite values"):
        load_model(tmp_path / "bad.pth")


def test_import_as_sr_of_a_denoiser_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_cli(capsys, "weights", "import", DENOISE_PTH, "--task", "sr", "--name", "not-sr")
    assert res.code == 1 and "not a sr model" in res.err and "--task denoise" in res.err, res.err
    assert get_manifest().find("not-sr") is None


def test_import_as_denoise_of_an_sr_model_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_cli(
        capsys, "weights", "import", FIXTURES / "bbcum_x2_f16_b2.pth", "--task", "denoise", "--name", "not-dn"
    )
    assert res.code == 1 and "not a denoise model" in res.err, res.err


def test_spec_task_is_never_overridden_into_another_kind(tmp_path: Path) -> None:
    assert load_model(BUNDLED, task="sr").spec.task == "denoise"  # type: ignore[arg-type]
    assert load_model(BUNDLED, task="deblock").spec.task == "deblock"  # type: ignore[arg-type]


# ---------------------------------------------------------------- item 5: mirror manifest as models.json


def test_mirror_manifest_as_models_json_keeps_bundled_models_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    assert run_cli(capsys, "weights", "mirror", mirror).code == 0
    other = tmp_path / "other-cache"
    other.mkdir()
    shutil.copy(mirror / "weights_manifest.json", other / "models.json")
    monkeypatch.setenv("BBCU_CACHE_DIR", str(other))
    monkeypatch.delenv("BBCU_WEIGHTS_URL", raising=False)
    bundled = [e for e in get_manifest().models if e.bundled]
    assert {e.name for e in bundled} >= {"bbcu-denoise-l22", "bbcu-p-x4"}
    res = run_cli(capsys, "denoise", _png(tmp_path / "in.png"), "-o", tmp_path / "out.png", "--offline", "-q")
    assert res.code == 0, res.err
    assert "bundled" in run_cli(capsys, "models").out


def test_mirror_into_a_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"keep me")
    res = run_cli(capsys, "weights", "mirror", target)
    assert res.code == 1 and "cannot write the mirror" in res.err and "it is a file" in res.err, res.err
    assert "Errno" not in res.err and target.read_bytes() == b"keep me"


def test_user_entry_for_another_file_is_not_bundled(tmp_path: Path) -> None:
    from bbcu_cli.weights.manifest import load_manifest

    shipped = load_manifest(REPO / "bbcu_cli" / "weights_manifest.json")
    entry = next(e for e in shipped.models if e.bundled).to_dict()
    other = dict(entry, bundled=False, sha256="0" * 64)
    merged = shipped.merged(load_manifest({"schema_version": 1, "models": [other]}))
    assert not merged.get(entry["name"]).bundled
    same = dict(entry, bundled=False, description="from a mirror")
    merged = shipped.merged(load_manifest({"schema_version": 1, "models": [same]}))
    assert merged.get(entry["name"]).bundled and merged.get(entry["name"]).description == "from a mirror"


# ---------------------------------------------------------------- item 8: damaged cache files are kept


def _imported(capsys: pytest.CaptureFixture[str]) -> Path:
    res = run_cli(capsys, "weights", "import", DENOISE_PTH, "--name", "my-denoiser")
    assert res.code == 0, res.err
    return Path(res.out.strip().splitlines()[-1])


def test_damaged_imported_model_is_refused_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cached = _imported(capsys)
    damaged = bytearray(cached.read_bytes())
    damaged[-1] ^= 0xFF
    cached.write_bytes(bytes(damaged))
    res = run_cli(capsys, "denoise", _png(tmp_path / "in.png"), "-o", tmp_path / "out.png", "-m", "my-denoiser", "-q")
    assert res.code == 1 and "is damaged: found sha256" in res.err and "expected" in res.err, res.err
    assert "bbcu weights import FILE --name my-denoiser" in res.err and "not in the cache" not in res.err
    assert cached.read_bytes() == bytes(damaged)  # the only copy and the evidence, untouched
    with pytest.raises(IntegrityError, match="left in place"):
        fetch(get_manifest().get("my-denoiser"))


def test_import_keeps_an_earlier_import_of_that_name(capsys: pytest.CaptureFixture[str]) -> None:
    """``weights import OTHER --name my-denoiser`` replaced the weights already under that name."""
    cached = _imported(capsys)
    before = cached.read_bytes()
    other = FIXTURES / "deblock_f16_l6.pth"  # same shapes, other weights
    res = run_cli(capsys, "weights", "import", other, "--name", "my-denoiser", "--task", "denoise")
    assert res.code == 1 and "'my-denoiser' is already imported with other weights" in res.err, res.err
    assert "--replace" in res.err and res.err.count("\n") == 1
    assert cached.read_bytes() == before and get_manifest().get("my-denoiser").sha256 != ""
    assert _imported(capsys) == cached  # the same file again: nothing to refuse
    before = cached.read_bytes()
    res = run_cli(capsys, "weights", "import", other, "--name", "my-denoiser", "--task", "denoise", "--replace")
    assert res.code == 0, res.err
    assert cached.read_bytes() != before


def test_damaged_download_is_moved_aside_then_replaced(online: Path, server: WeightsServer) -> None:
    data = payload(5000)
    register(online, entry_dict("tiny-x4", data, [server.add("tiny-x4.safetensors", data)]))
    cached = online / "weights" / "tiny-x4.safetensors"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"y" * 5000)
    assert fetch(get_manifest().get("tiny-x4")).read_bytes() == data
    aside = [p for p in cached.parent.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes() == b"y" * 5000


def test_damaged_download_kept_aside_when_the_download_fails(
    online: Path, server: WeightsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(5000)
    register(online, entry_dict("tiny-x4", data, [server.add("tiny-x4.safetensors", data, "404")]))
    cached = online / "weights" / "tiny-x4.safetensors"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"short")
    with pytest.raises(WeightsError, match="moved aside to") as info:
        fetch(get_manifest().get("tiny-x4"))
    assert "5 bytes (expected 5000)" in info.value.message
    assert [p.read_bytes() for p in cached.parent.iterdir() if ".corrupt-" in p.name] == [b"short"]
    monkeypatch.setenv("BBCU_OFFLINE", "1")
    cached.write_bytes(b"short again")
    with pytest.raises(IntegrityError, match="left in place"):
        fetch(get_manifest().get("tiny-x4"))
    assert cached.read_bytes() == b"short again"


# ---------------------------------------------------------------- item 16: bounded back-off


def test_backoff_schedule_is_capped() -> None:
    worst = DownloadSettings(retries=10, backoff=60.0)
    assert sum(backoff_delays(worst)) <= MAX_TOTAL_BACKOFF_S and len(backoff_delays(worst)) <= 10
    assert backoff_delays(DownloadSettings(retries=3, backoff=1.0)) == [1.0, 2.0, 4.0]
    assert backoff_delays(DownloadSettings(retries=10**9, backoff=1.0))[-1] <= 30.0


def test_retries_against_a_failing_server_end(
    online: Path, server: WeightsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(100)
    register(online, entry_dict("tiny-x4", data, [server.add("tiny-x4.safetensors", data, *["500"] * 20)]))
    monkeypatch.setenv("BBCU_DOWNLOAD_RETRIES", "10")
    monkeypatch.setenv("BBCU_DOWNLOAD_BACKOFF", "60")
    slept: list[float] = []
    monkeypatch.setattr("bbcu_cli.weights.download.time.sleep", slept.append)
    with pytest.raises(WeightsError, match="gave up after"):
        fetch(get_manifest().get("tiny-x4"))
    assert sum(slept) <= MAX_TOTAL_BACKOFF_S and len(server.requests) == len(slept) + 1
    assert os.listdir(online / "weights") in (["tiny-x4.safetensors.lock"], [])
