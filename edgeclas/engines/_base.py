"""The one interface every host engine implements."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, ValidationError
from ..model_dir import ModelDir

__all__ = ["Predictor"]


class Predictor:
    """``predictor(batch[N, C, H, W] float32) -> probs[N, class_num] float32``.

    Subclasses implement :meth:`_run`; the shape checks live here so every engine rejects a wrong
    batch the same way and no engine can return a malformed result silently.
    """

    name = ""

    def __init__(self, model: ModelDir, version: str, source: str) -> None:
        self.model = model
        self.version = version
        self.source = source  # the file it runs, relative to the model dir (for tables and logs)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        expected = self.model.input_size
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise ModelError(
                f"{self.name}: batch of shape {tuple(batch.shape)} for a model that takes [N, {', '.join(map(str, expected))}]",
                hint="preprocess images with the model's PreprocessConfig (edgeclas.preprocess.load_batch)",
            )
        if batch.shape[0] == 0:
            return np.zeros((0, self.model.class_num), np.float32)
        probs = np.asarray(self._run(np.ascontiguousarray(batch, dtype=np.float32)), dtype=np.float32)
        if probs.shape != (batch.shape[0], self.model.class_num):
            raise ValidationError(
                f"{self.name}: output of shape {probs.shape}, expected ({batch.shape[0]}, {self.model.class_num})",
                hint=f"{self.model.path / self.source} does not match its manifest; re-export or re-convert it",
            )
        return probs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.version} {self.source}>"
