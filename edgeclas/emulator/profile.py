"""Device profiles (``devices/*.yaml``): what a device reports (getprop) and its CPU layout.

The emulated device serves its ``getprop``, ``/proc/cpuinfo``, ``/proc/meminfo``, ``/proc/version``
and ``/sys/devices/system/cpu`` from a profile; real phone profiles are the same data for reports.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..paths import source_dir

__all__ = ["Cluster", "DeviceProfile", "load_profile", "profile_names", "profiles_dir"]

_ARCHES = ("armv8", "armv7")


@dataclass(frozen=True)
class Cluster:
    name: str
    cores: int
    core: str  # marketing name, e.g. Cortex-A76
    implementer: str  # /proc/cpuinfo "CPU implementer", e.g. 0x41
    part: str
    variant: str = "0x0"
    revision: int = 0
    min_khz: int = 300000
    max_khz: int = 1800000


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    kind: str  # emulated | phone | board
    arch: str  # armv8 | armv7
    props: dict[str, str]
    clusters: tuple[Cluster, ...]
    hardware: str
    features: str
    memory_kb: int
    kernel: str
    storage_quota_mb: int
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ncpu(self) -> int:
        return sum(c.cores for c in self.clusters)

    def cpu_cluster(self, index: int) -> Cluster:
        """The cluster CPU ``index`` belongs to (CPUs are numbered little clusters first, like Qualcomm SoCs)."""
        for c in self.clusters:
            if index < c.cores:
                return c
            index -= c.cores
        raise IndexError(index)


def profiles_dir() -> Path:
    return source_dir("devices")


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def _need(data: dict[str, Any], key: str, where: Path) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing key '{key}'", hint="see devices/emulated-armv8.yaml for a complete profile")
    return data[key]


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """Load ``devices/NAME.yaml`` or a YAML file path; raises :class:`ConfigError` naming the file and key."""
    import yaml

    p = Path(name_or_path)
    if not (p.suffix in (".yaml", ".yml") and p.exists()):
        p = profiles_dir() / f"{name_or_path}.yaml"
    if not p.is_file():
        close = difflib.get_close_matches(str(name_or_path), profile_names(), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known profiles: {', '.join(profile_names())}"
        raise ConfigError(f"device profile '{name_or_path}' not found in {profiles_dir()}", hint=hint)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a profile must be a mapping")
    arch = str(_need(data, "arch", p))
    if arch not in _ARCHES:
        raise ConfigError(f"{p}: arch '{arch}' is not one of {', '.join(_ARCHES)}")
    cpu = _need(data, "cpu", p)
    clusters = []
    for i, c in enumerate(_need(cpu, "clusters", p)):
        try:
            clusters.append(Cluster(**{k: (str(v) if k in ("implementer", "part", "variant") else v) for k, v in c.items()}))
        except TypeError as e:
            raise ConfigError(f"{p}: cpu.clusters[{i}]: {e}") from None
    if not clusters:
        raise ConfigError(f"{p}: cpu.clusters is empty")
    props = {str(k): "" if v is None else str(v) for k, v in (data.get("props") or {}).items()}
    known = {"name", "kind", "arch", "os", "props", "cpu", "memory_kb", "kernel", "storage_quota_mb"}
    return DeviceProfile(
        name=str(data.get("name", p.stem)),
        kind=str(data.get("kind", "phone")),
        arch=arch,
        props=props,
        clusters=tuple(clusters),
        hardware=str(cpu.get("hardware", "")),
        features=str(cpu.get("features", "")),
        memory_kb=int(data.get("memory_kb", 4 * 1024 * 1024)),
        kernel=str(data.get("kernel", "Linux version 4.14.0")),
        storage_quota_mb=int(data.get("storage_quota_mb", 512)),
        path=p,
        extra={k: v for k, v in data.items() if k not in known},
    )
