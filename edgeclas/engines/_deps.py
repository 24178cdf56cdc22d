"""Finding an engine's Python package without importing it (importing paddle costs seconds)."""

from __future__ import annotations

import importlib.metadata
import importlib.util

from ..errors import ToolchainError

__all__ = ["dist_version", "require"]


def dist_version(module: str, dist: str) -> str | None:
    """Installed version of distribution ``dist`` providing ``module``; None when not importable."""
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def require(module: str, dist: str, extra: str) -> str:
    version = dist_version(module, dist)
    if version is None:
        raise ToolchainError(f"{dist} is not installed", hint=f"pip install 'edgeclas[{extra}]'")
    return version
