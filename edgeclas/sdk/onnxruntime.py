"""ONNX Runtime C/C++ SDK per target: ``DIR/include/*.h`` + ``DIR/lib/libonnxruntime.so*``.

No single registry package carries headers and libraries for every target, so the SDK is assembled:

* **libraries** for ``linux-x86_64`` and ``linux-aarch64`` from the official ``onnxruntime`` PyPI
  wheels (``onnxruntime/capi/libonnxruntime.so.1.32.0``, SONAME ``libonnxruntime.so.1``);
* **libraries** for Android (``arm64-v8a``, ``armeabi-v7a``) and the **headers** for every target
  from the official ORT Android AAR (``jni/<abi>/libonnxruntime.so``, ``headers/``). Maven Central,
  where Microsoft publishes that AAR, does not serve ``onnxruntime-android`` in this workplace
  (HTTP 404 for every version); the same official AAR (ORT 1.29.0) is redistributed unchanged inside
  the npm package ``com.github.asus4.onnxruntime`` (a Unity plugin), which npm does serve.

The C API is backward compatible (headers of API version N work with a library ≥ N), so 1.29
headers with the 1.32 libraries are fine. No ORT build exists for 32-bit ARM Linux (armhf glibc)
in any registry: that target is refused with a clear message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ..errors import ToolchainError
from ..fsutil import atomic_write_json, staging_dir
from ..paths import cache_dir
from . import SdkItem, Target
from . import target as make_target
from ._elf import elf_machine
from .download import Artifact, fetch, safe_extract, verify_sha256

__all__ = ["VERSION", "AAR_VERSION", "WHEELS", "AAR_PACKAGE", "AAR_SHA256", "resolve", "install", "targets"]

VERSION = "1.32.0"  # the libraries for Linux targets (same as the onnxruntime Python package pinned in pyproject)
AAR_VERSION = "1.29.0"  # the AAR: headers for all targets, libraries for Android

ENV = "EDGECLAS_ORT_ROOT"

# Pinned artifacts: sha256 recorded at the first download (2026-11-23) and checked on every fetch.
WHEELS = {
    "x86_64": Artifact(
        "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl", "pip", "onnxruntime==1.32.0",
        "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
        ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"), 27_773_237,
    ),
    "aarch64": Artifact(
        "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_aarch64.whl", "pip", "onnxruntime==1.32.0",
        "2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c",
        ("--platform", "manylinux_2_28_aarch64", "--python-version", "3.11"), 23_195_070,
    ),
}
AAR_PACKAGE = Artifact(
    "com.github.asus4.onnxruntime-0.4.9.tgz", "npm", "com.github.asus4.onnxruntime@0.4.9",
    "e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d", (), 149_800_000,
)
AAR_MEMBER = "package/Plugins/Android/onnxruntime.aar"
AAR_NAME = f"onnxruntime-android-{AAR_VERSION}.aar"
AAR_SHA256 = "98cddbac92640b4a6af72a03c42e0491851f366d3da66bbaeb5dd66310946cf2"

_WHEEL_LIB = f"onnxruntime/capi/libonnxruntime.so.{VERSION}"
_MANIFEST = "sdk.json"


def targets(name: str) -> list[Target]:
    return [make_target("host"), make_target("armv8", "linux"), make_target("armv8", "android"),
            make_target("armv7", "android")]


def _cache_path(t: Target) -> Path:
    return cache_dir("sdk", "onnxruntime", f"{t.os}-{t.abi}")


def _unsupported(t: Target) -> None:
    if t.os == "linux" and t.machine == "armv7":
        raise ToolchainError(
            "no ONNX Runtime exists for 32-bit ARM Linux (armhf glibc): neither PyPI, Maven Central nor npm "
            "ship one",
            hint="build armv7 Linux with --engine none (core + tests) or --engine lite; for ORT on 32-bit ARM "
                 "use --os android (the AAR has armeabi-v7a)",
        )
    if t.os == "linux" and t.machine not in WHEELS:
        raise ToolchainError(f"no ONNX Runtime library is pinned for Linux {t.machine}")


def check_root(root: Path, t: Target) -> tuple[str, Path]:
    """Validate an SDK directory for ``t``; return (version, library path). Errors say what is wrong."""
    header = root / "include" / "onnxruntime_cxx_api.h"
    if not header.is_file():
        raise ToolchainError(f"{root}: not an ONNX Runtime SDK (no include/onnxruntime_cxx_api.h)",
                             hint="the layout is DIR/include/onnxruntime_*.h and DIR/lib/libonnxruntime.so*")
    libs = sorted((root / "lib").glob("libonnxruntime.so*"))
    if not libs:
        raise ToolchainError(f"{root}: no lib/libonnxruntime.so*",
                             hint="the layout is DIR/include/onnxruntime_*.h and DIR/lib/libonnxruntime.so*")
    lib = libs[0].resolve()
    got = elf_machine(lib)
    if got != t.machine:
        raise ToolchainError(f"{lib}: built for {got}, but the target {t.key} needs {t.machine}",
                             hint=f"point it at the SDK for this target: edgeclas sdk path onnxruntime {t.flags()}")
    meta = root / _MANIFEST
    version = ""
    if meta.is_file():
        try:
            version = json.loads(meta.read_text()).get("version", "")
        except (OSError, ValueError):
            version = ""
    if not version:
        m = re.search(r"\.so\.(\d+\.\d+\.\d+)$", lib.name)
        version = m.group(1) if m else "unknown"
    return version, lib


def resolve(name: str, t: Target, flag: Path | None) -> SdkItem:
    _unsupported(t)
    for source, root in (("flag", flag), ("env", Path(os.environ[ENV]) if os.environ.get(ENV) else None)):
        if root is not None:
            try:
                version, _ = check_root(root, t)
            except ToolchainError as e:
                raise ToolchainError(f"{e.message} (given by {'--ort-root' if source == 'flag' else ENV})",
                                     hint=e.hint) from None
            return SdkItem(name, version, root, source, t.key)
    root = _cache_path(t)
    if (root / _MANIFEST).is_file():
        version, _ = check_root(root, t)
        return SdkItem(name, version, root, "cache", t.key)
    raise ToolchainError(f"ONNX Runtime SDK for {t.key} not found (no --ort-root, no ${ENV}, nothing in {root})",
                         hint=f"edgeclas sdk install onnxruntime {t.flags()}")


def _aar(downloads: Path) -> Path:
    """The verified AAR in the download cache, fetched (and unpacked from its npm package) if needed."""
    aar = downloads / AAR_NAME
    if aar.is_file():
        try:
            verify_sha256(aar, AAR_SHA256)
            return aar
        except ToolchainError:
            pass
    tgz = fetch(AAR_PACKAGE, downloads)
    unpack = downloads / ".aar-unpack"
    safe_extract(tgz, unpack, select=lambda n: "onnxruntime.aar" if n == AAR_MEMBER else None)
    verify_sha256(unpack / "onnxruntime.aar", AAR_SHA256)
    os.replace(unpack / "onnxruntime.aar", aar)
    shutil.rmtree(unpack, ignore_errors=True)
    tgz.unlink()  # 150 MB of Unity plugins for other platforms; only the AAR is kept
    return aar


def install(name: str, t: Target, **_: object) -> SdkItem:
    _unsupported(t)
    downloads = cache_dir("sdk", "downloads")
    aar = _aar(downloads)
    root = _cache_path(t)
    with staging_dir(root) as tmp:
        os.chmod(tmp, 0o755)
        safe_extract(aar, tmp / "include",
                     select=lambda n: n[len("headers/"):] if n.startswith("headers/") and n.endswith(".h") else None)
        if t.os == "android":
            member = f"jni/{t.abi}/libonnxruntime.so"
            safe_extract(aar, tmp / "lib", select=lambda n: "libonnxruntime.so" if n == member else None)
            version, sources = AAR_VERSION, {"headers+lib": _src_aar()}
        else:
            wheel = fetch(WHEELS[t.machine], downloads)
            lib_name = f"libonnxruntime.so.{VERSION}"
            safe_extract(wheel, tmp / "lib", select=lambda n: lib_name if n == _WHEEL_LIB else None)
            os.symlink(lib_name, tmp / "lib" / "libonnxruntime.so.1")  # the SONAME the linker records
            os.symlink("libonnxruntime.so.1", tmp / "lib" / "libonnxruntime.so")
            version = VERSION
            sources = {
                "headers": _src_aar(),
                "lib": {"via": "pip", "spec": WHEELS[t.machine].spec, "file": WHEELS[t.machine].name,
                        "sha256": WHEELS[t.machine].sha256, "member": _WHEEL_LIB},
            }
        atomic_write_json(tmp / _MANIFEST, {"name": "onnxruntime", "version": version, "target": t.key,
                                            "abi": t.abi, "header_version": AAR_VERSION, "sources": sources})
        check_root(tmp, t)
    return SdkItem(name, version, root, "download", t.key)


def _src_aar() -> dict[str, str]:
    return {"via": "npm", "spec": AAR_PACKAGE.spec, "file": AAR_NAME, "sha256": AAR_SHA256, "member": AAR_MEMBER}
