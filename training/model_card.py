"""Model card numbers for the bundled models: parameters, size on disk, OPs, measured metrics.

    python training/model_card.py          # Markdown on stdout

OPs follow the paper's rule: float MACs + binary MACs / 64, counted with forward hooks on every
3x3 convolution at a 320x180 input (counted on 32x18 and scaled by 100: MACs are linear in the
pixel count). Metrics come from the ``bbcu eval`` JSON files in ``training/eval/``
(``training/eval_models.sh``); ``NAME+`` rows are the x8 self-ensemble (``--ensemble``).

Robustness tables (one per scale): Y-PSNR of every shipped SR model under every ``bbcu eval``
degradation (``training/eval_models.sh robustS=NAME``), with bicubic and the OpenCV peers
(``benchmarks/peers_quality.json``, ``python benchmarks/peers_quality.py``) and the seconds at
320x180 from the last ``python benchmarks/peers.py --json benchmarks/peers.json`` run. A
model with variants gets a first row ``NAME + VARIANTS (routed, as run by default)``: them all
as ``bbcu upscale`` runs them (``training/eval_models.sh routedS=NAME``), and ``NAME --no-route``
below; the other rows are each model alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn

from bbcu_cli.loading import load_model
from bbcu_cli.models.binary import BinaryConv
from bbcu_cli.weights.cache import get_manifest, local_path

EVAL = Path(__file__).resolve().parent / "eval"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
DEGRADATIONS = ("matlab", "cv2-cubic", "cv2-area", "cv2-linear", "pil", "jpeg75", "noise5")
PEERS = ("FSRCNN", "FSRCNN-small", "ESPCN")
# Paper Y-PSNR on Set5 / Set14 / B100 (ICLR 2023); "-": not quoted in our sources.
PAPER = {
    2: {"BBCU-M": ("37.44", "-", "-")},
    4: {"BBCU-L": ("31.79", "28.38", "27.41"), "BBCU-M": ("31.54", "28.20", "27.31")},
}


def count_macs(model: nn.Module, channels: int, noise: bool) -> tuple[int, int]:
    """(float MACs, binary MACs) at 320x180."""
    totals = {"float": 0, "binary": 0}

    def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        kind = "binary" if isinstance(mod, BinaryConv) else "float"
        totals[kind] += mod.weight.numel() * out.shape[-1] * out.shape[-2]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        x = torch.rand(1, channels, 18, 32)
        model(x, 25.0) if noise else model(x)
    for h in handles:
        h.remove()
    return totals["float"] * 100, totals["binary"] * 100


def params(model: nn.Module) -> tuple[int, int]:
    binary = sum(m.weight.numel() for m in model.modules() if isinstance(m, BinaryConv))
    return sum(p.numel() for p in model.parameters()) - binary, binary


def _score(tag: str) -> str:
    path = EVAL / f"{tag}.json"
    if not path.exists():
        return "-"
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:  # still being written
        return "-"
    return f"{data['psnr']:.2f} / {data['ssim']:.4f}"


def with_ensemble(names: list[str]) -> list[str]:
    """Each name, followed by ``NAME+`` (x8 self-ensemble, ``ENSEMBLE=1 eval_models.sh``) if measured."""
    return [v for n in names for v in (n, n + "+") if v == n or any(EVAL.glob(f"{v}-*.json"))]


def card_row(entry) -> str:  # type: ignore[no-untyped-def]
    loaded = load_model(local_path(entry))
    fp, bp = params(loaded.model)
    fm, bm = count_macs(loaded.model, loaded.spec.in_channels, loaded.spec.noise_channel)
    ops = fm + bm / 64
    prov = entry.provenance
    wall = f"{prov.wall_time_s / 60:.0f} min" if prov.wall_time_s else "-"
    return (
        f"| {entry.name} | {loaded.spec.describe()} | {fp / 1e3:.1f} K | {bp / 1e3:.1f} K | {entry.size / 1024:.1f} KiB | "
        f"{ops / 1e9:.2f} G ({fm / 1e9:.2f} G float + {bm / 1e9:.1f} G binary) | {prov.iterations} | {wall} |"
    )


def _robust(tag: str) -> dict[str, float]:
    """``{degradation: psnr}`` of a ``--degradation all`` JSON in training/eval (empty if missing)."""
    path = EVAL / f"{tag}.json"
    try:
        return {r["degradation"]: r["psnr"] for r in json.loads(path.read_text())["results"]}
    except (OSError, json.JSONDecodeError, KeyError):
        return {}


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _seconds(speed: dict, name: str, scale: int) -> str:
    """Seconds at 320x180 of ``name`` in a ``benchmarks/peers.py --json`` file."""
    row = speed.get("scales", {}).get(str(scale), {}).get("methods", {}).get(name, {})
    t = row.get("sizes", {}).get("320x180", {}).get("seconds")
    return f"{t:.3f}" if isinstance(t, (int, float)) else "-"


def robust_table(scale: int) -> list[str]:
    """Set5 / Set14 / B100 Y-PSNR under every degradation: bicubic, the peers, every shipped model."""
    peers, speed = _json(BENCHMARKS / "peers_quality.json"), _json(BENCHMARKS / "peers.json")
    sets = ("Set5", "Set14", "B100")
    out = [
        f"| x{scale}, Y-PSNR (crop {scale}) | set | s at 320x180 | " + " | ".join(DEGRADATIONS) + " |",
        "|---" * (3 + len(DEGRADATIONS)) + "|",
    ]
    rows: list[tuple[str, dict[str, dict[str, float]]]] = [
        ("bicubic", {s: _robust(f"bicubic-robust-x{scale}-{s}") for s in sets})
    ]
    rows += [(p, peers.get(p, {}).get(f"x{scale}", {})) for p in PEERS]
    entries = [e for e in get_manifest().models if e.bundled and e.task == "sr" and e.scale == scale]
    rows += [
        (
            f"{' + '.join([e.name, *e.variants().values()])} (routed, as run by default)",
            {s: _robust(f"routed-{e.name}-robust-x{scale}-{s}") for s in sets},
        )
        for e in entries
        if e.variants()
    ]
    rows += [
        (
            f"{e.name} --no-route" if e.variants() else e.name,
            {s: _robust(f"{e.name}-robust-x{scale}-{s}") for s in sets},
        )
        for e in entries
    ]
    for name, table in rows:
        for s in sets:
            got = table.get(s, {})
            cells = [f"{got[d]:.2f}" if got.get(d) is not None else "-" for d in DEGRADATIONS]
            secs = _seconds(speed, name.split(" ")[0], scale) if s == sets[0] else ""
            out.append(f"| {name if s == sets[0] else ''} | {s} | {secs} | " + " | ".join(cells) + " |")
    return out


def main() -> int:
    out = [
        "| model | architecture | float params | binary params | on disk | OPs at 320x180 | iterations | wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    out += [card_row(e) for e in get_manifest().models if e.bundled]
    out += ["", "| x{s} (PSNR / SSIM, Y) | Set5 | Set14 | B100 |".format(s="S"), "|---|---|---|---|"]
    for s in (2, 3, 4):
        ours = [e.name for e in get_manifest().models if e.bundled and e.task == "sr" and e.scale == s]
        for who in ["bicubic", *with_ensemble(ours)]:
            out.append(
                f"| {who} x{s} | "
                + " | ".join(
                    _score(f"{who}-x{s}-{d}" if who == "bicubic" else f"{who}-{d}") for d in ("Set5", "Set14", "B100")
                )
                + " |"
            )
        out += [
            f"| paper {arch} x{s} (PSNR, 300k GPU steps on DIV2K) | " + " | ".join(vals) + " |"
            for arch, vals in PAPER.get(s, {}).items()
        ]
    for s in (4, 3, 2):
        out += ["", *robust_table(s)]
    out += ["", "| denoise CBSD68 (PSNR / SSIM, RGB) | sigma 15 | sigma 25 | sigma 50 |", "|---|---|---|---|"]
    bundled = {t: [e.name for e in get_manifest().models if e.bundled and e.task == t] for t in ("denoise", "deblock")}
    for who in ("noisy", *with_ensemble(bundled["denoise"])):
        out.append(f"| {who} | " + " | ".join(_score(f"{who}-s{s}-CBSD68") for s in (15, 25, 50)) + " |")
    out += ["", "| deblock (PSNR / SSIM) | q 10 | q 20 | q 30 | q 40 |", "|---|---|---|---|---|"]
    for ds in ("BSD68", "CBSD68"):
        for who in ("jpeg", *with_ensemble(bundled["deblock"])):
            out.append(f"| {who} {ds} | " + " | ".join(_score(f"{who}-q{q}-{ds}") for q in (10, 20, 30, 40)) + " |")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
