"""Probe: would a small CNN on 32 x 32 luma tiles help the routing detector? (an experiment, not shipped)

    python training/fit_aliasing.py -s 4 --clean bbcu-clean-x4 --robust bbcu-p-x4 --every 2 --offset 0 1 \
        --veto 0.9 --hidden 16 --max-bad 0.005 --cache CACHE --out /tmp/aliasing.json
    python training/tile_cnn_probe.py --cache CACHE [--steps 3000] [--alpha 0.5 1 2] [--bench]

Reads the error maps ``training/fit_aliasing.py --cache`` wrote (offsets 0 and 1: two folds of
the training images, every way of making them small), cuts each small image's luma (as
:func:`bbcu_cli.aliasing.measure` computes it) into the half-overlapping 32 x 32 tiles the
spectrum features use, and labels each tile as the detector's samples are labelled: the Y-PSNR
gain of the clean variant over the robust model on that tile, the label "robust better" weighted
by the gain's size. A four-layer CNN (tile mean removed; 16-32-32-32 channels, three stride-2
convs, global average) is trained with torch on one fold and scores the other; an image's score
is the mean tile logit. Then, on whole images and out of fold throughout, it compares routing by
the detector's current features (the hidden-layer model :mod:`training.detector_fit` fits, each
fold judged by a model fitted on the other), by the CNN alone, and by the detector's logit plus
``alpha`` times the CNN score: each with the threshold :func:`training.detector_fit.choose_threshold`'s
rule picks (largest mean gain with every degradation losing at most 0.02 dB on average and at
most 0.5 % of any degradation's images losing over 1 dB; the quadrant veto left out), and prints
per degradation the mean gain over always-robust and the share routed to the clean variant.

``--bench``: then the held-out check. A CNN trained on both folds scores the benchmark images
(Set5, Set14, B100, each eval degradation, made small as ``bbcu eval`` makes them); routing by
the features' logit plus the first ``--alpha`` times its score (with the threshold chosen above,
no veto) against the packaged detector (``bbcu_cli/aliasing.json``, veto included), the Y-PSNR
of each image from ``bbcu-clean-x4`` and ``bbcu-p-x4`` alone (``--no-route`` as ``bbcu eval``
measures them). Prints the mean per set and degradation and how many images went to the clean
variant. (The features' logit here is the packaged detector's, fitted on both folds.)
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbcu_cli.aliasing import measure  # noqa: E402
from training import fit_aliasing  # noqa: E402
from training.detector_fit import as_detector, fit_model, out_of_fold, probabilities  # noqa: E402

TILE, STEP = 32, 16


def tiles(lr: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(n, 32, 32) float32 luma tiles in [0, 1] of a small image and their top-left corners."""
    y = measure(lr).luma / 255.0
    at = [(a, b) for a in range(0, y.shape[0] - TILE + 1, STEP) for b in range(0, y.shape[1] - TILE + 1, STEP)]
    return np.stack([y[a : a + TILE, b : b + TILE] for a, b in at]).astype(np.float32), at


def _gain(er: np.ndarray, ec: np.ndarray) -> float:
    return float(10 * np.log10(er.sum() / max(ec.sum(), 1e-12)))


def dataset(cache: Path) -> dict[str, np.ndarray]:
    """Tiles, tile gains, each tile's image index; per image: fold, degradation, whole gain."""
    x, g, image, fold, deg, whole = [], [], [], [], [], []
    for f in (0, 1):
        for row in pickle.loads(cache.with_name(f"{cache.stem}-o{f}.pkl").read_bytes()):
            t, at = tiles(row["lr"])
            x.append(t)
            g += [_gain(row["er"][a : a + TILE, b : b + TILE], row["ec"][a : a + TILE, b : b + TILE]) for a, b in at]
            image += [len(fold)] * len(at)
            fold.append(f)
            deg.append(row["deg"])
            whole.append(_gain(row["er"], row["ec"]))
    arrays = (np.concatenate(x), g, image, fold, deg, whole)
    return dict(zip(("x", "g", "image", "fold", "deg", "whole"), (np.asarray(a) for a in arrays)))


def _net():  # noqa: ANN202 - a torch module (torch imported lazily)
    from torch import nn

    layers: list = [nn.Conv2d(1, 16, 3, padding=1), nn.ReLU()]
    for cin in (16, 32, 32):
        layers += [nn.Conv2d(cin, 32, 3, stride=2, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 1))


def _inputs(x: np.ndarray):  # noqa: ANN202 - a torch tensor
    import torch

    t = torch.from_numpy(x)[:, None]
    return (t - t.mean(dim=(2, 3), keepdim=True)) * 8.0


def train_cnn(x: np.ndarray, gain: np.ndarray, steps: int, seed: int = 0):  # noqa: ANN201 - a torch module
    """Weighted logistic loss ("robust better", weight |gain|), Adam 2e-3 with cosine decay, batch 256."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    label = torch.from_numpy((gain < 0).astype(np.float32))
    weight = torch.from_numpy((np.abs(gain) / np.abs(gain).mean()).astype(np.float32))
    net = _net()
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for step in range(steps):
        i = rng.integers(0, len(gain), 256)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            net(_inputs(x[i]))[:, 0], label[i], reduction="none"
        )
        opt.zero_grad()
        (loss * weight[i]).mean().backward()
        opt.step()
        sched.step()
        if step % 1000 == 0:
            print(f"step {step}: loss {float((loss * weight[i]).mean()):.4f}", file=sys.stderr)
    return net


def cnn_scores(data: dict[str, np.ndarray], steps: int) -> np.ndarray:
    """Each image's mean tile logit from the CNN trained on the other fold."""
    import torch

    tile_fold = data["fold"][data["image"]]
    logits = np.zeros(len(data["g"]), np.float32)
    for held in (0, 1):
        net = train_cnn(data["x"][tile_fold != held], data["g"][tile_fold != held], steps)
        with torch.no_grad():
            logits[tile_fold == held] = net(_inputs(data["x"][tile_fold == held]))[:, 0].numpy()
    return np.bincount(data["image"], logits) / np.bincount(data["image"])


