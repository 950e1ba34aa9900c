"""Grow a trained binary DnCNN or BBCU-P deeper and/or wider, starting where the trained one stands.

    python training/grow.py SRC-latent.safetensors DST-latent.safetensors --layers 17
    python training/grow.py SRC-latent.safetensors DST-latent.safetensors --feat 128
    python training/grow.py SRC-latent.safetensors DST-latent.safetensors --feat 64 --blocks 12   # BBCU-P

Then continue training from DST (``bbcu train --depth 17 --feat 128 --init-from DST ...``).
``--layers`` inserts near-identity binary units between the old ones (identities up to
``O(--eps)``); ``--feat`` adds channels that are exactly zero until training moves them and
rescales for the wider model's ``k = 130 * feat / 64`` (the output does not change). Widening
runs first. ``bbcu_cli/train/grow.py`` explains both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from safetensors.torch import load_file, save_file

from bbcu_cli.atomicfile import replacing
from bbcu_cli.models.sr import default_k
from bbcu_cli.train.grow import deepen_dncnn, deepen_subpixel, widen_dncnn, widen_subpixel


def main() -> None:
    ap = argparse.ArgumentParser(description="Grow a binary DnCNN (latent weights) deeper and/or wider.")
    ap.add_argument("src", type=Path, help="latent weights (*-latent.safetensors) trained with the default k")
    ap.add_argument("dst", type=Path, help="where to write the grown latent weights")
    ap.add_argument("--layers", type=int, help="layers of the deeper model (head + units + tail)")
    ap.add_argument("--feat", type=int, help="feature channels of the wider model")
    ap.add_argument("--blocks", type=int, help="BBCU-P: binary blocks (two units each) of the deeper model")
    ap.add_argument("--eps", type=float, default=1e-3, help="latent weight magnitude of a new unit")
    ap.add_argument("--seed", type=int, default=0, help="seed of the new weight signs")
    args = ap.parse_args()
    if args.layers is None and args.feat is None and args.blocks is None:
        ap.error("give --layers (DnCNN), --blocks (BBCU-P) and/or --feat")
    sd = load_file(args.src)
    subpixel = "conv_tail.weight" in sd
    if (args.blocks is not None and not subpixel) or (args.layers is not None and subpixel):
        ap.error("--layers grows a DnCNN, --blocks a BBCU-P")
    if args.feat is not None:
        old = sd["conv_first.weight" if subpixel else "model.0.weight"].shape[0]
        widen = widen_subpixel if subpixel else widen_dncnn
        sd = widen(sd, args.feat, default_k(old), default_k(args.feat), args.seed)
    if args.layers is not None:
        sd = deepen_dncnn(sd, args.layers, args.eps, args.seed)
    if args.blocks is not None:
        sd = deepen_subpixel(sd, args.blocks, args.eps, args.seed)
    with replacing(args.dst) as tmp:
        save_file(sd, str(tmp))


if __name__ == "__main__":
    main()
