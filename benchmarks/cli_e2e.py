"""What a user waits for: ``bbcu upscale photo.png -s 4`` end to end, start-up included.

    python benchmarks/cli_e2e.py [--repeat 5] [--size 320x180] [--photo N]

A real photo (B100 image number ``--photo``, resized to 4x ``--size``) is made small three ways
(MATLAB bicubic, ``cv2.resize`` INTER_CUBIC without antialias, MATLAB bicubic then JPEG q75)
and upscaled x4 by fresh processes, each as a user would start it: ``bbcu upscale`` with the
default model and with ``-m bbcu-fast-x4`` (2 threads; each also with ``--no-route``, the model
alone without its clean variant and the detector), and a Python process that imports OpenCV
and runs FSRCNN or ESPCN through ``dnn_superres`` (the peers venv of ``benchmarks/peers.py``).
Also ``bbcu --help`` and ``bbcu models``. Prints the median wall time of ``--repeat`` runs of
each command (one warm-up first), measured back to back, its ratio to the FSRCNN process, and
the Y-PSNR (crop 4) of each output against the original photo. ``--batch N`` then times a
folder of N such inputs (the ``matlab`` one under N names): one ``bbcu upscale FOLDER`` against
one Python process that loads the OpenCV model once and loops over the folder.

The ``bbcu_cli`` package is byte-compiled first (``compileall``), as a user's install has it:
pip compiles a regular install, and an editable one writes ``__pycache__`` on its first run,
unless ``PYTHONDONTWRITEBYTECODE`` is set (as in some sandboxes, where every run would then
recompile about 0.1-0.2 s of bbcu's own sources; the OpenCV peers' packages are compiled).
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import peers  # noqa: E402

from bbcu_cli.degradations import degrade_sr  # noqa: E402
from bbcu_cli.metrics import image_metrics  # noqa: E402

DEGRADATIONS = ("matlab", "cv2-cubic", "jpeg75")
PEER = """
import sys, cv2
cv2.setNumThreads(2)
sr = cv2.dnn_superres.DnnSuperResImpl_create(); sr.readModel(sys.argv[1]); sr.setModel(sys.argv[4], 4)
cv2.imwrite(sys.argv[3], sr.upsample(cv2.imread(sys.argv[2])))
"""
PEER_FOLDER = """
import os, sys, cv2
cv2.setNumThreads(2)
sr = cv2.dnn_superres.DnnSuperResImpl_create(); sr.readModel(sys.argv[1]); sr.setModel(sys.argv[4], 4)
for name in sorted(os.listdir(sys.argv[2])):
    cv2.imwrite(os.path.join(sys.argv[3], name), sr.upsample(cv2.imread(os.path.join(sys.argv[2], name))))
"""


def wall(cmd: list[str], repeat: int) -> float:
    """Median wall seconds of ``cmd`` (one warm-up run first)."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def photo(index: int, size: tuple[int, int]) -> np.ndarray:
    """B100 image ``index`` as RGB uint8, resized (Lanczos) to exactly 4x ``size``."""
    w, h = size
    path = sorted((peers.SHARED / "datasets" / "bench" / "B100").glob("*.png"))[index]
    return np.asarray(Image.open(path).convert("RGB").resize((w * 4, h * 4), Image.LANCZOS))


def y_psnr(path: Path, hr: np.ndarray) -> float:
    """Y-PSNR (crop 4) of the image at ``path`` against ``hr``."""
    out = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return image_metrics(out, hr.astype(np.float32) / 255.0, crop=4, space="y")[0]