def detector_logits(cache: Path) -> np.ndarray:
    """The current features' out-of-fold logit of each whole image (the samples fit_aliasing.py makes)."""
    args = argparse.Namespace(scale=4, offset=[0, 1], crops=4, hidden=16, cache=cache, robust_maps=None)
    s = fit_aliasing._samples_by_fold(args)
    x, gain = s["features"].astype(float), s["gain"].astype(float)
    judges = out_of_fold(x, gain, s["fold"], np.ones(len(gain), bool), lambda a, b: as_detector(4, fit_model(a, b, 16)))
    p = probabilities(judges, s["fold"], x)[:: args.crops + 1]  # whole image first, then its crops
    return np.log(p / (1.0 - p))


def report(name: str, score: np.ndarray, gain: np.ndarray, deg: np.ndarray) -> float:
    """Routing by ``score`` (clean below the threshold the rule picks): gain and share per
    degradation; returns the threshold."""
    ways = {d: deg == d for d in dict.fromkeys(deg)}
    best = (-np.inf, np.inf)
    for t in np.quantile(score, np.linspace(0.01, 0.99, 99)):
        routed = np.where(score < t, gain, 0.0)
        ok = (
            min(routed[w].mean() for w in ways.values()) >= -0.02
            and max(np.mean(routed[w] < -1) for w in ways.values()) <= 0.005
        )
        if ok and routed.mean() > best[0]:
            best = (routed.mean(), t)
    routed = np.where(score < best[1], gain, 0.0)
    cells = " ".join(f"{d} {routed[w].mean():+.3f}/{np.mean(score[w] < best[1]):.2f}" for d, w in ways.items())
    print(f"{name:18s} mean {best[0]:+.4f} | {cells}")
    return float(best[1])


def bench(net, alpha: float, threshold: float) -> None:  # noqa: ANN001 - a torch module
    """The held-out check of ``--bench`` (see the module docstring)."""
    import torch

    from bbcu_cli.aliasing import detector_for
    from bbcu_cli.degrade import modcrop
    from bbcu_cli.engine.restore import Restorer
    from bbcu_cli.eval_data import EvalConfig, list_dataset, load_clean, make_degraded
    from bbcu_cli.factory import resolve_model
    from bbcu_cli.metrics import image_metrics

    det = detector_for(4)
    models = [
        resolve_model(m, task="sr", scale=4, lite=True, route=False).model for m in ("bbcu-clean-x4", "bbcu-p-x4")
    ]
    restorers = [Restorer(m, threads=1) for m in models]
    for ds in ("Set5", "Set14", "B100"):
        for way in ("matlab", "cv2-cubic", "cv2-area", "cv2-linear", "pil", "jpeg75", "noise5"):
            cfg = EvalConfig(task="sr", scale=4, degradation=way)
            now, new, n_now, n_new = [], [], 0, 0
            for i, path in enumerate(list_dataset(ROOT.parent / "shared" / "datasets" / "bench" / ds)):
                hr = modcrop(load_clean(path, cfg), 4)
                lr = make_degraded(hr, cfg, i)
                psnr = [
                    image_metrics(r.restore(lr, out_dtype=np.uint8) / 255.0, hr / 255.0, crop=4, space="y")[0]
                    for r in restorers
                ]
                m = measure(lr)
                take_now = det.judge(m)[0]
                p = det.probabilities(m.features()[None])[0]
                with torch.no_grad():
                    cnn = float(net(_inputs(tiles(lr)[0]))[:, 0].mean())
                take_new = np.log(p / (1 - p)) + alpha * cnn < threshold
                now.append(psnr[0] if take_now else psnr[1])
                new.append(psnr[0] if take_new else psnr[1])
                n_now, n_new = n_now + take_now, n_new + take_new
            print(
                f"{ds:6s} {way:10s} packaged {np.mean(now):.3f} ({n_now} to clean)  with CNN {np.mean(new):.3f} ({n_new})"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="PREFIX of fit_aliasing.py's PREFIX-o0.pkl / -o1.pkl")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--alpha", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument("--bench", action="store_true", help="then the held-out check on Set5, Set14, B100")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    data = dataset(args.cache)
    current, cnn = detector_logits(args.cache), cnn_scores(data, args.steps)
    print(
        f"{len(data['whole'])} images x ways, {len(data['g'])} tiles; per degradation: gain over always-robust / share to clean"
    )
    report("current features", current, data["whole"], data["deg"])
    report("tile CNN", cnn, data["whole"], data["deg"])
    thresholds = [report(f"features + {a} CNN", current + a * cnn, data["whole"], data["deg"]) for a in args.alpha]
    report("oracle", -data["whole"], data["whole"], data["deg"])
    if args.bench:
        bench(train_cnn(data["x"], data["g"], args.steps), args.alpha[0], thresholds[0])


if __name__ == "__main__":
    main()
