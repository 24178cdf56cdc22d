"""Paddle Lite prebuilt device libraries (light API), pinned to v2.13-rc — the version opt converts with.

Layout (as released): ``DIR/cxx/include/paddle_api.h`` …, ``DIR/cxx/lib/libpaddle_light_api_shared.so``.
The release archives live on GitHub, which is not a package registry and is not reachable here, and
Paddle Lite publishes no sha256 for them. So edgeclas never downloads them unverified: the user fetches
the archive, passes it with ``--archive FILE --sha256 HEX`` (the digest they trust), and edgeclas checks
and unpacks it safely into the cache — or points ``EDGECLAS_LITE_ROOT`` at an unpacked copy.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ToolchainError
from ..fsutil import atomic_write_json
from ..paths import cache_dir
from . import SdkItem, Target
from . import target as make_target
from ._elf import elf_machine
from .download import safe_extract, verify_sha256

__all__ = ["VERSION", "PREBUILT", "release_url", "resolve", "install", "targets"]

VERSION = "v2.13-rc"
ENV = "EDGECLAS_LITE_ROOT"
_RELEASES = "https://github.com/PaddlePaddle/Paddle-Lite/releases/download"

# Release archive names per target (c++_shared so the app and Lite share one libc++ on Android).
PREBUILT = {
    "android-armv8": "inference_lite_lib.android.armv8.clang.c++_shared.with_extra.with_cv",
    "android-armv7": "inference_lite_lib.android.armv7.clang.c++_shared.with_extra.with_cv",
    "linux-armv8": "inference_lite_lib.armlinux.armv8.gcc.with_extra.with_cv",
    "linux-armv7": "inference_lite_lib.armlinux.armv7hf.gcc.with_extra.with_cv",
}
_LIB = "cxx/lib/libpaddle_light_api_shared.so"


def release_url(t: Target) -> str:
    return f"{_RELEASES}/{VERSION}/{PREBUILT[t.key]}.tar.gz"


def targets(name: str) -> list[Target]:
    return [make_target(a, o) for o in ("android", "linux") for a in ("armv8", "armv7")]


def _cache_path(t: Target) -> Path:
    return cache_dir("sdk", "paddle-lite", VERSION, t.key)


def check_root(root: Path, t: Target) -> None:
    for rel in ("cxx/include/paddle_api.h", _LIB):
        if not (root / rel).is_file():
            raise ToolchainError(f"{root}: not a Paddle Lite prebuilt library (no {rel})",
                                 hint=f"unpack {PREBUILT.get(t.key, 'the release archive')}.tar.gz and point at "
                                      "the directory holding cxx/")
    got = elf_machine(root / _LIB)
    if got != t.machine:
        raise ToolchainError(f"{root / _LIB}: built for {got}, but the target {t.key} needs {t.machine}",
                             hint=f"use the archive {PREBUILT.get(t.key)}")


def _how(t: Target) -> str:
    return (f"download {release_url(t)} (needs internet), then: edgeclas sdk install paddle-lite {t.flags()} "
            f"--archive {PREBUILT[t.key]}.tar.gz --sha256 HEX   (or set {ENV}=DIR)")


def resolve(name: str, t: Target, flag: Path | None) -> SdkItem:
    if t.key not in PREBUILT:
        raise ToolchainError(f"Paddle Lite prebuilt libraries exist for {', '.join(PREBUILT)}, not {t.key}")
    env = os.environ.get(ENV)
    for source, root in (("flag", flag), ("env", Path(env) if env else None)):
        if root is not None:
            check_root(root, t)
            return SdkItem(name, VERSION, root, source, t.key, note="version assumed; opt must match it")
    root = _cache_path(t)
    if root.is_dir():
        check_root(root, t)
        return SdkItem(name, VERSION, root, "cache", t.key)
    raise ToolchainError(f"Paddle Lite {VERSION} library for {t.key} not found (no --lite-root, no ${ENV}, "
                         f"nothing in {root})", hint=_how(t))


def install(name: str, t: Target, *, archive: str | None = None, sha256: str | None = None, **_: object) -> SdkItem:
    if t.key not in PREBUILT:
        raise ToolchainError(f"Paddle Lite prebuilt libraries exist for {', '.join(PREBUILT)}, not {t.key}")
    if not archive or not sha256:
        raise ToolchainError(
            f"Paddle Lite {VERSION} libraries are GitHub release files: no package registry carries them and "
            "no sha256 is published, so edgeclas does not download them itself",
            hint=_how(t),
        )
    verify_sha256(archive, sha256, delete=False)
    root = _cache_path(t)
    top = PREBUILT[t.key] + "/"
    # The archive holds one top directory named like the archive; keep what is under it.
    safe_extract(archive, root, select=lambda n: n[len(top):] if n.startswith(top) else None)
    try:
        check_root(root, t)
    except ToolchainError:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        raise
    atomic_write_json(root / "sdk.json", {"name": "paddle-lite", "version": VERSION, "target": t.key,
                                          "archive": Path(archive).name, "sha256": sha256.lower()})
    return SdkItem(name, VERSION, root, "cache", t.key)
