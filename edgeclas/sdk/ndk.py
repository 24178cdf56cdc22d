"""The Android NDK: found from ``--ndk``, ``ANDROID_NDK_HOME`` / ``ANDROID_NDK_ROOT`` / ``EDGECLAS_NDK``, or the cache.

No package registry carries the NDK (Google serves it from its own site), so edgeclas cannot fetch
it. ``edgeclas sdk install ndk`` explains how to get it and, given the downloaded archive and the
sha256 the user trusts, verifies it and unpacks it safely into the cache.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ToolchainError
from ..paths import cache_dir
from . import SdkItem, Target
from . import target as make_target
from .download import safe_extract, verify_sha256

__all__ = ["ENV_VARS", "DOWNLOAD_PAGE", "toolchain_file", "libcxx_shared", "resolve", "install", "targets"]

ENV_VARS = ("ANDROID_NDK_HOME", "ANDROID_NDK_ROOT", "EDGECLAS_NDK")
DOWNLOAD_PAGE = "https://developer.android.com/ndk/downloads"
_TOOLCHAIN = "build/cmake/android.toolchain.cmake"

HOW = (f"download the Linux NDK (r23 or newer) from {DOWNLOAD_PAGE}, then either "
       "`export ANDROID_NDK_HOME=/path/to/android-ndk-rXX` or "
       "`edgeclas sdk install ndk --archive android-ndk-rXX-linux.zip --sha256 HEX`")


def targets(name: str) -> list[Target]:
    return [make_target("armv8", "android")]  # one NDK serves every Android ABI


def toolchain_file(ndk: Path) -> Path:
    return ndk / _TOOLCHAIN


def libcxx_shared(ndk: Path, t: Target) -> Path:
    """``libc++_shared.so`` for the target ABI, which Android apps must ship beside the binary."""
    triple = {"aarch64": "aarch64-linux-android", "armv7": "arm-linux-androideabi"}[t.machine]
    return ndk / "toolchains/llvm/prebuilt/linux-x86_64/sysroot/usr/lib" / triple / "libc++_shared.so"


def _version(ndk: Path) -> str:
    try:
        text = (ndk / "source.properties").read_text()
    except OSError:
        return "unknown"
    m = re.search(r"Pkg\.Revision\s*=\s*(\S+)", text)
    return m.group(1) if m else "unknown"


def _check(ndk: Path) -> str | None:
    if not toolchain_file(ndk).is_file():
        return f"no {_TOOLCHAIN} in it"
    return None


def resolve(name: str, t: Target, flag: Path | None) -> SdkItem:
    candidates: list[tuple[str, str, Path]] = []
    if flag:
        candidates.append(("flag", "--ndk", flag))
    candidates += [("env", var, Path(os.environ[var])) for var in ENV_VARS if os.environ.get(var)]
    for source, origin, root in candidates:
        problem = _check(root)
        if problem:
            raise ToolchainError(f"{root} (from {origin}) is not an Android NDK: {problem}", hint=HOW)
        return SdkItem(name, _version(root), root, source, note=f"from {origin}")
    cached = sorted((p for p in cache_dir("sdk", "ndk").glob("*") if _check(p) is None), reverse=True)
    if cached:
        return SdkItem(name, _version(cached[0]), cached[0], "cache")
    raise ToolchainError(f"Android NDK not found (none of {', '.join(ENV_VARS)} is set, nothing in "
                         f"{cache_dir('sdk', 'ndk')})", hint=HOW)


def install(name: str, t: Target, *, archive: str | None = None, sha256: str | None = None, **_: object) -> SdkItem:
    if not archive:
        raise ToolchainError("the Android NDK is not in any package registry edgeclas can reach; "
                             "it has to be downloaded from Google's site", hint=HOW)
    if not sha256:
        raise ToolchainError(f"{archive}: give the sha256 you expect with --sha256 HEX so the archive can be verified",
                             hint="sha256sum it where you downloaded it from the official page")
    verify_sha256(archive, sha256, delete=False)
    stem = Path(archive).name.split("-linux")[0].removesuffix(".zip")
    dest = cache_dir("sdk", "ndk", stem)
    safe_extract(archive, dest, select=lambda n: n.split("/", 1)[1] if "/" in n else None)
    problem = _check(dest)
    if problem:
        raise ToolchainError(f"{archive}: unpacked, but {problem}; is this an NDK archive?", hint=HOW)
    return SdkItem(name, _version(dest), dest, "cache")
