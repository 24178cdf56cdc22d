"""``edgeclas doctor``: every tool and library the pipeline uses, found or missing, and how to get it.

Each area contributes rows through a provider function listed in :data:`PROVIDERS`
(``"module:function"`` returning ``list[ToolStatus]``). Providers must be fast and must not raise
for a missing tool: a missing tool is a row with ``found=False`` and a ``how`` to get it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable

__all__ = ["ToolStatus", "PROVIDERS", "collect", "python_rows", "which_version"]


@dataclass(frozen=True)
class ToolStatus:
    group: str  # "python", "native", "sdk", "targets", "engines", "lite", "device"
    name: str
    found: bool
    version: str = ""
    where: str = ""
    how: str = ""  # how to get it when missing (a command)
    note: str = ""  # which route/why, e.g. "compat runtime (Python 3.11 has no paddlelite wheel)"


PROVIDERS: list[str] = [
    "edgeclas.doctor:python_rows",
    "edgeclas.doctor:host_tool_rows",
    "edgeclas.sdk:doctor_rows",
    "edgeclas.build:doctor_rows",
    "edgeclas.lite:doctor_rows",
    "edgeclas.device:doctor_rows",
    "edgeclas.emulator.manager:doctor_rows",
]

_PY_PACKAGES = [
    # (distribution, what needs it, extra that installs it)
    ("paddlepaddle", "train, export, paddle engine", "paddle"),
    ("paddle2onnx", "convert --to onnx", "paddle"),
    ("onnx_graphsurgeon", "paddle2onnx (else it pip-installs during conversion)", "paddle"),
    ("sympy", "paddle2onnx (else it pip-installs during conversion)", "paddle"),
    ("onnxruntime", "onnxruntime engine, ORT libs for builds", "paddle"),
    ("numpy", "everything", ""),
    ("opencv-python-headless", "image decode and resize", ""),
    ("scikit-image", "data sample (its photographs)", "data"),
    ("adbutils", "devices, deploy, bench", "device"),
    ("pybind11", "native host module", "native"),
    ("matplotlib", "report plots", "report"),
    ("uvicorn", "serve (the ASGI server)", "serve"),
    ("starlette", "serve (routes, requests)", "serve"),
    ("python-multipart", "serve (multipart uploads)", "serve"),
    ("prometheus_client", "serve (/metrics)", "serve"),
    ("optuna", "search (trials, samplers, pruners)", "search"),
    ("SQLAlchemy", "search (Optuna's RDB storage)", "search"),
    ("httpx", "serve tests and benchmark (HTTP client)", "test"),
    ("PyMySQL", "search tests (a database driver for an unreachable --storage)", "test"),
]


def python_rows() -> list[ToolStatus]:
    rows = []
    for dist, why, extra in _PY_PACKAGES:
        try:
            version = importlib.metadata.version(dist)
            rows.append(ToolStatus("python", dist, True, version, note=why))
        except importlib.metadata.PackageNotFoundError:
            how = f"pip install 'edgeclas[{extra}]'" if extra else f"pip install {dist}"
            rows.append(ToolStatus("python", dist, False, how=how, note=why))
    return rows


def which_version(exe: str, args: tuple[str, ...] = ("--version",), line: int = 0) -> tuple[str, str]:
    """(path, first line of ``exe --version``) or ("", "") when not on PATH."""
    path = shutil.which(exe)
    if not path:
        return "", ""
    try:
        out = subprocess.run([path, *args], capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip().splitlines()
        return path, text[line].strip() if len(text) > line else ""
    except (OSError, subprocess.TimeoutExpired):
        return path, ""


def host_tool_rows() -> list[ToolStatus]:
    rows = []
    for exe, apt in (("cmake", "cmake"), ("ninja", "ninja-build"), ("c++", "g++")):
        path, ver = which_version(exe)
        rows.append(ToolStatus("native", exe, bool(path), ver, path, "" if path else f"apt-get install {apt}"))
    return rows


def collect(providers: list[str] | None = None) -> list[ToolStatus]:
    rows: list[ToolStatus] = []
    for spec in providers or PROVIDERS:
        mod_name, fn_name = spec.split(":")
        fn: Callable[[], list[ToolStatus]] = getattr(importlib.import_module(mod_name), fn_name)
        rows.extend(fn())
    return rows
