"""Fit the aliasing detector of one SR scale (``bbcu_cli/aliasing.json``) from two models.

For every training image and every way of making it small (the eval degradations plus
``cv2-lanczos`` and three mixtures), both models restore the small image; the Y-PSNR gain of
the robust model over the clean one is the label. A logistic regression on
:func:`bbcu_cli.aliasing.spectrum_features` is fitted with each sample weighted by that gain's
size (a wrong choice costs what it loses), and the threshold is the one under which routing the
training samples loses the least PSNR on average. The measurements are cached in ``--cache``.

    python training/fit_aliasing.py -s 4 --clean bbcu-p-x4-clean --robust bbcu-p-x4 \
        --data ../shared/datasets/train/T91 ../shared/datasets/train/BSD200 --every 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbcu_cli.aliasing import FEATURE_NAMES, spectrum_features  # noqa: E402
from bbcu_cli.degradations import add_noise_uint8, degrade_sr, downscale  # noqa: E402
from bbcu_cli.degrade import jpeg_compress  # noqa: E402
from bbcu_cli.eval_data import list_dataset  # noqa: E402
from bbcu_cli.imagefiles import read_image  # noqa: E402
from bbcu_cli.metrics import psnr, rgb_to_y  # noqa: E402

Degrade = Callable[[np.ndarray, int, int], np.ndarray]
NAMED = ("matlab", "cv2-cubic", "cv2-area", "cv2-linear", "cv2-lanczos", "pil", "jpeg75", "noise5")
MIXTURES: dict[str, Degrade] = {
    "matlab+jpeg50": lambda hr, s, seed: jpeg_compress(downscale(hr, s, "matlab"), 50),
    "cv2-cubic+jpeg85": lambda hr, s, seed: jpeg_compress(downscale(hr, s, "cv2-cubic"), 85),
    "matlab+noise10": lambda hr, s, seed: add_noise_uint8(
        downscale(hr, s, "matlab"), 10.0, np.random.default_rng(seed)
    ),
}


def _degradations() -> dict[str, Degrade]:
    named = {n: (lambda hr, s, seed, n=n: degrade_sr(hr, s, n, seed)) for n in NAMED}
    return {**named, **MIXTURES}


def _restorer(name: str, scale: int):  # noqa: ANN202 - a Restorer, imported lazily (torch)
    from bbcu_cli.engine.restore import Restorer
    from bbcu_cli.factory import resolve_model

    found = resolve_model(name, task="sr", scale=scale, lite=True, route=False)
    return Restorer(found.model, backend="packed", device="cpu", threads=1)


def _y_psnr(out: np.ndarray, hr: np.ndarray, crop: int) -> float:
    a = rgb_to_y(out.astype(np.float64) / 255.0)[crop:-crop, crop:-crop]
    b = rgb_to_y(hr.astype(np.float64) / 255.0)[crop:-crop, crop:-crop]
    return psnr(a, b)


def measure(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Features, robust-minus-clean Y-PSNR gain, image and degradation of every sample."""
    clean, robust = _restorer(args.clean, args.scale), _restorer(args.robust, args.scale)
    paths = [p for folder in args.data for p in list_dataset(Path(folder))][:: args.every]
    rows: dict[str, list] = {"features": [], "gain": [], "image": [], "degradation": []}
    for i, path in enumerate(paths):
        hr = read_image(path, raw=True).pixels
        hr = hr[: hr.shape[0] // args.scale * args.scale, : hr.shape[1] // args.scale * args.scale]
        if hr.ndim != 3 or hr.shape[2] != 3 or min(hr.shape[:2]) < 32 * args.scale:
            continue
        for name, make in _degradations().items():
            lr = make(hr, args.scale, i)
            gain = _y_psnr(robust.restore(lr, out_dtype=np.uint8), hr, args.scale) - _y_psnr(
                clean.restore(lr, out_dtype=np.uint8), hr, args.scale
            )
            for key, value in zip(rows, (spectrum_features(lr), gain, path.name, name)):
                rows[key].append(value)
        print(f"{i + 1}/{len(paths)} {path.name}", file=sys.stderr)
    return {k: np.array(v) for k, v in rows.items()}


def fit(x: np.ndarray, gain: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted logistic regression (Newton): label ``gain > 0``, weight ``|gain|``."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.c_[(x - mean) / std, np.ones(len(x))]
    y, w = (gain > 0).astype(float), np.abs(gain) / np.abs(gain).mean()
    beta = np.zeros(z.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-z @ beta))
        grad = z.T @ (w * (p - y)) + l2 * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(beta))
        beta -= np.linalg.solve(hess, grad)
    return mean, std, beta[:-1], float(beta[-1])


