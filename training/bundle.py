"""Ship a finished ``bbcu train`` run: bundle its packed weights and register them.

    python training/bundle.py RUN_DIR [--default] [--metrics FILE.json] [--eval] [--notes TEXT]
                              [--continues NAME] [--clean-variant-of NAME] [--alias-variant-of NAME]
    python training/bundle.py --refresh-eval NAME

Copies ``RUN_DIR/NAME.safetensors`` into ``bbcu_cli/weights/bundled/``, the latent float
weights ``NAME-latent.safetensors`` into ``training/weights/`` (so training can be continued
with ``--init-from``), and writes the run's ``manifest_entry.json`` (plus optional measured
metrics, merged over the validation metrics) into ``bbcu_cli/weights_manifest.json`` (the top-level file links to it).
``--eval`` adds every ``training/eval/NAME-*.json`` written by ``training/eval_models.sh``
(keys like ``Set5_x4``, ``CBSD68_sigma25``, ``BSD68_q10``; ``Set14_x4_cv2-cubic`` from the
``robustS`` runs). ``--continues NAME``: the run
continued the training of manifest model ``NAME`` (``--init-from`` its latent weights, grown or
not); its iterations and wall time are added, so the entry counts the whole history.
``--clean-variant-of NAME``: the run is manifest model ``NAME``'s clean variant (its entry gets
``"clean_variant"``; see ``bbcu_cli/routing.py``); ``--alias-variant-of NAME``: its alias variant.
``--refresh-eval NAME`` only merges the ``training/eval/NAME-*.json`` results into the manifest
entry of an already bundled model (bundle first, measure it by name, then refresh).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_PROVENANCE_FIELDS = ("data", "iterations", "command", "notes", "wall_time_s")
MANIFESTS = (REPO / "bbcu_cli" / "weights_manifest.json",)  # the top-level file is a link to it


def eval_metrics(name: str) -> dict:
    """``{"Set5_x4": {"psnr", "ssim"}, ...}`` from the ``bbcu eval --json`` files of ``name``."""
    out = {}
    for path in sorted((REPO / "training" / "eval").glob(f"{name}-*.json")):
        d = json.loads(path.read_text())
        for r in d.get("results", []):  # --degradation all: one entry per degradation
            if r.get("model") == name and r["degradation"] != "matlab":
                out[f"{r['dataset']}_x{r['scale']}_{r['degradation']}"] = {
                    "psnr": round(r["psnr"], 4),
                    "ssim": round(r["ssim"], 4),
                }
        if d.get("model") != name:
            continue
        cond = (
            f"x{d['scale']}"
            if d["task"] == "sr"
            else f"q{d['quality']}"
            if d["task"] == "deblock"
            else f"sigma{d['sigma']:g}"
        )
        key = f"{d['dataset']}_{cond}" + ("_blind" if path.stem.endswith("blind-s25-CBSD68") else "")
        out[key] = {"psnr": round(d["psnr"], 4), "ssim": round(d["ssim"], 4)}
    return out


def _add_history(prov: dict, parent: str) -> None:
    """Count the iterations and wall time of manifest model ``parent`` into ``prov``."""
    found = [m for m in json.loads(MANIFESTS[0].read_text())["models"] if m["name"] == parent]
    if not found:
        raise SystemExit(f"--continues {parent}: no such model in {MANIFESTS[0].name}")
    before = found[0]["provenance"]
    prov["iterations"] += before["iterations"]
    prov["wall_time_s"] = round(prov["wall_time_s"] + before["wall_time_s"], 1)


def _entry(run: Path, default: bool, metrics: Path | None, notes: str, use_eval: bool, parent: str | None) -> dict:
    entry = json.loads((run / "manifest_entry.json").read_text())
    entry["bundled"], entry["default"] = True, default
    if metrics is not None:
        entry["metrics"].update(json.loads(metrics.read_text()))
    if use_eval:
        entry["metrics"].update(eval_metrics(entry["name"]))
    prov = entry["provenance"]
    if parent:
        _add_history(prov, parent)
    if notes:
        prov["notes"] = notes
    extra = {k: prov.pop(k) for k in list(prov) if k not in _PROVENANCE_FIELDS}
    if extra:  # runs exported by older code carried more keys: keep them readable in the notes
        prov["notes"] = "; ".join([prov.get("notes", "")] + [f"{k}: {v}" for k, v in extra.items()]).strip("; ")
    return entry


#: what a new bundle of a model keeps from the entry it replaces (routing and run-time settings)
KEPT = ("clean_variant", "alias_variant", "copies")


def _register(entry: dict) -> None:
    for path in MANIFESTS:
        manifest = json.loads(path.read_text())
        old = [m for m in manifest["models"] if m["name"] == entry["name"]]
        entry = {**{k: old[0][k] for k in KEPT if old and k in old[0]}, **entry}
        models = [m for m in manifest["models"] if m["name"] != entry["name"]]
        if entry["default"]:
            for m in models:
                if m["task"] == entry["task"] and m["scale"] == entry["scale"]:
                    m["default"] = False
        manifest["models"] = [entry] + models
        path.write_text(json.dumps(manifest, indent=2) + "\n")


def _set_variant(robust: str, kind: str, variant: str) -> None:
    """Name ``variant`` as manifest model ``robust``'s ``KIND_variant``."""
    for path in MANIFESTS:
        manifest = json.loads(path.read_text())
        found = [m for m in manifest["models"] if m["name"] == robust]
        if not found:
            raise SystemExit(f"--{kind}-variant-of {robust}: no such model in {path.name}")
        found[0][f"{kind}_variant"] = variant
        path.write_text(json.dumps(manifest, indent=2) + "\n")


