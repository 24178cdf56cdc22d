"""Paddle Lite device libraries (light API), pinned to v2.13-rc — the version opt converts with.

Layout (as released): ``DIR/cxx/include/paddle_api.h`` …, ``DIR/cxx/lib/libpaddle_light_api_shared.so``.
Two ways into the cache slot ``cache/sdk/paddle-lite/v2.13-rc/<os>-<arch>``, each recorded in its
``manifest.json`` (kind ``sdk``: version, route, sha256 of each file; tailored op list for builds):

* ``edgeclas sdk build paddle-lite`` builds it from the official source (:mod:`edgeclas.lite.source_build`),
  optionally tailored to models' ops, and installs the result here;
* ``edgeclas sdk install paddle-lite --archive FILE --sha256 HEX``: a GitHub release archive the user
  fetched (GitHub is not a package registry, Paddle Lite publishes no sha256, so edgeclas never
  downloads them itself), verified and unpacked safely.

``EDGECLAS_LITE_ROOT`` or ``--lite-root`` point at any such directory instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgeclasError, ToolchainError
from ..fsutil import staging_dir
from ..manifest import check_files, read_manifest, write_manifest
from ..paths import cache_dir
from . import SdkItem, Target
from . import target as make_target
from ._elf import elf_machine
from .download import safe_extract, verify_sha256

__all__ = ["VERSION", "PREBUILT", "LibraryInfo", "release_url", "library_info", "library_facts", "resolve", "install",
           "install_build", "targets"]

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


@dataclass(frozen=True)
class LibraryInfo:
    """What a Paddle Lite directory's manifest says about its library (defaults for a bare release copy)."""

    version: str
    route: str  # "source" | "archive" | "unrecorded"
    tailored_kernels: tuple[str, ...] | None  # None: every kernel of the build (not tailored)
    tailored_models: tuple[str, ...]
    fp16: bool  # built with ARMv8.2 FP16 kernels (LITE_WITH_ARM82_FP16)
    runtime_libs: tuple[str, ...]  # other shared libs in cxx/lib the library needs on the device
    source_commit: str = ""

    @property
    def note(self) -> str:
        if self.route == "source":
            what = (f"tailored to {len(self.tailored_kernels)} kernels" if self.tailored_kernels is not None
                    else "all kernels")
            return f"built from source {self.source_commit[:12]}, {what}" + (", fp16" if self.fp16 else "")
        if self.route == "archive":
            return "release archive"
        return "version assumed; opt must match it"


def library_info(root: Path) -> LibraryInfo:
    """Read ``root/manifest.json`` (a build or an installed archive); a directory without one is a bare copy."""
    try:
        m = read_manifest(root, "sdk")
    except EdgeclasError:
        return LibraryInfo(VERSION, "unrecorded", None, (), False, ())
    tailored = m.get("tailored") or None
    return LibraryInfo(
        version=str(m.get("version") or VERSION),
        route=str(m.get("route") or "unrecorded"),
        tailored_kernels=tuple(tailored["kernels"]) if tailored else None,
        tailored_models=tuple(tailored.get("models", [])) if tailored else (),
        fp16=bool((m.get("options") or {}).get("fp16")),
        runtime_libs=tuple(m.get("runtime_libs") or ()),
        source_commit=str((m.get("source") or {}).get("commit") or ""),
    )


def library_facts(root: Path) -> dict:
    """For ``edgeclas build`` (targets.ENGINES["lite"].library_facts): the library's version and FP16 kernels as
    CMake definitions (clas_system checks .nb versions and applies FP16 with them), its runtime libraries, and
    the build manifest's ``engine.library`` section (deploy checks a model's kernels against a tailored one)."""
    info = library_info(root)
    return {
        "cmake": [f"-DEDGECLAS_LITE_VERSION={info.version}", f"-DEDGECLAS_LITE_FP16={'ON' if info.fp16 else 'OFF'}"],
        "libs": list(info.runtime_libs),
        "manifest": {"route": info.route, "fp16": info.fp16, "source_commit": info.source_commit or None,
                     "tailored_models": list(info.tailored_models),
                     "tailored_kernels": None if info.tailored_kernels is None else list(info.tailored_kernels)},
    }


def release_url(t: Target) -> str:
    return f"{_RELEASES}/{VERSION}/{PREBUILT[t.key]}.tar.gz"


