"""Host inference engines behind one small interface.

``available(model)`` says which engines can run here (and on that model); ``load(name, model)``
returns a :class:`Predictor`. Each engine is one module in this package exposing ``check(model)``
and ``load(model, **opts)``; adding an engine means adding its module and its name to ``ENGINES``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from ..errors import ConfigError
from ..model_dir import ModelDir
from ._base import Predictor

__all__ = ["ENGINES", "Predictor", "available", "load"]

# Order matters: the first is the reference others are compared with in ``verify``.
ENGINES = ("paddle", "onnxruntime", "lite")


def _module(name: str) -> ModuleType:
    # Each engine imports its heavy library inside check()/load(), so importing the module is cheap.
    return importlib.import_module(f"{__name__}.{name}")


def _as_model(model: ModelDir | str | os.PathLike[str] | None) -> ModelDir | None:
    return model if model is None or isinstance(model, ModelDir) else ModelDir.load(model)


def available(model: ModelDir | str | os.PathLike[str] | None = None) -> dict[str, tuple[bool, str]]:
    """``{engine: (ok, reason)}``; with a model, also whether it has the format that engine needs."""
    model = _as_model(model)
    out = {}
    for name in ENGINES:
        out[name] = _module(name).check(model)
    return out


def load(name: str, model: ModelDir | str | os.PathLike[str], **opts) -> Predictor:
    """A ready predictor of engine ``name`` for ``model``; raises why it cannot be made."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine '{name}'", hint=f"use one of: {', '.join(ENGINES)}")
    threads = opts.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"threads {threads!r}: must be an integer >= 1",
                          hint="omit it for one thread, or pass --threads N with N >= 1")
    return _module(name).load(_as_model(model), **opts)
