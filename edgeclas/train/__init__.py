"""Training and evaluation: PaddleClas-style recipes, the loop, checkpoints, metrics."""

from __future__ import annotations

from .config import load_config
from .engine import TrainResult, evaluate, train

__all__ = ["train", "evaluate", "TrainResult", "load_config"]
