"""``manifest.json``: what made an artifact directory, so later stages read facts instead of guessing.

Every stage output (dataset, run, model, build, bundle, bench run) is a directory with a
``manifest.json``::

    {
      "kind": "model",                 # dataset | run | model | build | bundle | bench | ...
      "schema": 1,
      "edgeclas_version": "0.1.0",
      "created": "2026-11-23T16:20:00Z",
      "inputs": {...},                 # what it was made from (paths + sha256), for up-to-date checks
      ...kind-specific sections...,
      "files": {"relative/path": "sha256", ...}
    }

``write_manifest`` hashes the files it is given; ``check_files`` re-verifies them.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .errors import ModelError
from .fsutil import atomic_write_json, sha256_file

__all__ = ["MANIFEST_NAME", "SCHEMA", "read_manifest", "write_manifest", "hash_files", "check_files", "utc_now"]

MANIFEST_NAME = "manifest.json"
SCHEMA = 1


def utc_now(ms: bool = False) -> str:
    """ISO 8601 UTC, to the second (manifests) or to the millisecond (``ms``: timings of bench cells)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S") + (f".{now.microsecond // 1000:03d}Z" if ms else "Z")


def hash_files(root: str | os.PathLike[str], files: Iterable[str]) -> dict[str, str]:
    root = Path(root)
    return {rel: sha256_file(root / rel) for rel in sorted(set(files))}


def write_manifest(
    directory: str | os.PathLike[str],
    kind: str,
    body: dict[str, Any],
    files: Iterable[str] = (),
) -> dict[str, Any]:
    """Write ``directory/manifest.json`` atomically; ``files`` are paths relative to ``directory``."""
    directory = Path(directory)
    manifest: dict[str, Any] = {
        "kind": kind,
        "schema": SCHEMA,
        "edgeclas_version": __version__,
        "created": utc_now(),
    }
    manifest.update(body)
    manifest["files"] = hash_files(directory, files)
    atomic_write_json(directory / MANIFEST_NAME, manifest)
    return manifest


def read_manifest(directory: str | os.PathLike[str], kind: str | None = None) -> dict[str, Any]:
    """Read and sanity-check a manifest; errors name the directory and say which command makes it."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise ModelError(f"{directory}: no such directory", hint=_maker_hint(kind))
    if not path.is_file():
        raise ModelError(f"{directory}: no {MANIFEST_NAME}; it was not made by edgeclas", hint=_maker_hint(kind))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: unreadable manifest ({e})", hint=_maker_hint(kind)) from None
    if not isinstance(manifest, dict):
        raise ModelError(f"{path}: manifest is not a JSON object", hint=_maker_hint(kind))
    if kind is not None and manifest.get("kind") != kind:
        raise ModelError(
            f"{path}: this is a '{manifest.get('kind')}' directory, expected a '{kind}' directory",
            hint=_maker_hint(kind),
        )
    return manifest


def check_files(directory: str | os.PathLike[str], manifest: dict[str, Any]) -> list[str]:
    """Return problems (missing or changed files) relative to the manifest's hashes; empty if intact."""
    directory = Path(directory)
    problems = []
    for rel, digest in manifest.get("files", {}).items():
        p = directory / rel
        if not p.is_file():
            problems.append(f"{p}: missing")
        elif sha256_file(p) != digest:
            problems.append(f"{p}: changed since the manifest was written (sha256 differs)")
    return problems


_MAKERS = {
    "dataset": "edgeclas data prepare SRC --out DIR  (or: edgeclas data sample --out DIR)",
    "run": "edgeclas train -c RECIPE.yaml",
    "checkpoint": "edgeclas train -c RECIPE.yaml  (then use RUN_DIR/best or RUN_DIR/latest)",
    "model": "edgeclas export CHECKPOINT --out MODEL_DIR",
    "build": "edgeclas build --arch ARCH --out DIR",
    "bundle": "edgeclas deploy ...",
    "bench": "edgeclas bench ... --out RUN_DIR",
}


def _maker_hint(kind: str | None) -> str | None:
    return f"make one with: {_MAKERS[kind]}" if kind in _MAKERS else None
