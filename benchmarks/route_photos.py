"""How routing to a model's variants does on real photos: CBSD68 at its size and at 0.75x.

    python benchmarks/route_photos.py -s 4 [--model bbcu-p-x4]

Each CBSD68 photo (481x321, and a Lanczos 0.75x copy: another camera resolution) is made small
eight ways (the eval degradations but ``jpeg75``/``noise5`` with this photo's seed, and
``cv2-lanczos``); the model and each of its variants (its manifest entry's ``clean_variant`` /
``alias_variant``) restore each input, and the model's route decides which one routing would
use (:meth:`bbcu_cli.routing.Route.choose`, the quadrant veto included). Prints, per resolution
and degradation, how many inputs went to each variant, the mean Y-PSNR (crop = scale) of
routing minus the model alone, the worst single image, and the mean of the best of them (the
most routing could gain).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbcu_cli.degradations import degrade_sr  # noqa: E402
from bbcu_cli.engine.restore import Restorer  # noqa: E402
from bbcu_cli.factory import resolve_model  # noqa: E402
from bbcu_cli.metrics import image_metrics  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "datasets" / "bench" / "CBSD68"
WAYS = ("matlab", "pil", "cv2-area", "cv2-cubic", "cv2-linear", "cv2-lanczos", "jpeg75", "noise5")


def _restorer(model: object) -> Restorer:
    return Restorer(model, backend="packed", device="cpu", threads=1)  # type: ignore[arg-type]


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
    ap.add_argument("--model", help="default: bbcu-p-xS")
    args = ap.parse_args()
    s = args.scale
    found = resolve_model(args.model or f"bbcu-p-x{s}", task="sr", scale=s, lite=True, route=True)
    route = found.model.route
    assert route is not None, f"{found.name} routes nowhere at x{s}"
    kinds = [v.kind for v in route.variants]
    alone = resolve_model(found.name, task="sr", scale=s, lite=True, route=False).model  # without its route
    models = {"robust": _restorer(alone), **{v.kind: _restorer(v.loaded()) for v in route.variants}}
    rows: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for i, path in enumerate(sorted(PHOTOS.glob("*.png"))):
        for label, hr in _versions(path, s).items():
            for way in WAYS:
                lr = degrade_sr(hr, s, way, i)
                chosen = route.choose(lr).variant
                psnr = {k: _y_psnr(m.restore(lr, out_dtype=np.uint8), hr, s) for k, m in models.items()}
                best = max(psnr.values()) - psnr["robust"]
                rows.setdefault((label, way), []).append((chosen, psnr[chosen] - psnr["robust"], best))
    print(f"x{s}: CBSD68, {found.name} routed minus alone (Y-PSNR, crop {s})\n")
    heads = " | ".join(f"to {k}" for k in kinds)
    print(f"| photos | made by | {heads} | mean dB | worst image dB | best possible dB |")
    print("|---|---|" + "---|" * len(kinds) + "---|---|---|")
    for (label, way), got in rows.items():
        won = np.array([g for _, g, _ in got])
        counts = " | ".join(f"{sum(c == k for c, _, _ in got)}/{len(got)}" for k in kinds)
        best = np.mean([b for _, _, b in got])
        print(f"| {label} | {way} | {counts} | {won.mean():+.3f} | {won.min():+.2f} | {best:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
