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

``write_manifest`` hashes the files it is given and records their sizes (``sizes``: relative
path → bytes); ``check_files`` re-verifies both, and stages that read an artifact call
``verify_file`` on each file they use (``--no-verify`` skips it), so a truncated, byte-flipped or
replaced file is an error naming it instead of a silently wrong answer.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from . import __version__
from .errors import EdgeclasError, IntegrityError, ModelError
from .fsutil import atomic_write_json, sha256_file

__all__ = [
    "MANIFEST_NAME", "SCHEMA", "read_manifest", "write_manifest", "hash_files", "check_files", "file_problem",
    "verify_file", "update_manifest", "utc_now",
]

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
    manifest["sizes"] = {rel: (directory / rel).stat().st_size for rel in manifest["files"]}
    atomic_write_json(directory / MANIFEST_NAME, manifest)
    return manifest


def update_manifest(directory: str | os.PathLike[str], kind: str,
                    mutate: Callable[[dict[str, Any]], Iterable[str]]) -> dict[str, Any]:
    """Re-write ``directory``'s manifest atomically with ``mutate(manifest) -> the files it added`` applied.

    Only the added files are hashed and sized; every other entry keeps its recorded values, so a file
    changed since (a byte flip in ``legacy/``) stays detectable instead of being blessed by the update.
    """
    directory = Path(directory)
    m = read_manifest(directory, kind)
    added = set(mutate(m))
    files, sizes = dict(m.get("files") or {}), dict(m.get("sizes") or {})
    for rel in added:
        files[rel], sizes[rel] = sha256_file(directory / rel), (directory / rel).stat().st_size
    m["files"], m["sizes"] = dict(sorted(files.items())), dict(sorted(sizes.items()))
    atomic_write_json(directory / MANIFEST_NAME, m)
    return m


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
    for key, value_type in (("files", str), ("sizes", int)):  # what every check of the files reads
        section = manifest.get(key, {})
        if not isinstance(section, dict) or not all(isinstance(k, str) and isinstance(v, value_type)
                                                    and not isinstance(v, bool) for k, v in section.items()):
            raise ModelError(f"{path}: {key}: not an object of relative path → {value_type.__name__}",
                             hint="the manifest was edited or damaged: " + (_maker_hint(kind) or "make it again"))
    if kind is not None and manifest.get("kind") != kind:
        raise ModelError(
            f"{path}: this is a '{manifest.get('kind')}' directory, expected a '{kind}' directory",
            hint=_maker_hint(kind),
        )
    return manifest


def file_problem(directory: str | os.PathLike[str], manifest: dict[str, Any], rel: str) -> str | None:
    """What is wrong with ``directory/rel`` against the manifest's size and sha256, or None when it is intact.

    A file the manifest does not list is a problem too: nothing vouches for it. Manifests written
    before sizes were recorded are checked by sha256 alone.
    """
    p = Path(directory) / rel
    digest = (manifest.get("files") or {}).get(rel)
    if digest is None:
        return f"not listed in {MANIFEST_NAME}'s files, so nothing vouches for it"
    if not p.is_file():
        return "missing"
    size = p.stat().st_size
    want = (manifest.get("sizes") or {}).get(rel)
    if isinstance(want, int) and size != want:
        what = "truncated" if size < want else "grown"
        return f"{what}: {size} bytes, the manifest says {want}"
    if sha256_file(p) != digest:
        return "changed since the manifest was written (sha256 differs)"
    return None


def check_files(directory: str | os.PathLike[str], manifest: dict[str, Any]) -> list[str]:
    """Return problems (missing, resized or changed files) relative to the manifest; empty if intact."""
    directory = Path(directory)
    return [f"{directory / rel}: {problem}" for rel in (manifest.get("files") or {})
            if (problem := file_problem(directory, manifest, rel))]


def verify_file(directory: str | os.PathLike[str], manifest: dict[str, Any], rel: str, *, remake: str,
                error: type[EdgeclasError] = IntegrityError) -> Path:
    """``directory/rel`` after checking it against the manifest; ``error`` naming it and ``remake`` otherwise."""
    problem = file_problem(directory, manifest, rel)
    if problem:
        raise error(f"{Path(directory) / rel}: {problem}",
                    hint=f"{remake}; or pass --no-verify to use it as it is")
    return Path(directory) / rel


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
