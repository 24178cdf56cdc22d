"""Shared pytest fixtures. Integration fixtures start real servers/devices on free ports and tear them down."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["fixtures_bench", "fixtures_model", "fixtures_lite", "fixtures_deploy", "fixtures_device", "fixtures_build",
                  "fixtures_lite_build"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(autouse=True, scope="session")
def _no_runtime_installs() -> None:
    # paddle2onnx would pip-install missing helpers during conversion; tests must never install anything.
    os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"
