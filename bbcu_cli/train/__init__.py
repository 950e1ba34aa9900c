"""Training of BBCU networks (``bbcu train``): config, data, loop, checkpoints, export."""

from .config import TrainConfig, parse_duration
from .loop import TrainEvent, TrainResult, lr_at, train

__all__ = ["TrainConfig", "TrainEvent", "TrainResult", "lr_at", "parse_duration", "train"]
