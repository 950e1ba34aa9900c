"""GPU check: the CUDA (folded) path against the reference, and how fast it is.

    python benchmarks/cuda_check.py [--repeat 5] [--json FILE] [--models NAME ...] [--device cpu]

Needs an NVIDIA GPU and a CUDA build of PyTorch (exits 2 without one). Three parts:

1. every official-format fixture (tests/fixtures/official) through ``--device cuda``: the
   largest difference to the reference code's output, in float and in 8-bit levels;
2. every bundled model on a crop of a real photo (examples/bears_lr.png): the CUDA output
   against the CPU float path, in 8-bit levels (largest difference, share of values that
   differ);
3. seconds per image on CUDA, as a user of the Python API gets them (numpy in, numpy out,
   transfers included; median of ``--repeat`` runs after two warm-ups) at 320x180 to
   1920x1080 input, for the bundled SR models: float32 out, uint8 out, and the network alone
   (the whole image already on the GPU), which shows how much is host work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbcu_cli.engine.restore import Restorer  # noqa: E402
from bbcu_cli.factory import create_model  # noqa: E402
from bbcu_cli.loading import load_model  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "official"
DEVICE = "cuda"
SIZES = ((320, 180), (640, 360), (1280, 720), (1920, 1080))


def levels(a: np.ndarray) -> np.ndarray:
    return np.round(np.clip(a, 0, 1) * 255).astype(np.int16)


def fixture_rows() -> list[dict[str, Any]]:
    rows = []
    for name, info in sorted(json.loads((FIXTURES / "fixtures.json").read_text()).items()):
        mode = "RGB" if info["in_channels"] == 3 else "L"
        img = np.asarray(Image.open(FIXTURES / info["input"]).convert(mode))
        pixels = img.astype(np.float32).reshape(img.shape[0], img.shape[1], -1) / 255.0
        out = Restorer(load_model(FIXTURES / info["checkpoint"]), device=DEVICE).restore(pixels)
        ref = np.load(FIXTURES / info["expected_float"]).transpose(1, 2, 0)
        png = np.asarray(Image.open(FIXTURES / info["expected_png"])).astype(np.int16)
        diff8 = np.abs(levels(out).reshape(png.shape) - png)
        rows.append({"fixture": name, "max_float": float(np.abs(out - ref).max()), "max_levels": int(diff8.max())})
    return rows


def bundled_names() -> list[str]:
    manifest = json.loads((ROOT / "weights_manifest.json").read_text())
    return [m["name"] for m in manifest["models"] if m.get("bundled")]


def photo(width: int, height: int, channels: int) -> np.ndarray:
    img = Image.open(ROOT / "examples" / "bears_lr.png").convert("RGB" if channels == 3 else "L")
    arr = np.asarray(img.resize((width, height), Image.BICUBIC)).astype(np.float32) / 255.0
    return arr.reshape(height, width, channels)


def model_row(name: str) -> dict[str, Any]:
    loaded = create_model(name)
    pixels = photo(96, 72, loaded.spec.in_channels)
    sigma = 25.0 if loaded.spec.noise_channel else None
    ref = Restorer(loaded, backend="float", device="cpu").restore(pixels, sigma=sigma)
    got = Restorer(loaded, device=DEVICE).restore(pixels, sigma=sigma)
    d = np.abs(levels(got) - levels(ref))
    return {"model": name, "max_levels": int(d.max()), "share_differing": float((d > 0).mean())}


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls after two warm-ups (cudnn tunes each new shape once)."""
    runs = []
    for i in range(repeat + 2):
        if DEVICE != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if DEVICE != "cpu":
            torch.cuda.synchronize()
        if i >= 2:
            runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def time_model(name: str, repeat: int) -> dict[str, Any]:
    """Per size: the float32 restore, the 8-bit restore (what a PNG writer gets) and the network
    alone on the whole image already on the device (no tiles, no transfers)."""
    loaded = create_model(name)
    restorer = Restorer(loaded, device=DEVICE)
    run = restorer.choice.run
    out: dict[str, Any] = {"model": name}
    for w, h in SIZES:
        pixels = photo(w, h, loaded.spec.in_channels)
        x = torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None].to(restorer.device)
        out[f"{w}x{h}"] = median_time(lambda: restorer.restore(pixels), repeat)
        out[f"{w}x{h} uint8"] = median_time(lambda: restorer.restore(pixels, out_dtype=np.uint8), repeat)
        if run is not None:
            with torch.inference_mode():
                out[f"{w}x{h} network"] = median_time(lambda: run(x, None), repeat)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--models", nargs="+", help="bundled models to check (default: all)")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script without a GPU")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE != "cpu" and not torch.cuda.is_available():
        sys.stderr.write("cuda_check: no CUDA GPU visible to PyTorch\n")
        return 2
    gpu = torch.cuda.get_device_name(0) if DEVICE != "cpu" else "none (dry run)"
    report: dict[str, Any] = {"gpu": gpu, "torch": torch.__version__}
    report["fixtures"] = fixture_rows()
    for r in report["fixtures"]:
        print(f"fixture {r['fixture']:<18} max |float| {r['max_float']:.2e}  max levels {r['max_levels']}")
    names = args.models or bundled_names()
    report["models"] = [model_row(n) for n in names]
    for r in report["models"]:
        print(
            f"model {r['model']:<22} vs CPU float: max levels {r['max_levels']}  differing {r['share_differing']:.2%}"
        )
    sr = [n for n in names if create_model(n).spec.task == "sr"]
    report["timing"] = [time_model(n, args.repeat) for n in sr]
    for r in report["timing"]:
        for w, h in SIZES:
            cells = "  ".join(
                f"{k.split(' ')[-1] if ' ' in k else 'float32'} {v * 1000:7.1f} ms"
                for k, v in r.items()
                if k.startswith(f"{w}x{h}")
            )
            print(f"time {r['model']:<14} {w}x{h:<5} {cells}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
