"""Deploy test fixtures: build directories that are fake but real — a real build manifest around a
crafted ARM binary (tests/data/deploy/fake_clas_system.c compiled with the cross gcc) that prints
good output, crashes, hangs, prints garbage, truncates, fails on purpose or prints PaddleClas's text.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

__all__ = ["fake_build", "FAKE_MODES"]

SRC = Path(__file__).parent / "data" / "deploy" / "fake_clas_system.c"
FAKE_MODES = ("OK", "CRASH", "HANG", "GARBAGE", "TRUNC", "FAIL", "TEXT")
_CC = "aarch64-linux-gnu-gcc"


@pytest.fixture(scope="session")
def fake_build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``fake_build(mode)`` → a build dir (kind "build", linux armv8, engine onnxruntime) whose
    ``bin/clas_system`` behaves as ``mode`` says; built once per mode per session."""
    from edgeclas.manifest import write_manifest

    if not shutil.which(_CC):
        pytest.skip(f"{_CC} not installed (apt-get install gcc-aarch64-linux-gnu)")
    base = tmp_path_factory.mktemp("fake-builds")
    made: dict[str, Path] = {}

    def make(mode: str) -> Path:
        if mode not in FAKE_MODES:
            raise ValueError(f"mode {mode!r} not in {FAKE_MODES}")
        if mode not in made:
            d = base / mode.lower()
            (d / "bin").mkdir(parents=True)
            # static: runs on the emulated device without any sysroot libraries
            subprocess.run([_CC, "-static", "-O1", f"-DMODE_{mode}", "-o", str(d / "bin" / "clas_system"), str(SRC)],
                           check=True, capture_output=True)
            write_manifest(d, "build", {
                "target": {"os": "linux", "arch": "armv8", "abi": "arm64-v8a", "triple": "aarch64-linux-gnu"},
                "engine": {"name": "onnxruntime", "version": "1.32.0"},
                "compiler": f"{_CC} (fake clas_system, mode {mode})",
                "build_type": "Release",
                "binary": "bin/clas_system",
                "libs": [],
            }, files=["bin/clas_system"])
            made[mode] = d
        return made[mode]

    return make
