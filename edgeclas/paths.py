"""Where edgeclas keeps downloaded SDK pieces and built things between runs, and where its own sources are."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "tree_root", "source_dir"]


def cache_dir(*parts: str) -> Path:
    """``$EDGECLAS_CACHE`` or ``$XDG_CACHE_HOME/edgeclas`` or ``~/.cache/edgeclas`` (joined with ``parts``)."""
    base = os.environ.get("EDGECLAS_CACHE")
    if base:
        root = Path(base)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeclas"
    return root.joinpath(*parts)


def tree_root() -> Path:
    """The source tree holding ``native/``, ``toolchains/``, ``devices/``, ``training/``."""
    return Path(__file__).resolve().parents[1]


def source_dir(name: str) -> Path:
    """One of the trees edgeclas needs at run time: ``native``, ``toolchains``, ``devices`` or ``training``."""
    return tree_root() / name
