"""Peak memory (RSS) of ``bbcu`` on big images: x4 upscaling of 2000x1500 and a 12000x8000 denoise.

    python benchmarks/memory.py [--cases sr,denoise] [--backends float,packed]
                                [--rows N] [--cols N] [--threads N] [--workdir DIR]

Each case runs ``python -m bbcu_cli ...`` in a fresh subprocess; its peak RSS comes from
``os.wait4`` (the kernel's ``ru_maxrss`` for that one child). Models are random (BBCU-M x4,
64 channels, 16 blocks; binary DnCNN, 32 channels, 17 layers) saved as .safetensors; inputs
are smooth noise PNGs. ``--rows N`` / ``--cols N`` use inputs of at most N rows/columns: a
quicker run of the same code path (with at least 3 tiles per side, an inner tile has the
full-size working set, so the full-size peak is about the cropped peak plus the difference in
input and output bytes). Targets: < 1.5 GB for the x4 case, < 2 GB
for the 96 MP denoise. Prints one row per case and backend; "unavailable" when the packed
kernel cannot run here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bbcu_cli.bench import random_model  # noqa: E402
from bbcu_cli.loading import ModelSpec, save_model  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    command: str
    spec: ModelSpec
    size: tuple[int, int]  # width, height
    target_mb: float


CASES = {
    "sr": Case("x4 upscale 2000x1500", "upscale", ModelSpec("bbcu-m", "sr", 4, 3, 64, 16, 130.0), (2000, 1500), 1500.0),
    "denoise": Case(
        "denoise 12000x8000", "denoise", ModelSpec("dncnn", "denoise", 1, 3, 32, 17, 65.0), (12000, 8000), 2000.0
    ),
}


@dataclass
class Row:
    case: str
    backend: str
    peak_mb: float | None
    wall_s: float | None
    note: str = ""


def make_model(spec: ModelSpec, path: Path) -> Path:
    if not path.exists():
        save_model(path, random_model(spec).model, spec)
    return path


def smooth_noise(width: int, height: int, seed: int = 0) -> np.ndarray:
    """``(height, width, 3)`` uint8: bicubic-upsampled random colours plus mild grain."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    img = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    for y in range(0, height, 1024):  # grain in strips: no full-size int16 copy
        band = img[y : y + 1024]
        band[:] = np.clip(band.astype(np.int16) + rng.integers(-6, 7, band.shape, dtype=np.int16), 0, 255)
    return img


def make_image(path: Path, width: int, height: int) -> Path:
    if not path.exists():
        Image.fromarray(smooth_noise(width, height)).save(path, compress_level=1)
    return path


def run_measured(cmd: list[str]) -> tuple[int, float, float, str]:
    """Run ``cmd``; return (exit code, peak RSS in MB, wall seconds, stderr tail)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
    return proc.returncode, usage.ru_maxrss / 1024.0, wall, " | ".join(tail)


def measure(key: str, backend: str, work: Path, crop: tuple[int, int], threads: int) -> Row:
    case = CASES[key]
    width, height = (min(full, c) if c else full for full, c in zip(case.size, crop))
    model = make_model(case.spec, work / f"{key}.safetensors")
    image = make_image(work / f"{key}_{width}x{height}.png", width, height)
    out = work / f"{key}_{backend}_out.png"
    cmd = [
        sys.executable,
        "-m",
        "bbcu_cli",
        case.command,
        str(image),
        "-m",
        str(model),
        "-o",
        str(out),
        "--backend",
        backend,
        "--overwrite",
        "-q",
        "--threads",
        str(threads),
    ]
    cropped = (width, height) != case.size
    label = f"{case.name} (crop {width}x{height})" if cropped else case.name
    code, peak, wall, tail = run_measured(cmd)
    if code != 0:
        note = "unavailable" if backend == "packed" and "packed" in tail.lower() else f"failed: {tail}"
        return Row(label, backend, None, None, note)
    scale = case.spec.scale if case.spec.task == "sr" else 1
    with Image.open(out) as img:
        ok = img.size == (width * scale, height * scale)
    target = "" if cropped else ("meets" if peak < case.target_mb else "OVER") + f" target < {case.target_mb:.0f} MB"
    return Row(label, backend, peak, wall, target if ok else "wrong output size")


def print_table(rows: list[Row]) -> None:
    head = f"{'case':<42} {'backend':<8} {'peak RSS MB':>12} {'wall s':>8}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        peak = f"{r.peak_mb:.0f}" if r.peak_mb is not None else "-"
        wall = f"{r.wall_s:.1f}" if r.wall_s is not None else "-"
        print(f"{r.case:<42} {r.backend:<8} {peak:>12} {wall:>8}  {r.note}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="sr,denoise", help="comma list of: " + ", ".join(CASES))
    parser.add_argument("--backends", default="float,packed", help="comma list of: float, packed")
    parser.add_argument("--rows", type=int, default=0, help="inputs of at most N rows (0: full size)")
    parser.add_argument("--cols", type=int, default=0, help="inputs of at most N columns (0: full size)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for bbcu (0: all cores)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep models/images here between runs")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bbcu-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for key in args.cases.split(","):
        for backend in args.backends.split(","):
            rows.append(measure(key.strip(), backend.strip(), work, (args.cols, args.rows), args.threads))
            print(f"done: {rows[-1]}", file=sys.stderr, flush=True)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
