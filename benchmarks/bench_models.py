"""Run ``bbcu bench`` for every bundled model at 320x180 and 1280x720; write a Markdown table.

    python benchmarks/bench_models.py [--threads 2] [--out benchmarks/models.md] [--models NAME ...]

Each row comes from one ``bbcu bench --json`` process (float and packed timed in the same
process, median of the runs after a warm-up). The larger size uses fewer repeats.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SIZES = (("320x180", 3), ("1280x720", 1))


def bundled_models() -> list[str]:
    manifest = json.loads((Path(__file__).resolve().parents[1] / "weights_manifest.json").read_text())
    return [m["name"] for m in manifest["models"] if m.get("bundled")]


def bench(name: str, size: str, repeat: int, threads: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bbcu_cli",
        "bench",
        "-m",
        name,
        "--size",
        size,
        "--repeat",
        str(repeat),
        "--threads",
        str(threads),
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"bbcu bench -m {name} --size {size} failed (exit {proc.returncode}): {last}")
    return json.loads(proc.stdout)


def row(name: str, size: str, res: dict) -> str:
    f = res["backends"].get("float", {})
    p = res["backends"].get("packed")
    packed = f"{p['median_s']:.3f}" if p else "off"
    speed = f"{res['speedup']['packed']:.1f}x" if p else "-"
    return f"| {name} | {size} | {f.get('median_s', float('nan')):.3f} | {packed} | {speed} | {res['max_abs_diff']:.1e} | {res.get('isa') or '-'} |"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/models.md"))
    ap.add_argument("--models", nargs="+", metavar="NAME", help="only these models (default: every bundled one)")
    args = ap.parse_args()
    lines = ["| model | input | float s | packed s | speed-up | max abs diff | ISA |", "|---|---|---|---|---|---|---|"]
    for name in args.models or bundled_models():
        for size, repeat in SIZES:
            lines.append(row(name, size, bench(name, size, repeat, args.threads)))
            sys.stderr.write(lines[-1] + "\n")
    args.out.write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
