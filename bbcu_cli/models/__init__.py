"""Pure ``nn.Module`` architectures (no file or device I/O)."""

from .binary import BinaryBlock, BinaryConv, BinaryUnit, BinaryUpUnit, LearnableBias, RPReLU
from .dncnn import BinaryDnCNN
from .sr import BBCUL, BBCUM, BBCUP, default_k

__all__ = [
    "BBCUL",
    "BBCUM",
    "BBCUP",
    "BinaryDnCNN",
    "BinaryBlock",
    "BinaryConv",
    "BinaryUnit",
    "BinaryUpUnit",
    "LearnableBias",
    "RPReLU",
    "default_k",
]
