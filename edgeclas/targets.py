"""What a target and a device engine are: two tables that build, deploy, bench, pipeline, the CLI and doctor read.

:data:`TARGETS` — where ``clas_system`` runs: os × CPU → the ``--arch`` word, ABI, GNU triple, the
toolchain file in ``toolchains/`` and the qemu-user emulators that run its binaries here.

:data:`ENGINES` — which inference engine a device build carries: the model format it loads and where
a model directory lists that file, the ``clas_system`` backend it compiles (``EDGECLAS_ENGINE`` and its
``native/src`` file), the SDK item providing its headers and runtime libraries, and the OSes where it is
the default. The CLI's ``--engine`` choices, doctor's engine rows and the docs' tables come from here;
adding an engine is one row plus its backend files (docs/targets.md, "Adding an engine").

This module is data and pure lookups: it imports nothing that resolves tools (that is the SDK layer,
which builds on :class:`Target`).
"""

from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, ModelError
from .paths import source_dir

__all__ = [
    "TargetSpec",
    "TARGETS",
    "OSES",
    "ARCHES",
    "ABI_TO_ARCH",
    "Target",
    "target",
    "host_machine",
    "DeviceEngine",
    "ENGINES",
    "engine",
    "engine_names",
    "model_engine_names",
    "default_engine_for_model",
]


# ----------------------------------------------------------------------------------------- targets

@dataclass(frozen=True)
class TargetSpec:
    """One row of :data:`TARGETS`."""

    os: str  # linux | android: which userland (glibc or bionic) the binaries need
    machine: str  # x86_64 | aarch64 | armv7
    arch: str  # the --arch word: armv8 | armv7 (host: this machine, whatever its CPU)
    abi: str  # Android's ABI name, which devices report and build manifests record
    triple: str
    toolchain: str | None  # file in toolchains/; None for this machine's own compiler
    qemu: tuple[str, ...] = ()  # qemu-user binaries that run it here, static first (Linux only)


TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec("linux", "x86_64", "host", "x86_64", "x86_64-linux-gnu", None),
    TargetSpec("linux", "aarch64", "armv8", "arm64-v8a", "aarch64-linux-gnu", "linux-armv8.cmake",
               ("qemu-aarch64-static", "qemu-aarch64")),
    TargetSpec("linux", "armv7", "armv7", "armeabi-v7a", "arm-linux-gnueabihf", "linux-armv7.cmake",
               ("qemu-arm-static", "qemu-arm")),
    TargetSpec("android", "aarch64", "armv8", "arm64-v8a", "aarch64-linux-android", "android-armv8.cmake"),
    TargetSpec("android", "armv7", "armv7", "armeabi-v7a", "armv7a-linux-androideabi", "android-armv7.cmake"),
)

OSES = tuple(dict.fromkeys(s.os for s in TARGETS))
ARCHES = ("host", *dict.fromkeys(s.arch for s in TARGETS if s.arch != "host"))
# A device's ABI → the --arch of the build that runs on it.
ABI_TO_ARCH = {s.abi: s.arch for s in TARGETS if s.arch != "host"}

_ARCH_ALIASES = {
    "host": "host",
    "armv8": "armv8", "arm64": "armv8", "aarch64": "armv8", "arm64-v8a": "armv8",
    "armv7": "armv7", "arm": "armv7", "armhf": "armv7", "armeabi-v7a": "armv7", "armv7hf": "armv7",
}


def host_machine() -> str:
    """This machine's CPU as :data:`TARGETS` names it (x86_64, aarch64, armv7)."""
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64", "armv7l": "armv7"}.get(m, m)


@dataclass(frozen=True)
class Target:
    """Where code runs: ``os`` linux|android, ``arch`` host|armv7|armv8 (as the CLI says it)."""

    os: str
    arch: str

    @property
    def machine(self) -> str:
        """The CPU: x86_64, aarch64 or armv7 (``host`` resolved to this machine)."""
        if self.arch == "host":
            return host_machine()
        return next(s.machine for s in TARGETS if s.arch == self.arch)

    @property
    def spec(self) -> TargetSpec:
        for s in TARGETS:
            if s.os == self.os and s.machine == self.machine:
                return s
        raise ConfigError(f"{self.key}: edgeclas has no target for {self.os} on {self.machine}",
                          hint="targets: " + ", ".join(f"{s.os}-{s.arch}" for s in TARGETS))

    @property
    def abi(self) -> str:
        return self.spec.abi

    @property
    def triple(self) -> str:
        return self.spec.triple

    @property
    def qemu(self) -> tuple[str, ...]:
        return self.spec.qemu

    @property
    def is_host(self) -> bool:
        return self.os == "linux" and self.machine == host_machine()

    @property
    def toolchain(self) -> Path | None:
        """The CMake toolchain file, or None when this machine's compiler builds it."""
        if self.is_host or self.spec.toolchain is None:
            return None
        return source_dir("toolchains") / self.spec.toolchain

    @property
    def key(self) -> str:
        """``linux-host``, ``linux-armv8``, ``android-armv7``: names cache dirs, build dirs and list rows."""
        return f"{self.os}-{self.arch}"

    def flags(self) -> str:
        """The CLI options that select this target, for messages."""
        if self.arch == "host":
            return "--arch host"
        return f"--arch {self.arch} --os {self.os}"


