"""Fit a routing detector of one SR scale (``bbcu_cli/aliasing.json``) from two models.

``--clean NAME``: the detector of the clean variant (table ``detectors``); ``--alias NAME``:
that of the alias variant, trained on aliased downscaling (table ``alias_detectors``; asked
after the clean one, see ``bbcu_cli/routing.py``). Below, "clean" stands for either variant.

For every chosen training image and every way of making it small (the eval degradations plus
``cv2-lanczos`` and three mixtures), both models restore the small image and the squared Y
error of each is kept per low-resolution pixel (summed over its s x s output block). Samples
are the whole image and ``--crops`` random crops of it (at least 40 pixels a side), so the
detector learns small inputs too: features from :func:`bbcu_cli.aliasing.region_features`
of the crop (and of its quadrants, for the veto), label = the Y-PSNR gain of the clean model
over the robust one on that crop.
A logistic regression (``--hidden N``: on a tanh layer of N units; ``training/detector_fit.py``)
is fitted with each sample weighted by that gain's size (a wrong choice costs what it loses).
The threshold is the largest mean gain for which routing loses at most ``--tolerance`` dB on
average on every degradation: the detector must not cost the robust model's robustness;
``--max-bad F`` also caps the share of any degradation's samples routed to a loss of more than
1 dB (a mean lets ~1% of aliased inputs through where each loses 2-3 dB). With
several ``--offset`` passes (folds), the threshold is chosen on out-of-fold probabilities (each
fold judged by a model fitted on the others, so the rule holds on images the model did not
see), and the stored model is then fitted on all folds; the printed table is out of fold.
Then ``--veto``: a quadrant of an input the detector is at least that sure of keeps the input
on the robust model (a detailed corner of a mostly smooth photo can be aliased
while the whole looks clean; the training images rarely are, so the fit cannot weigh that risk
and the veto is insurance bought with a share of the gain; the gain under each veto is
printed). The measurements (error maps) are cached in ``--cache``.

    python training/fit_aliasing.py -s 4 --clean bbcu-clean-x4 --robust bbcu-p-x4 --every 2 --offset 0 1 --hidden 16
    python training/fit_aliasing.py -s 4 --alias bbcu-alias-x4 --robust bbcu-p-x4 --every 2 --offset 0 1 --veto 1 --hidden 16

``--robust-maps PREFIX`` takes the robust model's error maps (and the small images) from an
earlier fit's cache ``PREFIX-oOFFSET.pkl`` of the same images and restores only the variant.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbcu_cli.aliasing import FEATURE_NAMES, AliasingDetector, quadrant_boxes  # noqa: E402
from bbcu_cli.aliasing import measure as measure_image  # noqa: E402
from bbcu_cli.degradations import add_noise_uint8, degrade_sr, downscale  # noqa: E402
from bbcu_cli.degrade import jpeg_compress  # noqa: E402
from bbcu_cli.eval_data import list_dataset  # noqa: E402
from bbcu_cli.imagefiles import read_image  # noqa: E402
from bbcu_cli.metrics import rgb_to_y  # noqa: E402
from bbcu_cli.tile_cnn import TileCNN  # noqa: E402
from training.detector_fit import (  # noqa: E402
    Fields,
    as_detector,
    choose_threshold,
    fit_model,
    out_of_fold,
    part_probability,
    probabilities,
    with_cnn,
)

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


def _error_map(out: np.ndarray, hr: np.ndarray, scale: int) -> np.ndarray:
    """Squared Y error (0..1 scale) summed over each scale x scale block: (H/s, W/s) float32."""
    d = (rgb_to_y(out.astype(np.float64) / 255.0) - rgb_to_y(hr.astype(np.float64) / 255.0)) ** 2
    h, w = d.shape
    return d.reshape(h // scale, scale, w // scale, scale).sum(axis=(1, 3)).astype(np.float32)


def measure(args: argparse.Namespace, offset: int) -> list[dict]:
    """LR image and both models' error maps for every chosen image x degradation."""
    if args.robust_maps is not None:
        return _measure_variant(args, offset)
    clean, robust = _restorer(args.variant, args.scale), _restorer(args.robust, args.scale)
    paths = [p for folder in args.data for p in list_dataset(Path(folder))][offset :: args.every]
    rows = []
    for i, path in enumerate(paths):
        hr = read_image(path, raw=True).pixels
        hr = hr[: hr.shape[0] // args.scale * args.scale, : hr.shape[1] // args.scale * args.scale]
        if hr.ndim != 3 or hr.shape[2] != 3 or min(hr.shape[:2]) < 32 * args.scale:
            continue
        for name, make in _degradations().items():
            lr = make(hr, args.scale, 1000 + i)  # noise seeds apart from the eval's
            maps = [_error_map(m.restore(lr, out_dtype=np.uint8), hr, args.scale) for m in (clean, robust)]
            rows.append({"name": path.name, "deg": name, "lr": lr, "ec": maps[0], "er": maps[1]})
        print(f"{i + 1}/{len(paths)} {path.name}", file=sys.stderr)
    return rows


def _measure_variant(args: argparse.Namespace, offset: int) -> list[dict]:
    """:func:`measure` with the small images and robust error maps of ``--robust-maps``."""
    earlier = pickle.loads(args.robust_maps.with_name(f"{args.robust_maps.stem}-o{offset}.pkl").read_bytes())
    variant = _restorer(args.variant, args.scale)
    paths = {p.name: p for folder in args.data for p in list_dataset(Path(folder))}
    rows, hr, done = [], None, None
    for row in earlier:
        if row["name"] != done:
            hr = read_image(paths[row["name"]], raw=True).pixels
            hr, done = (
                hr[: hr.shape[0] // args.scale * args.scale, : hr.shape[1] // args.scale * args.scale],
                row["name"],
            )
            print(f"{row['name']}", file=sys.stderr)
        ec = _error_map(variant.restore(row["lr"], out_dtype=np.uint8), hr, args.scale)
        rows.append({**row, "ec": ec})
    return rows


def samples(rows: list[dict], crops: int, seed: int = 0, cnn: TileCNN | None = None) -> dict[str, np.ndarray]:
    """Features, clean-minus-robust Y-PSNR gain and degradation of every image and crop, and
    ``parts``: the features of its quadrants, ``(n, 4, F)`` with NaN rows where there are none
    (as :func:`bbcu_cli.aliasing.region_features` pools them). With ``cnn``: also ``cnn``, its
    score of each sample ((n,)), and ``cnn_parts``, of each quadrant ((n, 4), NaN where none)."""
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"features": [], "gain": [], "degradation": [], "parts": [], "cnn": [], "cnn_parts": []}
    for row in rows:
        for box in _boxes(row["ec"].shape, crops, rng):
            found = measure_image(row["lr"][box])
            if found is None:
                continue
            quads = quadrant_boxes(found.luma.shape)
            gain = 10 * np.log10(row["er"][box].sum() / max(row["ec"][box].sum(), 1e-12))
            parts, cnn_parts = np.full((4, len(FEATURE_NAMES)), np.nan), np.full(4, np.nan)
            if quads:
                parts[:] = [found.features(q) for q in quads]
            scores = np.full(len(quads) + 1, np.nan) if cnn is None else cnn.scores(found.luma, [None, *quads])
            cnn_parts[: len(quads)] = scores[1:]
            values = (found.features(), gain, row["deg"], parts, scores[0], cnn_parts)
            for key, value in zip(out, values):
                out[key].append(value)
    return {k: np.array(v) for k, v in out.items()}


def _boxes(shape: tuple[int, int], crops: int, rng: np.random.Generator) -> list[tuple[slice, slice]]:
    h, w = shape
    boxes = [(slice(0, h), slice(0, w))]
    for _ in range(crops):
        ch, cw = int(rng.integers(min(40, h), h + 1)), int(rng.integers(min(40, w), w + 1))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        boxes.append((slice(y, y + ch), slice(x, x + cw)))
    return boxes


def _measured(args: argparse.Namespace, offset: int) -> list[dict]:
    """:func:`measure` for one offset, read from or written to ``CACHE-oOFFSET.pkl`` with ``--cache``."""
    cache = None if args.cache is None else args.cache.with_name(f"{args.cache.stem}-o{offset}.pkl")
    if cache is not None and cache.exists():
        return pickle.loads(cache.read_bytes())
    rows = measure(args, offset)
    if cache is not None:
        cache.write_bytes(pickle.dumps(rows))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-s", "--scale", type=int, required=True)
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--clean", help="the clean variant (fits the table 'detectors')")
    which.add_argument("--alias", help="the alias variant (fits the table 'alias_detectors')")
    ap.add_argument("--robust", required=True)
    ap.add_argument("--robust-maps", type=Path, help="PREFIX: the robust maps of an earlier --cache PREFIX")
    ap.add_argument("--data", nargs="+", default=["../shared/datasets/train/T91", "../shared/datasets/train/BSD200"])
    ap.add_argument("--every", type=int, default=1, help="use every Nth image")
    ap.add_argument(
        "--offset", type=int, nargs="+", default=[0], help="starting with this one (0-based); several: one pass each"
    )
    ap.add_argument("--crops", type=int, default=4, help="random crops per image and degradation")
    ap.add_argument("--tolerance", type=float, default=0.02, help="dB routing may lose on any degradation")
    ap.add_argument(
        "--max-bad", type=float, default=1.0, help="share of any degradation's samples routing may cost over 1 dB"
    )
    ap.add_argument(
        "--veto", type=float, default=0.9, help="a quadrant this sure of aliasing keeps the input on the robust model"
    )
    ap.add_argument(
        "--hidden", type=int, default=0, help="units of a tanh hidden layer (0: logistic regression on the features)"
    )
    ap.add_argument("--cache", type=Path, help="CACHE-oOFFSET.pkl: the measurements of each offset (read if there)")
    ap.add_argument(
        "--tile-cnn", type=int, default=0, help="train a tile CNN for this many batches (clean detectors; 0: none)"
    )
    ap.add_argument("--cnn-alpha", type=float, default=0.5, help="weight of the tile CNN's score in the logit")
    ap.add_argument("--out", type=Path, default=ROOT / "bbcu_cli" / "aliasing.json")
    args = ap.parse_args()
    if args.hidden < 0 or not 0.0 <= args.max_bad <= 1.0:
        ap.error("--hidden takes 0 or more units, --max-bad a share from 0 to 1")
    if args.tile_cnn and args.alias:
        ap.error("--tile-cnn fits clean detectors only")
    args.variant, args.table = (args.clean, "detectors") if args.clean else (args.alias, "alias_detectors")
    data = _samples_by_fold(args)
    x, gain = data["features"].astype(float), data["gain"].astype(float)
    fitted = ~_taken_first(data, args) if args.alias else np.ones(len(gain), bool)
    final = fit_model(x[fitted], gain[fitted], args.hidden)
    judges, fold = _judges(args, data, fitted, final)
    alpha = args.cnn_alpha if data["tile_cnn"] is not None else 0.0
    prob = np.where(fitted, with_cnn(probabilities(judges, fold, x), data["cnn"], alpha), 1.0)
    threshold, won = choose_threshold(prob, gain, data["degradation"], args.tolerance, args.max_bad)
    part = part_probability(data["parts"], judges, fold, data["cnn_parts"], alpha)
    if len(judges) > 1:
        print(f"out of fold ({len(judges)} folds: each fold judged by a model fitted on the others):")
    _report(data, prob, threshold, won)
    report_veto(prob < threshold, part, gain, args.veto)
    cnn = None if not args.tile_cnn else {"alpha": args.cnn_alpha, **_cnn_entry(data["tile_cnn"])}
    _write(args, final, threshold, args.veto, won, len(gain), cnn)


def _judges(
    args: argparse.Namespace, data: dict[str, np.ndarray], fitted: np.ndarray, final: Fields
) -> tuple[list[AliasingDetector], np.ndarray]:
    """The detectors that judge the samples for the threshold, and each sample's index into them:
    with several folds, one per fold fitted on the others; else the final model."""
    x, gain = data["features"].astype(float), data["gain"].astype(float)
    judges = out_of_fold(
        x, gain, data["fold"], fitted, lambda xs, gs: as_detector(args.scale, fit_model(xs, gs, args.hidden))
    )
    if judges[0] is None:
        return [as_detector(args.scale, final)], np.zeros(len(gain), int)
    return judges, data["fold"]


def _samples_by_fold(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """:func:`samples` of each ``--offset`` in turn, with ``fold``: the index of its offset.
    ``--tile-cnn``: each fold's samples scored by a tile CNN trained on the other folds' tiles
    (out of fold, like the features' model), and ``tile_cnn``: the one trained on all folds.
    ``--alias`` under a packaged clean detector with a tile CNN: scored by that CNN."""
    rows = [_measured(args, offset) for offset in args.offset]
    cnns: list[TileCNN | None] = [_packaged_cnn(args)] * (len(rows) + 1)
    if getattr(args, "tile_cnn", 0):
        cnns = _tile_cnns(rows, args.tile_cnn)
    parts = [samples(r, args.crops, cnn=cnn) for r, cnn in zip(rows, cnns)]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    data["fold"] = np.concatenate([np.full(len(p["gain"]), i) for i, p in enumerate(parts)])
    data["tile_cnn"] = cnns[-1]
    return data


def _packaged_cnn(args: argparse.Namespace) -> TileCNN | None:
    """The tile CNN of the packaged clean detector an alias fit is asked after (else None)."""
    from bbcu_cli.aliasing import detector_for

    first = detector_for(args.scale, "clean") if getattr(args, "alias", None) else None
    return None if first is None else first.tile_cnn


def _tile_cnns(rows: list[list[dict]], steps: int) -> list[TileCNN]:
    """Per fold a tile CNN trained on the other folds' rows (the one of all when there is one
    fold), then the one trained on all; each with the score range of the rows it learnt from."""
    from training.tile_cnn_fit import as_cnn, tile_data, train, with_range

    data = [tile_data(r) for r in rows]
    final = train(np.concatenate([x for x, _ in data]), np.concatenate([g for _, g in data]), steps)
    final_cnn = with_range(as_cnn(final), [row for r in rows for row in r])
    if len(rows) == 1:
        return [final_cnn] * 2
    oof = [
        train(
            np.concatenate([x for j, (x, _) in enumerate(data) if j != k]),
            np.concatenate([g for j, (_, g) in enumerate(data) if j != k]),
            steps,
        )
        for k in range(len(rows))
    ]
    others = [[row for j, r in enumerate(rows) if j != k for row in r] for k in range(len(rows))]
    return [*(with_range(as_cnn(n), o) for n, o in zip(oof, others)), final_cnn]


def _taken_first(data: dict[str, np.ndarray], args: argparse.Namespace) -> np.ndarray:
    """The samples the scale's packaged clean detector (quadrant veto included) hands to the
    clean variant: the alias detector is asked only after it, so it is fitted on the others and
    those count as not routed (a gain of 0 against the route without an alias variant)."""
    from bbcu_cli.aliasing import detector_for

    first = detector_for(args.scale, "clean")
    if first is None:
        return np.zeros(len(data["gain"]), bool)
    p = first.probabilities(data["features"].astype(float))
    part = part_probability(data["parts"], [first], np.zeros(len(p), int))
    p = with_cnn(p, data["cnn"], first.cnn_alpha)
    part = part_probability(data["parts"], [first], np.zeros(len(p), int), data["cnn_parts"], first.cnn_alpha)
    taken = (p < first.threshold) & ((part < first.veto) | (first.veto >= 1.0))
    print(f"{taken.mean():.3f} of the samples go to the clean variant first (threshold {first.threshold})")
    return taken


def report_veto(routed: np.ndarray, part: np.ndarray, gain: np.ndarray, chosen: float) -> None:
    """Print the mean gain of ``routed`` under vetoes from 1.0 (none) down to 0.5, and ``chosen``."""
    for veto in sorted({*np.round(np.arange(1.0, 0.499, -0.05), 2), chosen}, reverse=True):
        kept = routed & (part < veto)
        mark = "  <- --veto" if veto == chosen else ""
        print(f"veto {veto:.2f}: mean gain {np.where(kept, gain, 0.0).mean():+.4f} dB, {kept.mean():.3f} routed{mark}")


def _report(data: dict[str, np.ndarray], prob: np.ndarray, threshold: float, won: float) -> None:
    print(f"threshold {threshold:.2f}: mean gain over always-robust {won:+.3f} dB")
    for name in dict.fromkeys(data["degradation"]):
        m = data["degradation"] == name
        chosen = np.where(prob[m] < threshold, data["gain"][m], 0.0)
        print(
            f"{name:18s} clean chosen {np.mean(prob[m] < threshold):.2f}  clean-robust {data['gain'][m].mean():+.2f} dB"
            f"  routed vs robust {chosen.mean():+.3f} dB"
        )


def _recorded_args(argv: list[str]) -> list[str]:
    """The command-line arguments without ``--cache``/``--out``/``--robust-maps`` and their values
    (local paths)."""
    out, skip = [], False
    for a in argv:
        if skip or a in ("--cache", "--out", "--robust-maps"):
            skip = not skip
            continue
        out.append(a)
    return out


def dump(doc: dict) -> str:
    """``doc`` as JSON, one level of indent per nesting, each list of numbers on one line."""
    text = json.dumps(doc, indent=1)
    return re.sub(r"\[\s+([-0-9.e,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


def _cnn_entry(cnn: TileCNN) -> dict:
    """``cnn``'s weights in the ``aliasing.json`` layout (:meth:`TileCNN.of`), 5 decimals."""

    def r(a: np.ndarray) -> list:
        return np.round(np.asarray(a, dtype=float), 5).ravel().tolist()

    convs = [{"shape": list(w.shape), "weight": r(w), "bias": r(b)} for w, b in cnn.convs]
    low, high = cnn.score_range
    linear = {"weight": r(cnn.linear[0]), "bias": round(cnn.linear[1], 5)}
    return {"convs": convs, "linear": linear, "score_range": [round(low, 4), round(high, 4)]}


def _write(
    args: argparse.Namespace, model: Fields, threshold: float, veto: float, won: float, n: int, cnn: dict | None
) -> None:
    doc = json.loads(args.out.read_text()) if args.out.exists() else {"detectors": {}}
    doc["features"] = list(FEATURE_NAMES)
    doc.setdefault(args.table, {})[str(args.scale)] = {
        **{k: np.round(np.asarray(v, dtype=float), 5).tolist() for k, v in model.items()},
        "threshold": round(threshold, 3),
        "veto": veto,
        **({} if cnn is None else {"tile_cnn": cnn}),
        "fit": {
            "alias" if args.alias else "clean": args.variant,
            "robust": args.robust,
            "samples": int(n),
            "gain_over_robust_db": round(won, 3),
            "command": "python training/fit_aliasing.py " + " ".join(_recorded_args(sys.argv[1:])),
        },
    }
    args.out.write_text(dump(doc))


if __name__ == "__main__":
    main()
