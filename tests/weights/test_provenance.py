"""Provenance that travels: shipped and exported weights name no folder of the training machine.

The checks here are independent of the rewriting code: the byte string of the folder the
repository sits in (the training machine's root), and a strict scan of every metadata string
(JSON decoded, keys included) for anything that starts like an absolute path.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from bbcu_cli.loading import build_model, save_model
from bbcu_cli.train import TrainConfig, train
from bbcu_cli.train import paths as train_paths
from bbcu_cli.train.checkpoint import portable_metadata
from bbcu_cli.train.config import datasets_root, locate_data, portable_path, portable_text

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
MACHINE_ROOT = str(Path(__file__).resolve().parents[3])  # the folder the repository sits in
BUNDLED, KEPT = ROOT / "bbcu_cli" / "weights" / "bundled", ROOT / "training" / "weights"
SHIPPED = sorted(BUNDLED.glob("*.safetensors")) + sorted(KEPT.glob("*.safetensors"))
MANIFESTS = [ROOT / "bbcu_cli" / "weights_manifest.json"]  # the top-level file is a link to it
# Starts like an absolute path: "/" + a name character at the start of a token (not "15/25",
# "~/x", "https://x", "<abs>/x"), "file:///x", a Windows drive ("C:\x", "d:/x") or a UNC share.
ABSOLUTE = re.compile(
    r"""(?:^|(?<=[\s=:'"(\[{,;]))/[\w.~+@%-]|file:///[\w.~-]|(?<![\w])[A-Za-z]:[\\/][\w.~-]|(?<![\w\\])\\\\[\w.-]"""
)


def header_bytes(path: Path) -> bytes:
    """The JSON header of a safetensors file (where the metadata lives)."""
    raw = path.read_bytes()
    return raw[8 : 8 + int.from_bytes(raw[:8], "little")]


def metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def strings(value: Any) -> list[str]:
    """Every string of a JSON-like value, dict keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def absolute_paths(meta: dict[str, str]) -> list[str]:
    """Metadata strings (nested JSON decoded) that hold something starting like an absolute path."""
    found = []
    for text in meta.values():
        try:
            decoded: Any = json.loads(text)
        except ValueError:
            decoded = text
        found += [s for s in strings(decoded) if ABSOLUTE.search(s)]
    return found


def machine_strings() -> list[bytes]:
    """Byte strings that name folders of this machine."""
    names = {MACHINE_ROOT, "/work", str(Path.home())}
    return [n.encode() for n in names if n not in ("/", "")]


# ------------------------------------------------------------------ the checker itself


def test_absolute_path_scan_is_strict_but_precise() -> None:
    flagged = [
        "/work/x",
        "--data /tmp/a",
        "--val=/srv/b",
        "(/opt/c)",
        "'/home/me/my data'",
        "file:///work/x",
        "C:\\Users\\x",
        "d:/x",
        "\\\\host\\share",
        "PATH=/a:/b",
    ]
    clean = [
        "datasets/train/T91",
        "sigma 15/25/50",
        "and/or",
        "~/data",
        "$HOME/x",
        "https://github.com/Zj-BinXia/BBCU",
        "<abs>/x4_snapshot.pt",
        "training/runs/x",
        "a / b",
        "split on '/'",
    ]
    assert [s for s in flagged if not ABSOLUTE.search(s)] == []
    assert [s for s in clean if ABSOLUTE.search(s)] == []
    assert [s for s in flagged if ABSOLUTE.search(portable_text(s))] == []  # the rewriting catches them all
    assert [s for s in clean if portable_text(s) != s] == []  # and leaves the rest alone


def test_portable_paths() -> None:
    assert portable_path(datasets_root() / "train" / "T91") == "datasets/train/T91"
    assert portable_path(str(ROOT / "training" / "weights" / "x.safetensors")) == "training/weights/x.safetensors"
    assert portable_path("/somewhere/else/x4_snapshot.pt") == "<abs>/x4_snapshot.pt"
    assert portable_path("C:\\Users\\me\\T91") == "<abs>/T91" and portable_path("runs/x") == "runs/x"
    text = f"bbcu train --data {datasets_root()}/train/T91 --init-from '/tmp/my run/last.pt' (see https://x.org/a/b, 15/25)."
    assert (
        portable_text(text)
        == "bbcu train --data datasets/train/T91 --init-from '<abs>/last.pt' (see https://x.org/a/b, 15/25)."
    )
    assert locate_data("datasets/train/T91") == str(datasets_root() / "train" / "T91")
    meta = {
        "a": json.dumps({"cmd": "--val /x/y", "n": [1, "/p/q"]}),
        "b": "from /tmp/z.pt",
        "c": "1",
        "d": json.dumps({"k": "v"}),
    }
    once = portable_metadata(meta)
    assert portable_metadata(once) == once and absolute_paths(once) == [] and once["d"] == meta["d"]


# ------------------------------------------------------------------ what the repository ships


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_weights_name_no_machine_folder(path: Path) -> None:
    if MACHINE_ROOT != "/":
        assert MACHINE_ROOT.encode() not in path.read_bytes()
    header = header_bytes(path)
    assert [n for n in machine_strings() if n in header] == []
    assert absolute_paths(metadata(path)) == []


def test_shipped_weights_identify_their_data() -> None:
    """Every bundled model with a training config records its datasets portably, with digests."""
    for path in SHIPPED:
        config = json.loads(metadata(path).get("train_config", "null"))
        if config is None or path.parent != BUNDLED:
            continue
        records = config["datasets"]
        assert [r["path"] for r in records if r["role"] == "train"] == config["data"], path.name
        assert all(
            r["path"].startswith("datasets/") and r["images"] > 0 and len(r["sha256"]) == 64 for r in records
        ), path.name


def test_manifests_name_no_machine_folder() -> None:
    for path in MANIFESTS:
        data = path.read_bytes()
        assert [n for n in machine_strings() if n in data] == [] and absolute_paths({"m": data.decode()}) == []


def test_portable_metadata_script_finds_nothing_to_do(tmp_path: Path) -> None:
    script = ROOT / "training" / "portable_metadata.py"
    assert subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True).returncode == 0
    f = tmp_path / "x.safetensors"
    tensors = {"w": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.uint8)}
    save_file(
        tensors, str(f), metadata={"train_config": json.dumps({"data": ["/mnt/x/T91"]}), "notes": "from /tmp/a.pt"}
    )
    runs = [
        subprocess.run([sys.executable, str(script), *flags, str(f)], capture_output=True, text=True)
        for flags in (["--check"], [], ["--check"])
    ]
    assert [r.returncode for r in runs] == [1, 0, 0], runs[1].stderr
    assert metadata(f) == {"train_config": json.dumps({"data": ["<abs>/T91"]}), "notes": "from <abs>/a.pt"}
    with safe_open(str(f), framework="pt") as fh:
        assert all(torch.equal(fh.get_tensor(k), v) for k, v in tensors.items()) and set(fh.keys()) == set(tensors)


# ------------------------------------------------------------------ what bbcu train exports


def _images(folder: Path, count: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    paths = [folder / f"i{i}.png" for i in range(count)]
    for p in paths:
        Image.fromarray(np.kron(rng.integers(0, 256, (6, 6, 3)), np.ones((8, 8, 1))).astype(np.uint8)).save(p)
    return paths


def _digest(paths: list[Path]) -> str:
    """``sha256sum FILES | sha256sum``, as documented for the dataset records."""
    listing = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(paths))
    return hashlib.sha256(listing.encode()).hexdigest()


def test_tiny_run_exports_no_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared" / "datasets"
    monkeypatch.setattr(train_paths, "datasets_root", lambda: shared)
    inside, outside, val = (
        _images(shared / "train" / "A", 2, 0),
        _images(tmp_path / "more", 1, 1),
        _images(tmp_path / "my val", 2, 2),
    )
    init = tmp_path / "init-latent.safetensors"
    probe = TrainConfig(task="denoise", num_feat=8, depth=3, iters=1).resolved()
    save_model(init, build_model(probe.model_spec()), probe.model_spec(), latent=True)
    command = (
        f"bbcu train --data {shared}/train/A --data {tmp_path}/more --val '{tmp_path}/my val' "
        f"--init-from {init} --run-dir {tmp_path}/run"
    )
    notes = f"copied from {MACHINE_ROOT}/elsewhere/x.pt and {Path.home()}/y.pt; see {ROOT}/README.md"
    cfg = TrainConfig(
        task="denoise",
        num_feat=8,
        depth=3,
        batch=2,
        patch=16,
        iters=3,
        amp=False,
        val_every=0,
        ckpt_every=0,
        data=[str(shared / "train" / "A"), str(tmp_path / "more")],
        val=str(tmp_path / "my val"),
        run_dir=str(tmp_path / "run"),
        init_from=str(init),
        command=command,
        notes=notes,
    )
    res = train(cfg)
    assert res.export is not None
    files = [res.export.weights, res.export.latent, res.export.manifest]
    banned = machine_strings() + [str(tmp_path).encode()]
    for f in files:
        assert [n for n in banned if n in f.read_bytes()] == [], f.name
    for f in files[:2]:
        assert absolute_paths(metadata(f)) == [], f.name
    assert absolute_paths({"entry": res.export.manifest.read_text()}) == []
    exported = json.loads(metadata(res.export.latent)["train_config"])
    assert exported["data"] == ["datasets/train/A", "<abs>/more"] and exported["val"] == "<abs>/my val"
    assert exported["init_from"] == "<abs>/init-latent.safetensors" and exported["run_dir"] == "<abs>/run"
    assert exported["command"] == (
        "bbcu train --data datasets/train/A --data <abs>/more --val '<abs>/my val' "
        "--init-from <abs>/init-latent.safetensors --run-dir <abs>/run"
    )
    assert exported["datasets"] == [
        {"role": "train", "path": "datasets/train/A", "images": 2, "sha256": _digest(inside)},
        {"role": "train", "path": "<abs>/more", "images": 1, "sha256": _digest(outside)},
        {"role": "val", "path": "<abs>/my val", "images": 2, "sha256": _digest(val)},
    ]
    assert "see README.md" in json.loads(metadata(res.export.weights)["provenance"])["notes"]
    kept = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["config"]
    assert kept["data"] == cfg.data and kept["val"] == cfg.val  # the run's own checkpoint resumes as run
    assert TrainConfig.from_dict(exported).resolved().data[0] == str(shared / "train" / "A")