def commands(python: Path, bbcu: list[str], lr: Path, out: Path) -> dict[str, list[str]]:
    """The command lines to compare, by label; each writes ``out``."""
    peer = [str(python), "-c", PEER]
    own = ["upscale", str(lr), "-s", "4", "-o", str(out), "--overwrite", "--threads", "2", "-q"]
    return {
        "bbcu upscale (default)": bbcu + own,
        "bbcu upscale --no-route": bbcu + own + ["--no-route"],
        "bbcu upscale -m bbcu-fast-x4": bbcu + own + ["-m", "bbcu-fast-x4"],
        "bbcu upscale -m bbcu-fast-x4 --no-route": bbcu + own + ["-m", "bbcu-fast-x4", "--no-route"],
        "FSRCNN process": peer + [str(peers.SHARED / "peers" / "FSRCNN_x4.pb"), str(lr), str(out), "fsrcnn"],
        "ESPCN process": peer + [str(peers.SHARED / "peers" / "ESPCN_x4.pb"), str(lr), str(out), "espcn"],
    }


def measure(
    python: Path, bbcu: list[str], folder: Path, hr: np.ndarray, how: str, repeat: int
) -> list[tuple[str, float, float]]:
    """``(label, seconds, Y-PSNR)`` of every command on ``hr`` made small by ``how``."""
    lr = folder / f"lr_{how}.png"
    Image.fromarray(degrade_sr(hr, 4, how)).save(lr)
    rows = []
    for label, cmd in commands(python, bbcu, lr, folder / "out.png").items():
        rows.append((label, wall(cmd, repeat), y_psnr(folder / "out.png", hr)))
    return rows


def batch(python: Path, bbcu: list[str], folder: Path, hr: np.ndarray, count: int, repeat: int) -> None:
    """Print the wall time of one process over ``count`` inputs, per image and against FSRCNN."""
    src, dst = folder / "batch_in", folder / "batch_out"
    src.mkdir()
    dst.mkdir()
    small = Image.fromarray(degrade_sr(hr, 4, "matlab"))
    for i in range(count):
        small.save(src / f"{i:04d}.png")
    own = ["upscale", str(src), "-s", "4", "-o", str(dst), "--overwrite", "--threads", "2", "-q"]
    peer = [str(python), "-c", PEER_FOLDER]
    runs = {
        "bbcu upscale FOLDER (default)": bbcu + own,
        "bbcu upscale FOLDER -m bbcu-fast-x4": bbcu + own + ["-m", "bbcu-fast-x4"],
        "FSRCNN, one process": peer + [str(peers.SHARED / "peers" / "FSRCNN_x4.pb"), str(src), str(dst), "fsrcnn"],
        "ESPCN, one process": peer + [str(peers.SHARED / "peers" / "ESPCN_x4.pb"), str(src), str(dst), "espcn"],
    }
    times = {label: wall(cmd, repeat) for label, cmd in runs.items()}
    ref = times["FSRCNN, one process"]
    print(f"\n{count} inputs in one process (median of {repeat})\n")
    print("| command | wall s | s per image | ratio to FSRCNN |\n|---|---|---|---|")
    for label, t in times.items():
        print(f"| {label} | {t:.2f} | {t / count:.3f} | {t / ref:.2f}x |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--photo", type=int, default=0, help="index of the B100 photo (sorted by name)")
    ap.add_argument("--batch", type=int, default=0, help="also time a folder of this many inputs")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    python = peers.ensure_venv(peers.default_venv())
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "bbcu_cli"), quiet=1)
    bbcu = [sys.executable, "-m", "bbcu_cli"]
    hr = photo(args.photo, size)  # type: ignore[arg-type]
    print(f"x4 of a {args.size} photo (B100 #{args.photo}), fresh process per run, median of {args.repeat}\n")
    print("| input made by | command | wall s | ratio to FSRCNN | Y-PSNR dB |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for how in DEGRADATIONS:
            rows = measure(python, bbcu, Path(tmp), hr, how, args.repeat)
            ref = dict((label, t) for label, t, _ in rows)["FSRCNN process"]
            for label, t, db in rows:
                print(f"| {how} | {label} | {t:.2f} | {t / ref:.2f}x | {db:.2f} |")
        for label, cmd in (("bbcu --help", ["--help"]), ("bbcu models", ["models"])):
            print(f"| - | {label} | {wall(bbcu + cmd, args.repeat):.2f} | - | - |")
        if args.batch:
            batch(python, bbcu, Path(tmp), hr, args.batch, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
