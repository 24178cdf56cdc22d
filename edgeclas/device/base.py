"""The one interface every device backend implements, and its typed results.

Nothing above the device layer knows whether it talks to a phone over USB, a phone in a pool on
another machine, or the emulated device: all of them are reached through :class:`Device`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

__all__ = ["ShellResult", "CpuCluster", "DeviceInfo", "RemoteDigests", "Device"]


@dataclass(frozen=True)
class ShellResult:
    """One command run on the device. Success is decided by ``exit_code`` (shell v2), never by text."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class CpuCluster:
    """CPUs sharing one maximum frequency: big.LITTLE groups as ``/sys/devices/system/cpu`` shows them."""

    role: str  # "little", "big", "prime", or "all" when every core is alike
    cpus: tuple[int, ...]
    max_freq_khz: int

    @property
    def max_freq_ghz(self) -> float:
        return self.max_freq_khz / 1e6


@dataclass(frozen=True)
class DeviceInfo:
    serial: str
    state: str
    model: str = ""
    manufacturer: str = ""
    abilist: tuple[str, ...] = ()
    os: str = "android"  # "android" or "linux" (a board, or the emulated device running glibc binaries)
    android_version: str = ""
    sdk: str = ""
    soc: str = ""
    board: str = ""
    cpu_count: int = 0
    cpu_max_freq_khz: dict[int, int] = field(default_factory=dict)
    clusters: tuple[CpuCluster, ...] = ()
    cpu_parts: tuple[str, ...] = ()  # e.g. ("Cortex-A55", "Cortex-A76")
    build_arch: str | None = None  # which edgeclas build fits: "armv8", "armv7" or None
    boot_id: str = ""  # /proc/sys/kernel/random/boot_id: new at every boot
    props: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def identity(self) -> str:
        """Who the device is, whichever serial reached it: ``127.0.0.1:5555``, ``localhost:5555`` and a USB
        serial of the same phone all give the same identity (``ro.serialno`` and the boot id; the boot id
        alone on boards without getprop, and it keeps apart clones that share a serial number). Falls back
        to the adb serial only when the device says neither."""
        serialno = self.props.get("ro.serialno", "")
        if not serialno and not self.boot_id:
            return f"serial:{self.serial}"
        return f"{serialno or '?'}/{self.boot_id or '?'}"

    @property
    def abi(self) -> str:
        return self.abilist[0] if self.abilist else ""

    @property
    def build_target(self) -> str:
        """``"<os>-<arch>"`` as ``edgeclas build`` names it, or "" when no edgeclas build fits."""
        return f"{self.os}-{self.build_arch}" if self.build_arch else ""

    def to_dict(self, with_props: bool = False) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_max_freq_khz"] = {str(k): v for k, v in self.cpu_max_freq_khz.items()}
        d["abi"] = self.abi
        d["build_target"] = self.build_target
        if not with_props:
            d.pop("props")
        return d


@dataclass(frozen=True)
class RemoteDigests:
    """What a device can tell about its files, with the strongest command it has: ``sha256`` (sha256sum,
    Android 8+), ``md5`` (md5sum, older toybox), else ``size`` (from ``ls -l``: a changed file of the same
    size looks unchanged). Missing files are absent from ``digests``."""

    algorithm: str
    digests: dict[str, str]  # remote path → hex digest (or the size in bytes, as text)

    def same(self, remote: str, local: str | os.PathLike[str], local_sha256: str | None = None) -> bool:
        """Whether the device's ``remote`` holds what the local file does."""
        if remote not in self.digests:
            return False
        if self.algorithm == "sha256" and local_sha256 is not None:
            return self.digests[remote] == local_sha256
        from ..fsutil import file_digest

        return self.digests[remote] == file_digest(local, self.algorithm)


@runtime_checkable
class Device(Protocol):
    """A device edgeclas can push files to and run commands on."""

    @property
    def serial(self) -> str: ...

    def push(self, local: str | os.PathLike[str], remote: str, mode: int = 0o644) -> int:
        """Write one local file to the remote path (parent directory must exist); returns bytes sent."""

    def push_many(self, items: Sequence[tuple[str | os.PathLike[str], str, int]]) -> int:
        """Push several ``(local, remote, mode)`` files in one session; returns bytes sent."""

    def pull(self, remote: str, local: str | os.PathLike[str]) -> int:
        """Copy one remote file to a local path (atomically); returns bytes received."""

    def shell(self, cmd: Sequence[str] | str, timeout: float | None = 60.0) -> ShellResult:
        """Run a command: a list is shell-quoted word by word; a string is passed to the device shell as is."""

    def info(self) -> DeviceInfo:
        """Model, ABIs, OS version, SoC, CPU clusters (cached after the first call)."""

    def digests(self, remote_paths: Sequence[str]) -> RemoteDigests:
        """Digests of the remote files that exist, by the strongest means the device has."""