def choose_threshold(prob: np.ndarray, gain: np.ndarray) -> tuple[float, float]:
    """The threshold (clean below it) with the largest mean gain over always-robust; and that gain."""
    best = (0.0, 0.0)
    for t in np.linspace(0.02, 0.98, 49):
        kept = -np.where(prob < t, gain, 0.0).mean()  # dB won by the clean model where it is used
        best = max(best, (kept, float(t)))
    return best[1], best[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-s", "--scale", type=int, required=True)
    ap.add_argument("--clean", required=True)
    ap.add_argument("--robust", required=True)
    ap.add_argument("--data", nargs="+", default=["../shared/datasets/train/T91", "../shared/datasets/train/BSD200"])
    ap.add_argument("--every", type=int, default=1, help="use every Nth image")
    ap.add_argument("--cache", type=Path, help="npz of the measurements (read if it exists)")
    ap.add_argument("--out", type=Path, default=ROOT / "bbcu_cli" / "aliasing.json")
    args = ap.parse_args()
    if args.cache is not None and args.cache.exists():
        data = dict(np.load(args.cache))
    else:
        data = measure(args)
        if args.cache is not None:
            np.savez(args.cache, **data)
    x, gain = data["features"].astype(float), data["gain"].astype(float)
    mean, std, weights, bias = fit(x, gain)
    prob = 1.0 / (1.0 + np.exp(-(((x - mean) / std) @ weights + bias)))
    threshold, won = choose_threshold(prob, gain)
    _report(data, prob, threshold, won)
    _write(args, mean, std, weights, bias, threshold, won, len(gain))


def _report(data: dict[str, np.ndarray], prob: np.ndarray, threshold: float, won: float) -> None:
    print(f"threshold {threshold:.2f}: mean gain over always-robust {won:+.3f} dB")
    for name in dict.fromkeys(data["degradation"]):
        m = data["degradation"] == name
        chosen = np.where(prob[m] < threshold, 0.0, data["gain"][m])
        print(
            f"{name:18s} clean chosen {np.mean(prob[m] < threshold):.2f}  robust-clean {data['gain'][m].mean():+.2f} dB"
            f"  routed vs clean {chosen.mean():+.2f} dB"
        )


def _recorded_args(argv: list[str]) -> list[str]:
    """The command-line arguments without ``--cache``/``--out`` and their values (local paths)."""
    out, skip = [], False
    for a in argv:
        if skip or a in ("--cache", "--out"):
            skip = not skip
            continue
        out.append(a)
    return out


def _write(args: argparse.Namespace, mean, std, weights, bias, threshold, won, n) -> None:  # noqa: ANN001
    doc = json.loads(args.out.read_text()) if args.out.exists() else {"detectors": {}}
    doc["features"] = list(FEATURE_NAMES)
    doc["detectors"][str(args.scale)] = {
        "mean": [round(float(v), 5) for v in mean],
        "std": [round(float(v), 5) for v in std],
        "weights": [round(float(v), 5) for v in weights],
        "bias": round(bias, 5),
        "threshold": round(threshold, 3),
        "fit": {
            "clean": args.clean,
            "robust": args.robust,
            "samples": int(n),
            "gain_over_robust_db": round(won, 3),
            "command": "python training/fit_aliasing.py " + " ".join(_recorded_args(sys.argv[1:])),
        },
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
