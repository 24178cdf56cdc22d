"""Where edgeclas keeps downloaded SDK pieces and built things between runs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "repo_root"]


def cache_dir(*parts: str) -> Path:
    """``$EDGECLAS_CACHE`` or ``$XDG_CACHE_HOME/edgeclas`` or ``~/.cache/edgeclas`` (joined with ``parts``)."""
    base = os.environ.get("EDGECLAS_CACHE")
    if base:
        root = Path(base)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeclas"
    return root.joinpath(*parts)


def repo_root() -> Path:
    """The source tree holding ``native/``, ``toolchains/``, ``devices/``, ``training/``."""
    return Path(__file__).resolve().parents[1]
