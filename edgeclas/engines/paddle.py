"""Paddle Inference on the CPU (oneDNN on: 2-5x faster here), the reference engine."""

from __future__ import annotations

import numpy as np

from ..errors import EdgeclasError, IntegrityError
from ..model_dir import ModelDir
from ._base import Predictor, engine_failure
from ._deps import require

__all__ = ["check", "load", "PaddlePredictor"]


def _pick_format(model: ModelDir, fmt: str | None) -> str:
    if fmt:
        return fmt
    return "pir" if model.has("pir") or not model.has("legacy") else "legacy"


def check(model: ModelDir | None) -> tuple[bool, str]:
    try:
        version = require("paddle", "paddlepaddle", "paddle")
        if model is not None:
            model.paddle_files(_pick_format(model, None))
    except IntegrityError:
        raise  # a damaged file is an error, never a reason to skip this engine or pick another
    except EdgeclasError as e:
        return False, e.message + (f" ({e.hint})" if e.hint else "")
    return True, f"paddlepaddle {version}"


class PaddlePredictor(Predictor):
    name = "paddle"

    def __init__(self, model: ModelDir, *, threads: int | None = None, fmt: str | None = None, onednn: bool = True) -> None:
        version = require("paddle", "paddlepaddle", "paddle")
        fmt = _pick_format(model, fmt)
        prog, params = model.paddle_files(fmt)
        super().__init__(model, version, str(prog.relative_to(model.path)))
        import paddle.inference as pi

        config = pi.Config(str(prog), str(params))
        config.disable_gpu()
        config.disable_glog_info()
        if onednn:
            config.enable_mkldnn()
        config.set_cpu_math_library_num_threads(int(threads or 1))
        config.switch_ir_optim(True)
        try:
            self._predictor = pi.create_predictor(config)
        except Exception as e:  # noqa: BLE001 - Paddle raises RuntimeError/ValueError/OSError for bad files
            raise engine_failure("Paddle Inference", "load", f"{prog} + {params.name}", e,
                                 "make it again: " + model.remake(fmt)) from e
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        # Output names differ between legacy and PIR programs (FINDINGS): address the first output.
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        self._input.reshape(list(batch.shape))
        self._input.copy_from_cpu(batch)
        self._predictor.run()
        return self._output.copy_to_cpu()


def load(model: ModelDir, **opts) -> PaddlePredictor:
    return PaddlePredictor(model, **opts)
