"""Y-PSNR of the OpenCV peers (FSRCNN, FSRCNN-small, ESPCN) under every ``bbcu eval`` degradation.

    python benchmarks/peers_quality.py [--scales 4 3 2] [--sets Set5 Set14 B100] [--out benchmarks/peers_quality.json]

The inputs are made exactly as ``bbcu eval DATASET -s S --degradation NAME`` makes them (same
images in sorted order, same per-image noise seeds, ``bbcu_cli.evaluate``), the peers run in
their own venv through the worker of ``benchmarks/peers.py``, and the scores use the same
protocol (Y channel, ``S`` pixels cropped per border). The JSON, ``{peer: {"xS": {set:
{degradation: psnr}}}}``, is what ``tests/test_robust_sr_bars.py`` and the model card compare with.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import peers  # noqa: E402

from bbcu_cli.degradations import EVAL_DEGRADATIONS  # noqa: E402
from bbcu_cli.evaluate import EvalConfig, list_dataset, load_clean, make_degraded, quantize  # noqa: E402
from bbcu_cli.metrics import image_metrics  # noqa: E402

PEER_NAMES = ("FSRCNN", "FSRCNN-small", "ESPCN")


def degraded_set(folder: Path, scale: int, degradation: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(LR uint8 inputs, HR references) of a benchmark folder, as ``bbcu eval`` makes them."""
    cfg = EvalConfig("sr", scale, degradation=degradation)
    lrs, refs = [], []
    for index, path in enumerate(list_dataset(folder)):
        ref = load_clean(path, cfg)
        ref = ref[: ref.shape[0] - ref.shape[0] % scale, : ref.shape[1] - ref.shape[1] % scale]
        lrs.append(quantize(make_degraded(ref, cfg, index)))
        refs.append(ref)
    return lrs, refs


def mean_psnr(outs: list[np.ndarray], refs: list[np.ndarray], scale: int) -> float:
    return float(np.mean([image_metrics(o / 255.0, r / 255.0, crop=scale, space="y")[0] for o, r in zip(outs, refs)]))


def score_scale(worker: peers.PeerWorker, peers_dir: Path, bench: Path, scale: int, sets: list[str]) -> dict[str, dict]:
    """``{peer: {set: {degradation: psnr}}}`` for one scale."""
    methods = {name: peers.PeerMethod(worker, name, algo, scale, peers_dir) for name, algo in peers.PEERS}
    for m in methods.values():
        m.prepare()
    out: dict[str, dict] = {name: {} for name in methods}
    for dataset in sets:
        for degradation in EVAL_DEGRADATIONS:
            lrs, refs = degraded_set(bench / dataset, scale, degradation)
            for name, m in methods.items():
                psnr = mean_psnr(m.upsample(lrs), refs, scale)
                out[name].setdefault(dataset, {})[degradation] = round(psnr, 4)
                print(f"x{scale} {dataset} {degradation} {name}: {psnr:.2f}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", nargs="+", type=int, default=[4, 3, 2], choices=[2, 3, 4])
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14", "B100"])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "peers_quality.json")
    ap.add_argument("--venv", type=Path, default=peers.default_venv())
    ap.add_argument("--peers-dir", type=Path, default=peers.SHARED / "peers")
    ap.add_argument("--bench-dir", type=Path, default=peers.SHARED / "datasets" / "bench")
    args = ap.parse_args()
    try:
        python = peers.ensure_venv(args.venv)
    except peers.PeersError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result: dict[str, dict] = {name: {} for name in PEER_NAMES}
    with tempfile.TemporaryDirectory() as scratch:
        worker = peers.PeerWorker(python, 2, Path(scratch))
        try:
            for scale in args.scales:
                for name, per_set in score_scale(worker, args.peers_dir, args.bench_dir, scale, args.sets).items():
                    result[name][f"x{scale}"] = per_set
        finally:
            worker.close()
    result["_how"] = {
        "command": "python benchmarks/peers_quality.py " + " ".join(sys.argv[1:]),
        "protocol": "bbcu eval inputs (seed 0), Y-PSNR, crop = scale",
        "degradations": list(EVAL_DEGRADATIONS),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