def targets(name: str) -> list[Target]:
    return [make_target(a, o) for o in ("android", "linux") for a in ("armv8", "armv7")] + [make_target("host")]


def _has_library(t: Target) -> bool:
    """A release archive exists for it, or (the host, x86-64) edgeclas builds it from source."""
    return t.key in PREBUILT or (t.is_host and t.machine == "x86_64")


def _cache_path(t: Target) -> Path:
    return cache_dir("sdk", "paddle-lite", VERSION, t.key)


def check_root(root: Path, t: Target) -> None:
    for rel in ("cxx/include/paddle_api.h", _LIB):
        if not (root / rel).is_file():
            raise ToolchainError(f"{root}: not a Paddle Lite prebuilt library (no {rel})",
                                 hint=f"point at the directory holding cxx/ ({_how(t)})")
    got = elf_machine(root / _LIB)
    if got != t.machine:
        raise ToolchainError(f"{root / _LIB}: built for {got}, but the target {t.key} needs {t.machine}",
                             hint=_how(t))


def _how(t: Target) -> str:
    if t.key not in PREBUILT:
        return (f"build it from the official source: edgeclas sdk build paddle-lite {t.flags()} [--tailor MODEL_DIR] "
                f"(or set {ENV}=DIR)")
    return (f"build it from the official source: edgeclas sdk build paddle-lite {t.flags()} [--tailor MODEL_DIR]; "
            f"or download {release_url(t)} (needs internet), then: edgeclas sdk install paddle-lite {t.flags()} "
            f"--archive {PREBUILT[t.key]}.tar.gz --sha256 HEX   (or set {ENV}=DIR)")


def _no_library(t: Target) -> ToolchainError:
    return ToolchainError(f"Paddle Lite libraries exist for {', '.join(PREBUILT)} and the x86-64 host, not {t.key}",
                          hint="on this machine, x86 .nb files run through the host lite engine (edgeclas verify / "
                               "predict --engine lite); ARM builds (--arch armv8|armv7 --os linux) run here under qemu")


def resolve(name: str, t: Target, flag: Path | None) -> SdkItem:
    if not _has_library(t):
        raise _no_library(t)
    env = os.environ.get(ENV)
    for source, root in (("flag", flag), ("env", Path(env) if env else None)):
        if root is not None:
            check_root(root, t)
            info = library_info(root)
            return SdkItem(name, info.version, root, source, t.key, note=info.note)
    root = _cache_path(t)
    if root.is_dir():
        check_root(root, t)
        info = library_info(root)
        return SdkItem(name, info.version, root, "cache", t.key, note=info.note)
    raise ToolchainError(f"Paddle Lite {VERSION} library for {t.key} not found (no --lite-root, no ${ENV}, "
                         f"nothing in {root})", hint=_how(t))


def install(name: str, t: Target, *, archive: str | None = None, sha256: str | None = None, **_: object) -> SdkItem:
    if not _has_library(t):
        raise _no_library(t)
    if t.key not in PREBUILT:
        raise ToolchainError(f"Paddle Lite publishes no release archive for {t.key} that edgeclas installs",
                             hint=_how(t))
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
    files = [str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file()]
    write_manifest(root, "sdk", {"name": "paddle-lite", "route": "archive", "version": VERSION,
                                 "target": {"os": t.os, "arch": t.arch, "abi": t.abi},
                                 "archive": Path(archive).name, "sha256": sha256.lower()}, files)
    return SdkItem(name, VERSION, root, "cache", t.key, note="release archive")


def install_build(build_root: Path, t: Target) -> SdkItem:
    """Make a finished source build (``edgeclas sdk build``) the ``paddle-lite`` piece for ``t``: a copy into the
    cache slot, so later builds of other variants never change what this one resolves to."""
    import shutil

    check_root(build_root, t)
    m = read_manifest(build_root, "sdk")
    problems = check_files(build_root, m)
    if problems:
        raise ToolchainError(f"{build_root}: the build changed since it was made: {problems[0]}",
                             hint="build it again: edgeclas sdk build paddle-lite ...")
    root = _cache_path(t)
    with staging_dir(root) as tmp:
        os.chmod(tmp, 0o755)
        shutil.copytree(build_root, tmp, dirs_exist_ok=True)
    info = library_info(root)
    return SdkItem("paddle-lite", info.version, root, "cache", t.key, note=info.note)
