"""Data-parallel training: two CPU processes (gloo) under ``torch.distributed.run``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, torch
from bbcu_cli.train import TrainConfig, train
cfg = TrainConfig(task="sr", arch="bbcu-m", scale=2, num_feat=8, depth=1, patch=12, batch=2, iters=6,
                  data=[sys.argv[1]], val=sys.argv[2], val_every=3, ckpt_every=3, log_every=1,
                  run_dir=sys.argv[3], amp=False, threads=1, command="test")
res = train(cfg)
assert res.step == 6 and not res.interrupted
assert (res.export is not None) == (torch.distributed.is_torchelastic_launched() and int(__import__("os").environ["RANK"]) == 0)
"""


# Seen once in about 15 runs on a 2-core machine: a rank aborts in gloo's C++ teardown after the
# run is complete ("terminate called without an active exception", SIGABRT, after both ranks
# passed the final barrier and left the process group). Only that signature is retried, once.
_GLOO_SHUTDOWN_ABORT = "terminate called without an active exception"


def _torchrun(tmp_path: Path, script_text: str, *args: Path) -> None:
    """Run ``script_text`` as two CPU processes under ``torch.distributed.run``; assert success."""
    script = tmp_path / "ddp_script.py"
    script.write_text(script_text)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        *map(str, args),
    ]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=80)
    if proc.returncode != 0 and _GLOO_SHUTDOWN_ABORT in proc.stderr:
        for arg in args:  # start from scratch: the run folder must not hold the aborted run
            if arg.name == "run" and arg.exists():
                shutil.rmtree(arg)
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=80)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.timeout(180)
def test_two_process_ddp_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data, val = tmp_path / "train", tmp_path / "val"
    for folder, size, count in ((data, 48, 3), (val, 24, 1)):
        folder.mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (size, size, 3)).astype(np.uint8)).save(folder / f"{i}.png")
    run = tmp_path / "run"
    _torchrun(tmp_path, SCRIPT, data, val, run)
    entry = json.loads((run / "manifest_entry.json").read_text())
    assert (run / entry["file"]).is_file() and entry["provenance"]["iterations"] == 6
    assert "2 x cpu" in entry["provenance"]["notes"]
    steps = [
        json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines() if "loss" in json.loads(line)
    ]
    assert steps == [1, 2, 3, 4, 5, 6]  # rank 0 alone logs
    ckpt = torch.load(run / "last.pt", weights_only=True)
    states = ckpt["rng"]["data"]
    assert len(states) == 2 and not torch.equal(states[0], states[1])  # each rank its own data stream


BUDGET_SCRIPT = """
import os, sys
from bbcu_cli.train import TrainConfig, train
cfg = TrainConfig(task="denoise", num_feat=8, depth=3, patch=8, batch=2, time_budget=6.0,
                  data=[sys.argv[1]], val="none", val_every=0, ckpt_every=0, log_every=10,
                  run_dir=sys.argv[2], amp=False, threads=1, command="test")
res = train(cfg)
with open(os.path.join(sys.argv[3], "rank" + os.environ["RANK"]), "w") as fh:
    fh.write(f"{res.step} {res.planned}")
"""


@pytest.mark.timeout(180)
def test_two_process_time_budget_replans_in_step(tmp_path: Path) -> None:
    """Re-estimated plans are rank 0's on every rank: the ranks stop at the same step."""
    data = tmp_path / "train"
    data.mkdir()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32, 3)).astype(np.uint8)).save(data / "0.png")
    run = tmp_path / "run"
    _torchrun(tmp_path, BUDGET_SCRIPT, data, run, tmp_path)
    ranks = [(tmp_path / f"rank{r}").read_text() for r in (0, 1)]
    assert ranks[0] == ranks[1], ranks
    plans = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if '"planned"' in x]
    assert len(plans) >= 2, plans  # the first plan and at least one re-estimate