def _refresh_eval(name: str) -> None:
    for path in MANIFESTS:
        manifest = json.loads(path.read_text())
        found = [m for m in manifest["models"] if m["name"] == name]
        if not found:
            raise SystemExit(f"--refresh-eval {name}: no such model in {path.name}")
        found[0]["metrics"].update(eval_metrics(name))
        path.write_text(json.dumps(manifest, indent=2) + "\n")
    sys.stdout.write(f"{name}: metrics from training/eval merged\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, nargs="?")
    ap.add_argument("--refresh-eval", metavar="NAME", help="merge training/eval/NAME-*.json into a bundled entry")
    ap.add_argument("--default", action="store_true")
    ap.add_argument("--metrics", type=Path)
    ap.add_argument("--eval", action="store_true", help="add the training/eval/NAME-*.json results")
    ap.add_argument("--notes", default="")
    ap.add_argument(
        "--continues", metavar="NAME", help="the run continued manifest model NAME: count its iterations and time"
    )
    ap.add_argument("--clean-variant-of", metavar="NAME", help="the run is manifest model NAME's clean variant")
    ap.add_argument("--alias-variant-of", metavar="NAME", help="the run is manifest model NAME's alias variant")
    args = ap.parse_args()
    if args.refresh_eval:
        _refresh_eval(args.refresh_eval)
        return 0
    if args.run is None:
        ap.error("RUN_DIR is required")
    entry = _entry(args.run, args.default, args.metrics, args.notes, args.eval, args.continues)
    name = entry["name"]
    target = REPO / "bbcu_cli" / "weights" / "bundled" / entry["file"]
    shutil.copyfile(args.run / entry["file"], target)
    target.chmod(0o644)
    shutil.copyfile(
        args.run / f"{name}-latent.safetensors", REPO / "training" / "weights" / f"{name}-latent.safetensors"
    )
    _register(entry)
    for kind, robust in (("clean", args.clean_variant_of), ("alias", args.alias_variant_of)):
        if robust:
            _set_variant(robust, kind, name)
    sys.stdout.write(f"bundled {name}: {target.relative_to(REPO)} ({entry['size']} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
