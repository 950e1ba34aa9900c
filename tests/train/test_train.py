"""``bbcu train``: tiny runs on generated images (a few seconds each, CPU)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from bbcu_cli.cli.train_cmd import parse_range, train_command
from bbcu_cli.errors import InputError, ModelFormatError, UsageError
from bbcu_cli.loading import build_model, load_model
from bbcu_cli.train import TrainConfig, lr_at, parse_duration, train
from bbcu_cli.train.checkpoint import init_from
from bbcu_cli.train.data import PatchSampler, dihedral
from bbcu_cli.weights.manifest import SCHEMA_VERSION, Provenance, load_manifest

torch.set_num_threads(1)


def _image(rng: np.random.Generator, size: int, cell: int = 8) -> np.ndarray:
    """Blocky colour image: learnable structure, not pure noise."""
    base = rng.integers(0, 256, (size // cell, size // cell, 3))
    return np.kron(base, np.ones((cell, cell, 1))).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    out = {name: root / name for name in ("train", "val")}
    for p in out.values():
        p.mkdir()
    for i in range(3):
        Image.fromarray(_image(rng, 64)).save(out["train"] / f"t{i}.png")
    for i in range(2):
        Image.fromarray(_image(rng, 24, 4)).save(out["val"] / f"v{i}.png")
    return out


def _cfg(folders: dict[str, Path], tmp_path: Path, task: str, **kw: object) -> TrainConfig:
    base = dict(
        task=task,
        scale=2,
        num_feat=8,
        depth=2 if task == "sr" else 4,
        batch=4,
        iters=8,
        data=[str(folders["train"])],
        val=str(folders["val"]),
        val_every=0,
        ckpt_every=0,
        log_every=2,
        lr=2e-3,
        run_dir=str(tmp_path / f"run-{task}"),
        amp=False,
        patch=16,
    )
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------ learning and export

TASKS = [("sr", {"arch": "bbcu-m"}), ("denoise", {}), ("deblock", {})]


@pytest.mark.parametrize("task,extra", TASKS, ids=[t for t, _ in TASKS])
def test_overfits_one_batch(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str, extra: dict
) -> None:
    """The real loop on one fixed batch (same crops, noise, JPEG): the loss must drop fast."""
    draw = PatchSampler.next_batch

    def fixed(self: PatchSampler) -> object:
        if not hasattr(self, "_fixed"):
            self._fixed = draw(self)  # type: ignore[attr-defined]
        return self._fixed  # type: ignore[attr-defined]

    monkeypatch.setattr(PatchSampler, "next_batch", fixed)
    res = train(_cfg(folders, tmp_path, task, iters=30, lr=5e-3, val="none", **extra))
    assert res.step == 30 and len(res.losses) == 30
    assert np.mean(res.losses[-3:]) < 0.95 * res.losses[0]


EXPORTS = TASKS + [("denoise", {"unshuffle": 2})]


@pytest.mark.parametrize("task,extra", EXPORTS, ids=[t for t, _ in TASKS] + ["denoise-unshuffle2"])
def test_export_matches_trained_model(folders: dict[str, Path], tmp_path: Path, task: str, extra: dict) -> None:
    res = train(_cfg(folders, tmp_path, task, **extra))
    assert res.export is not None and res.model is not None
    entry = json.loads(res.export.manifest.read_text())
    assert entry["file"] == res.export.weights.name and entry["size"] == res.export.weights.stat().st_size
    assert entry["arch"]["noise_channel"] == (task == "denoise") and entry["provenance"]["iterations"] == 8
    assert entry["arch"]["unshuffle"] == extra.get("unshuffle", 1)
    assert entry["metrics"]["val"]["images"] == 2 and entry["format"] == "bbcu-safetensors"
    known = set(Provenance.__dataclass_fields__)  # wall_time_s is checked once the schema has it
    checked = {**entry, "provenance": {k: v for k, v in entry["provenance"].items() if k in known}}
    assert (
        load_manifest({"schema_version": SCHEMA_VERSION, "models": [checked]}).get(entry["name"]).sha256
        == entry["sha256"]
    )
    assert entry["provenance"]["wall_time_s"] > 0
    packed, latent = load_model(res.export.weights), load_model(res.export.latent)
    assert packed.spec == latent.spec == replace(packed.spec, task=task)  # type: ignore[arg-type]
    x = torch.rand(1, 3, 12, 12)
    call = (lambda m: m(x, 30.0)) if task == "denoise" else (lambda m: m(x))
    with torch.no_grad():
        want = call(res.model.eval())
        torch.testing.assert_close(call(packed.model), want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(call(latent.model), want, rtol=0, atol=0)
    records = [json.loads(line) for line in (res.run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [2, 4, 6, 8]
    assert any("val_psnr" in r for r in records)


def test_checkpoint_reads_with_weights_only(folders: dict[str, Path], tmp_path: Path) -> None:
    res = train(_cfg(folders, tmp_path, "sr", val="none"))
    ckpt = torch.load(res.run_dir / "last.pt", weights_only=True)
    assert ckpt["step"] == 8 and ckpt["done"] and ckpt["config"]["task"] == "sr"
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "rng", "best", "metrics"}


# ------------------------------------------------------------------ resume and schedule


def test_resume_continues_identically(folders: dict[str, Path], tmp_path: Path) -> None:
    full = train(_cfg(folders, tmp_path, "denoise", iters=10, run_dir=str(tmp_path / "full"), val="none"))
    part = train(
        _cfg(folders, tmp_path, "denoise", iters=10, run_dir=str(tmp_path / "part"), val="none"),
        should_stop=lambda step: step >= 4,
    )
    assert part.interrupted and part.step == 4 and part.export is None
    ckpt = torch.load(tmp_path / "part" / "last.pt", weights_only=True)
    assert ckpt["step"] == 4 and ckpt["optimizer"]["state"][0]["step"].item() == 4
    rest = train(TrainConfig(run_dir=str(tmp_path / "part")), resume=True)
    assert rest.step == 10 and rest.losses == full.losses[4:]
    a, b = (torch.load(tmp_path / d / "last.pt", weights_only=True) for d in ("full", "part"))
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    lrs = [
        [json.loads(x)["lr"] for x in (tmp_path / d / "log.jsonl").read_text().splitlines()] for d in ("full", "part")
    ]
    assert lrs[0] == lrs[1]


def test_fresh_run_refuses_existing_run_dir(folders: dict[str, Path], tmp_path: Path) -> None:
    cfg = _cfg(folders, tmp_path, "sr", iters=2, val="none")
    train(cfg)
    with pytest.raises(UsageError):
        train(cfg)
    with pytest.raises(ModelFormatError):
        train(replace(cfg, run_dir=str(tmp_path / "nothing")), resume=True)


def test_time_budget_fixes_schedule(folders: dict[str, Path], tmp_path: Path) -> None:
    res = train(_cfg(folders, tmp_path, "sr", iters=None, time_budget=3.0, val="none", batch=2, patch=8))
    assert res.planned is not None and res.planned > 20 and res.step <= res.planned
    ckpt = torch.load(res.run_dir / "last.pt", weights_only=True)
    assert ckpt["scheduler"]["calibrated"] and ckpt["scheduler"]["planned"] == res.planned


def test_lr_schedule() -> None:
    cfg = TrainConfig(lr=1e-3, lr_min_ratio=0.01, warmup=0)
    assert lr_at(0, 100, cfg) == pytest.approx(1e-3)
    assert lr_at(50, 100, cfg) == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert lr_at(100, 100, cfg) == pytest.approx(1e-5)
    assert lr_at(0, 100, replace(cfg, warmup=10)) == pytest.approx(1e-4)


# ------------------------------------------------------------------ data, warm start, config


def test_sampler_shapes_and_reproducibility(folders: dict[str, Path]) -> None:
    cfg = _cfg(folders, Path("."), "sr", scale=4, patch=8).resolved()
    a, b = (PatchSampler(cfg, torch.Generator().manual_seed(3)) for _ in range(2))
    ba, bb = a.next_batch(), b.next_batch()
    assert ba.inp.shape == (4, 3, 8, 8) and ba.target.shape == (4, 3, 32, 32)
    assert torch.equal(ba.inp, bb.inp) and torch.equal(ba.target, bb.target)
    deb = PatchSampler(_cfg(folders, Path("."), "deblock", quality_range=(20, 40)).resolved(), torch.Generator())
    assert deb.qualities == [20, 30, 40] and len(deb.inputs[0]) == 3
    t = torch.arange(12).reshape(1, 3, 4)
    assert len({tuple(dihedral(t, k).flatten().tolist()) + dihedral(t, k).shape for k in range(8)}) == 8


def test_gray_fraction_mixes_gray_jpeg_patches(folders: dict[str, Path]) -> None:
    cfg = _cfg(folders, Path("."), "deblock", quality_range=(10, 10), gray_fraction=0.5, batch=64).resolved()
    batch = PatchSampler(cfg, torch.Generator().manual_seed(0)).next_batch()
    gray = [(t[0] == t[1]).all() and (t[1] == t[2]).all() for t in batch.target]
    assert 10 < sum(bool(g) for g in gray) < 54  # about half of 64, colour blocks are never gray
    for inp, tgt, g in zip(batch.inp, batch.target, gray):
        assert bool((inp[0] == inp[2]).all()) == bool(g)  # gray patches: R = G = B JPEG input too
        if g:
            assert not torch.equal(inp, tgt)  # a real JPEG, not the clean patch
    with pytest.raises(UsageError, match="gray fraction"):
        _cfg(folders, Path("."), "denoise", gray_fraction=0.5).resolved()


def test_init_from_skips_mismatched(folders: dict[str, Path], tmp_path: Path) -> None:
    res = train(_cfg(folders, tmp_path, "sr", iters=2, val="none"))
    x4 = build_model(replace(TrainConfig(task="sr", scale=4, num_feat=8, depth=2, iters=1).resolved().model_spec()))
    loaded, skipped = init_from(x4, res.export.latent)  # type: ignore[union-attr]
    assert "body.0.body.0.binary_conv.weight" in loaded and "conv_first.weight" in loaded
    assert any(k.startswith("upconv2") for k in skipped) and not any(k.startswith("upconv2") for k in loaded)
    assert torch.equal(x4.state_dict()["conv_first.weight"], res.model.state_dict()["conv_first.weight"])  # type: ignore[union-attr]


def test_config_checks_and_parsers() -> None:
    assert parse_duration("45m") == 2700 and parse_duration("1h30m") == 5400 and parse_duration("90") == 90
    assert parse_range("0,75", "sigma") == (0, 75) and parse_range("10-60", "q") == (10, 60)
    for bad in (lambda: parse_duration("soon"), lambda: parse_range("a,b", "sigma")):
        with pytest.raises(UsageError):
            bad()
    for kw in (
        {"task": "sr", "arch": "dncnn"},
        {"task": "sr"},
        {"task": "deblock", "noise_channel": True},
        {"task": "denoise", "sigma_range": (50, 10)},
        {"task": "sr", "scale": 5},
        {"task": "sr", "unshuffle": 2},
        {"task": "denoise", "unshuffle": 2, "patch": 33},
        {"task": "deblock", "unshuffle": 2, "patch": 36},
    ):
        with pytest.raises(UsageError):
            TrainConfig(**{"iters": 1, **kw} if kw != {"task": "sr"} else kw).resolved()  # type: ignore[arg-type]
    d = TrainConfig(task="denoise", iters=1).resolved()
    assert d.noise_channel and d.patch == 64 and d.depth == 17 and d.arch == "dncnn" and d.val_limit == 10
    assert TrainConfig.from_dict(d.to_dict()) == d


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"lr": float("inf")}, "lr inf must be a finite number"),
        ({"lr": float("nan")}, "lr nan must be a finite number"),
        ({"depth": 257}, "--depth 257 is outside 1..256"),
        ({"num_feat": 1025}, "--feat 1025 is outside 1..1024"),
        ({"name": "a/b"}, "--name 'a/b' is not a model name"),
    ],
)
def test_what_would_fail_after_training_is_refused_before(
    folders: dict[str, Path], tmp_path: Path, kw: dict, message: str
) -> None:
    """A run used to train, then end with a file no command loads (NaN weights, depth 257), an
    export error (--name a/b) or a missing --val, losing every step; now it never starts."""
    with pytest.raises(UsageError, match=message.replace(".", r"\.").replace("(", r"\(")):
        _cfg(folders, tmp_path, "sr", arch="bbcu-m", **kw).resolved()
    assert not (tmp_path / "run-sr").exists()


def test_missing_val_folder_is_refused_before_training(folders: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--val no-such-folder: no such folder"):
        train(_cfg(folders, tmp_path, "sr", arch="bbcu-m", val="no-such-folder"))
    assert not (tmp_path / "run-sr").exists()


@pytest.mark.parametrize("text", ["-5,10", "-80", "5-", "75,0", "a,b"])
def test_negative_or_malformed_ranges_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="bad sigma range"):
        parse_range(text, "sigma")
    with pytest.raises(UsageError, match="bad quality range"):
        parse_range("10.9,60.9", "quality", integers=True)


def test_init_from_a_foreign_checkpoint_is_refused(folders: dict[str, Path], tmp_path: Path) -> None:
    """A denoiser's weights for an SR model matched no tensor: it trained from scratch while the
    provenance said "initialised from"."""
    donor = train(_cfg(folders, tmp_path, "denoise", iters=1, val="none"))
    with pytest.raises(ModelFormatError, match="no tensor matches"):
        train(_cfg(folders, tmp_path, "sr", arch="bbcu-m", iters=1, val="none", init_from=str(donor.export.latent)))  # type: ignore[union-attr]


def test_failed_start_leaves_no_run_folder(folders: dict[str, Path], tmp_path: Path) -> None:
    """An unreadable ``--init-from`` or data folder left an empty run folder (or one holding
    only the data cache) behind; a folder that existed before is kept."""
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    cfg = _cfg(folders, tmp_path, "sr", arch="bbcu-m", iters=1, val="none", init_from=str(bad))
    with pytest.raises(ModelFormatError):
        train(cfg)
    assert not Path(str(cfg.run_dir)).exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        train(_cfg(folders, tmp_path, "sr", arch="bbcu-m", iters=1, val="none", data=[str(tmp_path / "empty")]))
    assert not (tmp_path / "run-sr").exists()
    (tmp_path / "run-sr").mkdir()
    with pytest.raises(ModelFormatError):
        train(cfg)
    assert (tmp_path / "run-sr").is_dir()


def test_damaged_resume_checkpoint_is_named(folders: dict[str, Path], tmp_path: Path) -> None:
    """A last.pt that lost a part ended in ``internal error: KeyError: 'model'``."""
    res = train(_cfg(folders, tmp_path, "denoise", iters=2, val="none"))
    ckpt = torch.load(res.run_dir / "last.pt", weights_only=True)
    del ckpt["model"]
    torch.save(ckpt, res.run_dir / "last.pt")
    with pytest.raises(ModelFormatError, match=r"last.pt: damaged training checkpoint \(no model\)"):
        train(_cfg(folders, tmp_path, "denoise", iters=4, val="none"), resume=True)


def test_nan_loss_stops_the_run(folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bbcu_cli.errors import BbcuError
    from bbcu_cli.train import loop

    monkeypatch.setattr(loop._Trainer, "train_step", lambda self, model: float("nan"))
    with pytest.raises(BbcuError, match="the loss became nan at step 1"):
        train(_cfg(folders, tmp_path, "sr", arch="bbcu-m", iters=3, val="none"))


def test_cli_trains_and_prints_manifest(folders: dict[str, Path], tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("other")(lambda: None)
    args = [
        "train",
        "--task",
        "deblock",
        "--feat",
        "8",
        "--depth",
        "3",
        "--data",
        str(folders["train"]),
        "--val",
        str(folders["val"]),
        "--patch",
        "16",
        "--batch",
        "2",
        "--iters",
        "4",
        "--quality-range",
        "10,30",
        "--run-dir",
        str(tmp_path / "cli"),
        "--name",
        "tiny-deblock",
        "--no-amp",
        "-q",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)
    assert entry["name"] == "tiny-deblock" and (tmp_path / "cli" / "tiny-deblock.safetensors").is_file()
    assert "quality" in entry["provenance"]["data"] and entry["metrics"]["val"]["quality"] == 10


def test_unshuffled_deblock_crops_sit_on_the_jpeg_grid(
    folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bbcu_cli.train.data as data

    monkeypatch.setattr(data, "dihedral", lambda t, k: t)  # keep crops where they were taken
    for r, want_aligned in ((2, True), (1, False)):
        cfg = _cfg(folders, Path("."), "deblock", unshuffle=r, patch=16, batch=48).resolved()
        sampler = PatchSampler(cfg, torch.Generator().manual_seed(1))
        offsets = set()
        for tgt in sampler.next_batch().target.mul(255).round().to(torch.uint8):
            for image in sampler.targets:
                hits = (image.unfold(1, 16, 1).unfold(2, 16, 1) == tgt[:, None, None]).flatten(3).all(-1).all(0)
                offsets |= {(int(y), int(x)) for y, x in hits.nonzero()}
        assert offsets and all(y % 8 == 0 and x % 8 == 0 for y, x in offsets) == want_aligned
