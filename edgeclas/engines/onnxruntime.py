"""ONNX Runtime on the CPU, running ``MODEL_DIR/model.onnx`` from ``edgeclas convert --to onnx``."""

from __future__ import annotations

import numpy as np

from ..errors import EdgeclasError, IntegrityError
from ..model_dir import ModelDir
from ._base import Predictor, engine_failure
from ._deps import require

__all__ = ["check", "load", "OrtPredictor"]


def check(model: ModelDir | None) -> tuple[bool, str]:
    try:
        version = require("onnxruntime", "onnxruntime", "paddle")
        if model is not None:
            model.onnx_file
    except IntegrityError:
        raise  # a damaged file is an error, never a reason to skip this engine or pick another
    except EdgeclasError as e:
        return False, e.message + (f" ({e.hint})" if e.hint else "")
    return True, f"onnxruntime {version}"


class OrtPredictor(Predictor):
    name = "onnxruntime"

    def __init__(self, model: ModelDir, *, threads: int | None = None) -> None:
        version = require("onnxruntime", "onnxruntime", "paddle")
        path = model.onnx_file
        super().__init__(model, version, str(path.relative_to(model.path)))
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or 1)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
            raise engine_failure("ONNX Runtime", "load", str(path), e,
                                 "make it again: " + model.remake("onnx")) from e
        self._input = self._session.get_inputs()[0].name

    def _run(self, batch: np.ndarray) -> np.ndarray:
        # Output names differ by the Paddle format converted from (FINDINGS): take the first output.
        return self._session.run(None, {self._input: batch})[0]


def load(model: ModelDir, **opts) -> OrtPredictor:
    return OrtPredictor(model, **opts)
