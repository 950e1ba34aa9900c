"""Deepen a trained binary DnCNN by inserting near-identity binary units between its own.

    python training/deepen.py SRC-latent.safetensors DST-latent.safetensors --layers 17

Then continue training from DST (``bbcu train --depth 17 --init-from DST ...``). The new units
start as identities up to ``O(--eps)`` (``bbcu_cli/train/grow.py`` explains why), so the deeper
model starts where the trained one stands.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from safetensors.torch import load_file, save_file

from bbcu_cli.filemode import NEW_FILE_MODE
from bbcu_cli.train.grow import deepen_dncnn


def main() -> None:
    ap = argparse.ArgumentParser(description="Deepen a binary DnCNN (latent weights) with near-identity units.")
    ap.add_argument("src", type=Path, help="latent weights (*-latent.safetensors)")
    ap.add_argument("dst", type=Path, help="where to write the deepened latent weights")
    ap.add_argument("--layers", type=int, required=True, help="layers of the deeper model (head + units + tail)")
    ap.add_argument("--eps", type=float, default=1e-3, help="latent weight magnitude of a new unit")
    ap.add_argument("--seed", type=int, default=0, help="seed of the new units' weight signs")
    args = ap.parse_args()
    save_file(deepen_dncnn(load_file(args.src), args.layers, args.eps, args.seed), args.dst)
    os.chmod(args.dst, NEW_FILE_MODE)


if __name__ == "__main__":
    main()
