"""The SDK layer: every external tool or library a build or deploy needs, found in one place.

Each item (``ndk``, ``onnxruntime``, ``paddle-lite``, ``cross-gcc``, ``qemu``, ``qemu-prefix``, and
items other areas register, e.g. ``lite-opt``) is resolved in a fixed order::

    explicit flag  →  environment variable  →  edgeclas cache  →  (install: pinned download)

:func:`resolve` never downloads; it returns an :class:`SdkItem` or raises :class:`ToolchainError`
whose hint is the exact ``edgeclas sdk install …`` or ``apt-get install …`` command. :func:`install`
fetches pinned artifacts (sha256-checked) into the cache. Tool modules implement three functions:
``resolve(name, target, flag)``, ``install(name, target, **options)`` and ``targets(name)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ToolchainError
from ..targets import Target, target

__all__ = [
    "SdkItem",
    "Target",
    "target",
    "register",
    "names",
    "resolve",
    "install",
    "targets",
    "doctor_rows",
]


@dataclass(frozen=True)
class SdkItem:
    name: str
    version: str
    path: Path
    source: str  # "flag" | "env" | "cache" | "download" | "system"
    target: str = ""  # Target.key for per-target items, "" for host tools used for every target
    note: str = ""


# name → (module implementing it, one-line description). Other areas add rows with register().
_REGISTRY: dict[str, tuple[str, str]] = {
    "ndk": ("edgeclas.sdk.ndk", "Android NDK (clang, sysroot, libc++_shared) for --os android builds"),
    "onnxruntime": ("edgeclas.sdk.onnxruntime", "ONNX Runtime C/C++ SDK (headers + libonnxruntime) per target"),
    "paddle-lite": ("edgeclas.sdk.paddle_lite", "Paddle Lite 2.13-rc prebuilt device libraries per target"),
    "cross-gcc": ("edgeclas.sdk.cross", "Debian cross compilers for ARM Linux boards"),
    "qemu": ("edgeclas.sdk.cross", "qemu user-mode emulators to run ARM binaries here"),
    "qemu-prefix": ("edgeclas.sdk.cross", "qemu -L prefix: cross libc + an ARM /proc/cpuinfo"),
    "lite-opt": ("edgeclas.lite.sdk", "Paddle Lite opt (model → .nb), v2.13-rc: binary, paddlelite or compat runtime"),
}


def register(name: str, module: str, description: str) -> None:
    """Add an item implemented by ``module`` (which defines resolve/install/targets)."""
    _REGISTRY[name] = (module, description)


def names() -> list[str]:
    return list(_REGISTRY)


def _module(name: str) -> Any:
    name = name.replace("_", "-")  # paddle_lite and paddle-lite are the same item
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        raise ConfigError(f"unknown SDK item '{name}'",
                          hint=(f"did you mean '{close[0]}'? " if close else "") + "known: " + ", ".join(_REGISTRY))
    return importlib.import_module(_REGISTRY[name][0])


def describe(name: str) -> str:
    _module(name)
    return _REGISTRY[name.replace("_", "-")][1]


def resolve(name: str, *, arch: str = "host", os: str | None = None, flag: str | Path | None = None) -> SdkItem:
    """Find ``name`` for the target (flag → env → cache); never downloads. Missing → ToolchainError."""
    return _module(name).resolve(name, target(arch, os), Path(flag) if flag else None)


def install(name: str, *, arch: str | None = None, os: str | None = None, **options: Any) -> list[SdkItem]:
    """Install ``name`` into the cache for one target, or for every target it supports when ``arch`` is None."""
    import fcntl

    from ..paths import cache_dir

    mod = _module(name)
    chosen = targets(name) if arch is None else [target(arch, os)]
    lock_path = cache_dir("sdk", ".install.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:  # concurrent installs (parallel test sessions) share downloads/
        fcntl.flock(lock, fcntl.LOCK_EX)
        return [mod.install(name, t, **options) for t in chosen]


def targets(name: str) -> list[Target]:
    """The targets ``name`` is listed for (one entry for host-only tools)."""
    return list(_module(name).targets(name))


def doctor_rows() -> list:
    """One row per item and target: found (where, from which source) or missing (and how to get it)."""
    from ..doctor import ToolStatus

    rows = []
    for name in names():
        try:
            mod = _module(name)
        except ModuleNotFoundError:
            continue  # an area that registered an item but is not installed
        for t in mod.targets(name):
            label = f"{name} ({t.key})" if _per_target(mod, name) else name
            try:
                item = mod.resolve(name, t, None)
            except ToolchainError as e:
                rows.append(ToolStatus("sdk", label, False, how=e.hint or "", note=e.message))
                continue
            rows.append(ToolStatus("sdk", label, True, item.version, str(item.path), note=item.source
                                   + (f"; {item.note}" if item.note else "")))
    return rows


def _per_target(mod: Any, name: str) -> bool:
    return len(list(mod.targets(name))) > 1 or getattr(mod, "PER_TARGET", False)