def target(arch: str = "host", os: str | None = None) -> Target:
    """Normalise CLI words: ``arch`` host|armv7|armv8 (or arm64, aarch64, armhf, ABI names);
    ``os`` linux|android, default android for ARM (phones are the real target) and linux for host."""
    a = _ARCH_ALIASES.get((arch or "host").lower())
    if a is None:
        raise ConfigError(f"unknown --arch '{arch}'", hint=f"use one of: {', '.join(ARCHES)}")
    o = (os or ("linux" if a == "host" else "android")).lower()
    if o not in OSES:
        raise ConfigError(f"unknown --os '{os}'", hint=f"use one of: {', '.join(sorted(OSES))}")
    if a == "host" and o != "linux":
        raise ConfigError("--arch host builds for this machine, which runs Linux; --os android needs --arch armv7|armv8")
    return Target(o, a)


# ----------------------------------------------------------------------------------------- engines

@dataclass(frozen=True)
class DeviceEngine:
    """One row of :data:`ENGINES`: an inference engine ``clas_system`` can be built with."""

    name: str  # --engine word; manifests' engine.name; clas_system's EDGECLAS_ENGINE and `engine` key
    title: str  # how messages name it
    native_source: str  # its backend in native/src/ (the one engine file CMake compiles)
    # Where a model manifest lists its model file: keys into "formats", down to the entry holding "file".
    # () for an engine that runs no model (a build of the core and its tests only).
    model_format: tuple[str, ...] = ()
    format_label: str = ""  # the model file, as messages name it (".onnx", ".nb for arm")
    convert: str = ""  # the `edgeclas convert MODEL_DIR …` options that make that file
    sdk: str | None = None  # SDK item with its headers and runtime libraries (edgeclas sdk …)
    cmake_root: str | None = None  # CMake cache variable that receives that item's directory
    root_option: str | None = None  # `edgeclas build` option naming that directory instead of the SDK layer
    libs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # os → files under the item, shipped in lib/
    default_on: tuple[str, ...] = ()  # OSes where it is the default engine (first row that fits wins)
    # "module:function(entry, engine_version)" refusing a model file this build's library cannot load.
    check_model: str | None = None

    @property
    def runs_models(self) -> bool:
        return bool(self.model_format)

    def model_entry(self, formats: Mapping[str, Any]) -> dict[str, Any] | None:
        """The manifest entry (``{"file": …, …}``) of this engine's model file, or None when there is none."""
        entry: Any = formats
        for key in self.model_format:
            entry = entry.get(key) if isinstance(entry, dict) else None
        return entry if self.model_format and isinstance(entry, dict) and entry.get("file") else None

    def model_file(self, model_path: Path, formats: Mapping[str, Any], engine_version: str = "") -> Path:
        """This engine's model file in a model directory, checked against a build's engine version."""
        if not self.runs_models:
            raise ConfigError(f"the build's engine is '{self.name}': it cannot run a model",
                              hint="build with an engine: edgeclas build --engine "
                                   + "|".join(model_engine_names()))
        entry = self.model_entry(formats)
        if entry is None:
            raise ModelError(f"{model_path}: the build's engine is {self.title} but the model has no {self.format_label}",
                             hint=f"make it with: edgeclas convert {model_path} {self.convert}")
        if self.check_model:
            module, func = self.check_model.split(":")
            getattr(importlib.import_module(module), func)(entry, engine_version)
        path = model_path / entry["file"]
        if not path.is_file():
            raise ModelError(f"{path}: listed in the manifest but missing", hint="re-export or re-convert the model")
        return path


# Order matters: the first row whose default_on names the OS (and that fits) is the default.
ENGINES: dict[str, DeviceEngine] = {
    "onnxruntime": DeviceEngine(
        "onnxruntime", "onnxruntime", "engine_onnxruntime.cc",
        model_format=("onnx",), format_label=".onnx", convert="--to onnx",
        sdk="onnxruntime", cmake_root="EDGECLAS_ORT_ROOT", root_option="--ort-root",
        libs={"linux": ("lib/libonnxruntime.so.1",), "android": ("lib/libonnxruntime.so",)},
        default_on=("linux",),
    ),
    "lite": DeviceEngine(
        "lite", "Paddle Lite", "engine_paddle_lite.cc",
        model_format=("nb", "arm"), format_label=".nb for arm", convert="--to nb --target arm",
        sdk="paddle-lite", cmake_root="EDGECLAS_LITE_ROOT", root_option="--lite-root",
        libs={os_: ("cxx/lib/libpaddle_light_api_shared.so",) for os_ in ("linux", "android")},
        default_on=("android",),
        check_model="edgeclas.lite:check_lite_version",  # .nb and library must come from one Paddle Lite version
    ),
    "none": DeviceEngine("none", "no engine", "engine_none.cc", default_on=("android", "linux")),
}


def engine(name: str) -> DeviceEngine:
    """The row of ``name``; an unknown name is a ConfigError listing the choices."""
    row = ENGINES.get(name)
    if row is None:
        raise ConfigError(f"unknown engine '{name}'", hint=f"use one of: {', '.join(ENGINES)}")
    return row


def engine_names() -> list[str]:
    """Every engine a build can carry (``edgeclas build --engine``)."""
    return list(ENGINES)


def model_engine_names() -> list[str]:
    """The engines that run a model (``deploy``/``bench --engine``)."""
    return [name for name, row in ENGINES.items() if row.runs_models]


def default_engine_for_model(formats: Mapping[str, Any], os_name: str) -> str:
    """The engine to run a model on a device of ``os_name``: that OS's default engine when the model has
    its file, else the first engine (table order) whose file the model has, else the OS's default."""
    runners = [row for row in ENGINES.values() if row.runs_models]
    native = [row for row in runners if os_name in row.default_on]
    for row in (*native, *runners):
        if row.model_entry(formats) is not None:
            return row.name
    return (native or runners)[0].name
