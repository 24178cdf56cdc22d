"""The ``edgeclas`` command line: a thin layer that parses options, calls a stage, prints the result.

Each area has a module here that adds its verbs to :data:`cli`. Stage modules import heavy
libraries (paddle, onnxruntime, adbutils) inside their functions so ``edgeclas --help`` stays fast.
"""

from __future__ import annotations

import importlib

from ._app import cli, main

__all__ = ["cli", "main"]

# Each module registers its commands on ``cli`` when imported. Order is the order of --help.
_COMMAND_MODULES = (
    "data",
    "train",
    "search",
    "export",
    "convert",
    "predict",
    "verify",
    "serve",
    "build",
    "sdk",
    "devices",
    "emulator",
    "deploy",
    "bench",
    "report",
    "run",
    "demo",
    "doctor",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")
