"""Accuracy of the blind noise estimator (``bbcu denoise`` without --sigma).

    python benchmarks/noise_estimate.py

CBSD68 with Gaussian noise of sigma 0, 5, 15, 25, 50 (0-255 scale, unclipped float, seed =
image index as ``bbcu eval``), and the clean benchmark images (Set5, Set14, B100, CBSD68).
Prints a markdown table: mean, min and max of the estimate, the largest relative error, and how
many estimates were flagged unreliable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bbcu_cli.degrade import add_gaussian_noise, image_seed  # noqa: E402
from bbcu_cli.noise_estimate import estimate_noise  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "bench"


def _load(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def row(label: str, truth: float | None, images: list[np.ndarray]) -> str:
    found = [estimate_noise(img) for img in images]
    est = np.array([f.sigma for f in found])
    err = f"{np.abs(est - truth).max() / truth * 100:.1f}%" if truth else "-"
    flagged = sum(not f.reliable for f in found)
    return f"| {label} | {len(images)} | {est.mean():.2f} | {est.min():.2f} | {est.max():.2f} | {err} | {flagged} |"


def main() -> int:
    cbsd = [_load(p) for p in sorted((BENCH / "CBSD68").glob("*.png"))]
    print("| images | n | mean | min | max | largest error | flagged unreliable |\n|---|---|---|---|---|---|---|")
    for sigma in (0, 5, 15, 25, 50):
        noisy = [add_gaussian_noise(img, sigma, image_seed(0, i)) if sigma else img for i, img in enumerate(cbsd)]
        print(row(f"CBSD68, sigma {sigma}", float(sigma) or None, noisy), flush=True)
    for name in ("Set5", "Set14", "B100"):
        print(row(f"{name}, clean", None, [_load(p) for p in sorted((BENCH / name).glob("*.png"))]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
