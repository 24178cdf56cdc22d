"""The one interface every host engine implements."""

from __future__ import annotations

import numpy as np

from ..errors import EdgeclasError, ModelError, ValidationError
from ..model_dir import ModelDir

__all__ = ["Predictor", "engine_failure"]


def engine_failure(engine: str, doing: str, files: str, e: BaseException, remake: str) -> ModelError:
    """An engine library's own exception (Paddle's RuntimeError, ORT's Fail/InvalidProtobuf…) while it
    loads or runs a model file, as a :class:`ModelError` naming the file and saying what to do; the
    library's traceback stays reachable with ``--debug`` (the exception is chained)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    reason = (lines[0] if lines else type(e).__name__)[:300]
    return ModelError(f"{files}: {engine} cannot {doing} it ({type(e).__name__}: {reason})",
                      hint=f"the file is damaged or was not made for this engine: {remake}")


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
        try:
            probs = np.asarray(self._run(np.ascontiguousarray(batch, dtype=np.float32)), dtype=np.float32)
        except EdgeclasError:
            raise
        except Exception as e:  # noqa: BLE001 - the engine library's own types; named and chained
            raise engine_failure(self.name, "run", str(self.model.path / self.source), e,
                                 "re-export or re-convert the model") from e
        if probs.shape != (batch.shape[0], self.model.class_num):
            raise ValidationError(
                f"{self.name}: output of shape {probs.shape}, expected ({batch.shape[0]}, {self.model.class_num})",
                hint=f"{self.model.path / self.source} does not match its manifest; re-export or re-convert it",
            )
        if not np.all(np.isfinite(probs)):
            raise ValidationError(
                f"{self.name}: {self.model.path / self.source} gave NaN/inf probabilities; refusing them",
                hint="the model's weights are not finite (a diverged training run?) or its inputs overflow "
                     "(the manifest's preprocess section): re-train or re-export",
            )
        return probs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.version} {self.source}>"
