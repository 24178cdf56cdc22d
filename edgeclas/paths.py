"""Where edgeclas keeps downloaded SDK pieces and built things between runs, and where its own sources are."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "tree_root", "source_dir", "checkout_root"]

_PACKAGE = Path(__file__).resolve().parent


def cache_dir(*parts: str) -> Path:
    """``$EDGECLAS_CACHE`` or ``$XDG_CACHE_HOME/edgeclas`` or ``~/.cache/edgeclas`` (joined with ``parts``)."""
    base = os.environ.get("EDGECLAS_CACHE")
    if base:
        root = Path(base)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeclas"
    return root.joinpath(*parts)


def tree_root() -> Path:
    """``edgeclas/_tree``: ``native/``, ``toolchains/``, ``devices/`` and ``training/`` as edgeclas needs them
    at run time. In a checkout these are links to the top-level folders; a wheel ships copies, so an
    installed edgeclas builds and emulates without a source checkout."""
    return _PACKAGE / "_tree"


def source_dir(name: str) -> Path:
    """One of those trees (``native``, ``toolchains``, ``devices``, ``training``), links resolved: in a
    checkout the top-level folder itself, so build caches keyed by it stay the checkout's."""
    return (tree_root() / name).resolve()


def checkout_root() -> Path | None:
    """The git checkout edgeclas runs from (for its commit in bench records), or None when installed."""
    root = _PACKAGE.parent
    return root if (root / ".git").exists() else None
