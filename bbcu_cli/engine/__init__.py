"""Inference engine: tiling, backends (float, folded, packed), devices, the restore loop."""
