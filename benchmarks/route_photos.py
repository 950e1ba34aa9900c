"""How routing to a clean variant does on real photos: CBSD68 at its size and at 0.75x.

    python benchmarks/route_photos.py -s 4 [--robust bbcu-p-x4 --clean bbcu-clean-x4]

Each CBSD68 photo (481x321, and a Lanczos 0.75x copy: another camera resolution) is made small
eight ways (the eval degradations but ``jpeg75``/``noise5`` with this photo's seed, and
``cv2-lanczos``); both models restore each input, and the scale's packaged detector decides
which one routing would use (:meth:`~bbcu_cli.aliasing.AliasingDetector.decide`, the quadrant
veto included). Prints, per resolution and degradation, how many inputs went to
the clean variant, the mean Y-PSNR (crop = scale) of routing minus the robust model alone, the
worst single image, and the mean of the better of the two (the most routing could gain).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbcu_cli.aliasing import detector_for  # noqa: E402
from bbcu_cli.degradations import degrade_sr  # noqa: E402
from bbcu_cli.engine.restore import Restorer  # noqa: E402
from bbcu_cli.factory import resolve_model  # noqa: E402
from bbcu_cli.metrics import image_metrics  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "datasets" / "bench" / "CBSD68"
WAYS = ("matlab", "pil", "cv2-area", "cv2-cubic", "cv2-linear", "cv2-lanczos", "jpeg75", "noise5")


def _restorer(name: str) -> Restorer:
    return Restorer(resolve_model(name, task="sr", lite=True).model, backend="packed", device="cpu", threads=1)


def _versions(path: Path, scale: int) -> dict[str, np.ndarray]:
    img = Image.open(path).convert("RGB")
    small = img.resize((int(img.width * 0.75), int(img.height * 0.75)), Image.LANCZOS)
    out = {}
    for label, im in (("full", img), ("0.75x", small)):
        hr = np.asarray(im)
        out[label] = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
    return out


def _y_psnr(out: np.ndarray, hr: np.ndarray, scale: int) -> float:
    return image_metrics(out.astype(np.float32) / 255, hr.astype(np.float32) / 255, crop=scale, space="y")[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-s", "--scale", type=int, default=4)
    ap.add_argument("--robust", help="default: bbcu-p-xS")
    ap.add_argument("--clean", help="default: bbcu-clean-xS")
    args = ap.parse_args()
    s = args.scale
    robust, clean = _restorer(args.robust or f"bbcu-p-x{s}"), _restorer(args.clean or f"bbcu-clean-x{s}")
    detector = detector_for(s)
    assert detector is not None, f"no detector for x{s}"
    rows: dict[tuple[str, str], list[tuple[bool, float]]] = {}
    for i, path in enumerate(sorted(PHOTOS.glob("*.png"))):
        for label, hr in _versions(path, s).items():
            for way in WAYS:
                lr = degrade_sr(hr, s, way, i)
                clean_chosen = detector.decide(lr)[0]
                gain = _y_psnr(clean.restore(lr, out_dtype=np.uint8), hr, s) - _y_psnr(
                    robust.restore(lr, out_dtype=np.uint8), hr, s
                )
                rows.setdefault((label, way), []).append((clean_chosen, gain))
    print(f"x{s}: CBSD68, routed minus robust alone (Y-PSNR, crop {s})\n")
    print("| photos | made by | to clean | mean dB | worst image dB | best possible dB |\n|---|---|---|---|---|---|")
    for (label, way), got in rows.items():
        routed, gain = np.array([r for r, _ in got]), np.array([g for _, g in got])
        won = np.where(routed, gain, 0.0)
        print(
            f"| {label} | {way} | {routed.sum()}/{len(got)} | {won.mean():+.3f} | {won.min():+.2f} | {np.maximum(gain, 0).mean():+.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
