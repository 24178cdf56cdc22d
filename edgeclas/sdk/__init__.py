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
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ToolchainError

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


@dataclass(frozen=True)
class Target:
    """Where code runs: ``os`` linux|android, ``arch`` host|armv7|armv8 (as the CLI says it)."""

    os: str
    arch: str

    @property
    def machine(self) -> str:
        """The CPU: x86_64, aarch64 or armv7 (``host`` resolved to this machine)."""
        if self.arch == "host":
            return _host_machine()
        return {"armv8": "aarch64", "armv7": "armv7"}[self.arch]

    @property
    def abi(self) -> str:
        return {"x86_64": "x86_64", "aarch64": "arm64-v8a", "armv7": "armeabi-v7a"}[self.machine]

    @property
    def triple(self) -> str:
        if self.os == "android":
            return {"aarch64": "aarch64-linux-android", "armv7": "armv7a-linux-androideabi"}[self.machine]
        return {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "armv7": "arm-linux-gnueabihf"}[
            self.machine
        ]

    @property
    def is_host(self) -> bool:
        return self.os == "linux" and self.machine == _host_machine()

    @property
    def key(self) -> str:
        """``linux-host``, ``linux-armv8``, ``android-armv7``: names cache dirs and list rows."""
        return f"{self.os}-{self.arch}"

    def flags(self) -> str:
        """The CLI options that select this target, for messages."""
        if self.arch == "host":
            return "--arch host"
        return f"--arch {self.arch} --os {self.os}"


_ARCH_ALIASES = {
    "host": "host",
    "armv8": "armv8", "arm64": "armv8", "aarch64": "armv8", "arm64-v8a": "armv8",
    "armv7": "armv7", "arm": "armv7", "armhf": "armv7", "armeabi-v7a": "armv7", "armv7hf": "armv7",
}


def _host_machine() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64", "armv7l": "armv7"}.get(m, m)


def target(arch: str = "host", os: str | None = None) -> Target:
    """Normalise CLI words: ``arch`` host|armv7|armv8 (or arm64, aarch64, armhf, ABI names);
    ``os`` linux|android, default android for ARM (phones are the real target) and linux for host."""
    a = _ARCH_ALIASES.get((arch or "host").lower())
    if a is None:
        raise ConfigError(f"unknown --arch '{arch}'", hint="use one of: host, armv7, armv8")
    o = (os or ("linux" if a == "host" else "android")).lower()
    if o not in ("linux", "android"):
        raise ConfigError(f"unknown --os '{os}'", hint="use one of: android, linux")
    if a == "host" and o != "linux":
        raise ConfigError("--arch host builds for this machine, which runs Linux; --os android needs --arch armv7|armv8")
    return Target(o, a)


# name → (module implementing it, one-line description). Other areas add rows with register().
_REGISTRY: dict[str, tuple[str, str]] = {
    "ndk": ("edgeclas.sdk.ndk", "Android NDK (clang, sysroot, libc++_shared) for --os android builds"),
    "onnxruntime": ("edgeclas.sdk.onnxruntime", "ONNX Runtime C/C++ SDK (headers + libonnxruntime) per target"),
    "paddle-lite": ("edgeclas.sdk.paddle_lite",
                    "Paddle Lite 2.13-rc device libraries per target: built from source (sdk build) or a release"),
    "paddle-lite-source": ("edgeclas.sdk.paddle_lite_source",
                           "Paddle Lite's official source (git URL, clone or bundle) that sdk build paddle-lite builds"),
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
