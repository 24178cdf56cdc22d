"""Pure parsers for what a device says about itself: ``getprop``, ``/proc/cpuinfo``, ``/sys`` cpufreq.

:func:`info_command` and :func:`freq_command` are the device commands whose output these parse;
:func:`build_device_info` turns the texts into a :class:`DeviceInfo`. Everything here is pure so it
is tested on recorded output of real phones (tests/data/device/).
"""

from __future__ import annotations

import re
import shlex
from typing import Iterable

from ..targets import ABI_TO_ARCH
from .base import CpuCluster, DeviceInfo

__all__ = [
    "SECTION",
    "ABI_TO_ARCH",
    "ARCH_TO_ABI",
    "info_command",
    "freq_command",
    "split_sections",
    "parse_getprop",
    "parse_cpuinfo",
    "parse_cpu_list",
    "parse_cpufreq",
    "group_clusters",
    "arch_for_abis",
    "device_os",
    "build_device_info",
]

# Marks the start of each section in the combined info command's output; no real text starts so.
SECTION = "@@edgeclas:"

# Android ABI names ↔ edgeclas build arches: from the targets table (docs/targets.md).
ARCH_TO_ABI = {v: k for k, v in ABI_TO_ARCH.items()}
# ``uname -m`` on Linux boards (no getprop) → the Android ABI name edgeclas uses for that arch.
_UNAME_TO_ABI = {"aarch64": "arm64-v8a", "arm64": "arm64-v8a", "armv8l": "armeabi-v7a", "armv7l": "armeabi-v7a"}

_CPU_SYS = "/sys/devices/system/cpu"
# Android's dynamic linker: present on every Android device, absent on glibc boards and on the
# emulated device (which runs glibc binaries under qemu although it answers getprop like a phone).
_BIONIC_LINKERS = ("/system/bin/linker64", "/system/bin/linker")

# (implementer, part) → core name, for the cores phones actually ship (ARM TRMs, Qualcomm Kryo).
_CPU_PARTS = {
    (0x41, 0xC07): "Cortex-A7", (0x41, 0xC09): "Cortex-A9", (0x41, 0xC0F): "Cortex-A15",
    (0x41, 0xD03): "Cortex-A53", (0x41, 0xD04): "Cortex-A35", (0x41, 0xD05): "Cortex-A55",
    (0x41, 0xD07): "Cortex-A57", (0x41, 0xD08): "Cortex-A72", (0x41, 0xD09): "Cortex-A73",
    (0x41, 0xD0A): "Cortex-A75", (0x41, 0xD0B): "Cortex-A76", (0x41, 0xD0C): "Neoverse-N1",
    (0x41, 0xD0D): "Cortex-A77", (0x41, 0xD41): "Cortex-A78", (0x41, 0xD44): "Cortex-X1",
    (0x41, 0xD46): "Cortex-A510", (0x41, 0xD47): "Cortex-A710", (0x41, 0xD48): "Cortex-X2",
    (0x41, 0xD4D): "Cortex-A715", (0x41, 0xD4E): "Cortex-X3",
    (0x51, 0x800): "Kryo 2xx Gold", (0x51, 0x801): "Kryo 2xx Silver",
    (0x51, 0x802): "Kryo 3xx Gold", (0x51, 0x803): "Kryo 3xx Silver",
    (0x51, 0x804): "Kryo 4xx Gold", (0x51, 0x805): "Kryo 4xx Silver",
}


def info_command() -> str:
    """One round trip for props, cpuinfo, the CPU list and the machine name (``;`` so one failure is harmless)."""
    parts = ["getprop", "cat /proc/cpuinfo", f"ls {_CPU_SYS}", "uname -m", f"ls {' '.join(_BIONIC_LINKERS)}"]
    names = ["props", "cpuinfo", "cpus", "uname", "linker"]
    return "; ".join(f"echo {SECTION}{n}; {p}" for n, p in zip(names, parts))


def freq_command(cpus: Iterable[int]) -> str:
    """Print ``@cpuN`` then that core's ``cpuinfo_max_freq`` (kHz) for each core; a missing file prints nothing."""
    cmds = []
    for n in cpus:
        path = shlex.quote(f"{_CPU_SYS}/cpu{int(n)}/cpufreq/cpuinfo_max_freq")
        cmds.append(f"echo @cpu{int(n)}; cat {path}")
    return "; ".join(cmds)


def split_sections(text: str) -> dict[str, str]:
    """Split the output of :func:`info_command` into its named sections."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(SECTION):
            current = sections.setdefault(line[len(SECTION):].strip(), [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


_PROP_START = re.compile(r"^\[([^\]]+)\]: \[(.*)$")


def parse_getprop(text: str) -> dict[str, str]:
    """``[key]: [value]`` lines → dict; a value may span lines (it ends at the line ending with ``]``)."""
    props: dict[str, str] = {}
    key: str | None = None
    buf: list[str] = []
    for line in text.splitlines():
        if key is None:
            m = _PROP_START.match(line)
            if not m:
                continue
            key, rest = m.group(1), m.group(2)
            buf = [rest]
        else:
            buf.append(line)
        if buf[-1].endswith("]"):
            buf[-1] = buf[-1][:-1]
            props[key] = "\n".join(buf)
            key = None
    return props


def _int(text: str) -> int | None:
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


def parse_cpuinfo(text: str) -> dict[str, object]:
    """``/proc/cpuinfo`` (arm64 and arm32 layouts) → processors, core names per processor, hardware, features."""
    processors: list[int] = []
    parts: dict[int, str] = {}
    hardware = model_name = features = ""
    current = -1
    implementer: int | None = None
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "processor":
            n = _int(value)
            if n is not None:
                current = n
                processors.append(n)
                implementer = None
        elif key == "cpu implementer":
            implementer = _int(value)
        elif key == "cpu part" and current >= 0:
            part = _int(value)
            if part is not None:
                parts[current] = _CPU_PARTS.get((implementer or 0x41, part), f"part {value}")
        elif key == "hardware":
            hardware = value
        elif key == "model name" and not model_name:
            model_name = value
        elif key == "features" and not features:
            features = value
    return {
        "processors": processors,
        "parts": parts,
        "hardware": hardware,
        "model_name": model_name,
        "features": features.split(),
    }


def parse_cpu_list(text: str) -> list[int]:
    """``ls /sys/devices/system/cpu`` → the core numbers (``cpu0``, ``cpu1``…; not cpufreq, cpuidle…)."""
    return sorted({int(m.group(1)) for m in re.finditer(r"(?<![\w/])cpu(\d+)\b", text)})


def parse_cpufreq(text: str) -> dict[int, int]:
    """Output of :func:`freq_command` → ``{cpu: max_freq_khz}`` (cores without a value are left out)."""
    freqs: dict[int, int] = {}
    cpu: int | None = None
    for line in text.splitlines():
        line = line.strip()
        m = re.fullmatch(r"@cpu(\d+)", line)
        if m:
            cpu = int(m.group(1))
        elif cpu is not None and line.isdigit():
            freqs[cpu] = int(line)
            cpu = None
    return freqs


def group_clusters(freqs: dict[int, int]) -> tuple[CpuCluster, ...]:
    """Group cores by max frequency, slowest first: little / big / prime (as Paddle Lite's power modes see them)."""
    by_freq: dict[int, list[int]] = {}
    for cpu, f in sorted(freqs.items()):
        by_freq.setdefault(f, []).append(cpu)
    levels = sorted(by_freq)
    if len(levels) == 1:
        roles = ["all"]
    elif len(levels) == 2:
        roles = ["little", "big"]
    else:
        roles = ["little"] + ["big"] * (len(levels) - 2) + ["prime"]
    return tuple(CpuCluster(r, tuple(by_freq[f]), f) for r, f in zip(roles, levels))


def arch_for_abis(abilist: Iterable[str]) -> str | None:
    """The edgeclas build arch that runs best on a device with these ABIs (first match wins)."""
    for abi in abilist:
        if abi in ABI_TO_ARCH:
            return ABI_TO_ARCH[abi]
    return None


def device_os(props: dict[str, str], linker_listing: str | None = None) -> str:
    """Which userland the device's binaries need: "android" (bionic) or "linux" (glibc).

    A ``ro.edgeclas.os`` prop decides when present; else the bionic linker does (when it was
    looked for); else Android build props mean Android.
    """
    declared = props.get("ro.edgeclas.os", "").strip().lower()
    if declared in ("android", "linux"):
        return declared
    if linker_listing is not None:
        return "android" if any(p in linker_listing for p in _BIONIC_LINKERS) else "linux"
    return "android" if props.get("ro.build.version.sdk") else "linux"


def build_device_info(
    serial: str,
    state: str,
    info_text: str,
    freq_text: str = "",
) -> DeviceInfo:
    """Combine the outputs of :func:`info_command` and :func:`freq_command` into a :class:`DeviceInfo`."""
    sec = split_sections(info_text)
    props = parse_getprop(sec.get("props", ""))
    cpuinfo = parse_cpuinfo(sec.get("cpuinfo", ""))
    cpus = parse_cpu_list(sec.get("cpus", ""))
    freqs = parse_cpufreq(freq_text)

    abilist_s = props.get("ro.product.cpu.abilist") or props.get("ro.product.cpu.abi", "")
    abilist = tuple(a.strip() for a in abilist_s.split(",") if a.strip())
    if not abilist:
        uname = sec.get("uname", "").strip().splitlines()
        abi = _UNAME_TO_ABI.get(uname[-1].strip()) if uname else None
        if abi:
            abilist = (abi, "armeabi-v7a") if abi == "arm64-v8a" else (abi,)

    soc_model = props.get("ro.soc.model", "")
    soc_maker = props.get("ro.soc.manufacturer", "")
    soc = " ".join(x for x in (soc_maker, soc_model) if x) or str(cpuinfo["hardware"]) or props.get("ro.hardware", "")
    board = props.get("ro.board.platform") or props.get("ro.product.board", "")
    parts = cpuinfo["parts"]
    assert isinstance(parts, dict)
    processors = cpuinfo["processors"]
    assert isinstance(processors, list)
    cpu_count = max(len(cpus), len(processors))
    linker = "\n".join(ln for ln in sec.get("linker", "").splitlines() if ln.startswith("/")) if "linker" in sec else None
    os_name = device_os(props, linker)
    return DeviceInfo(
        serial=serial,
        state=state,
        model=props.get("ro.product.model", ""),
        manufacturer=props.get("ro.product.manufacturer", ""),
        abilist=abilist,
        os=os_name,
        android_version=props.get("ro.build.version.release", "") if os_name == "android" or props else "",
        sdk=props.get("ro.build.version.sdk", ""),
        soc=soc,
        board=board,
        cpu_count=cpu_count,
        cpu_max_freq_khz=freqs,
        clusters=group_clusters(freqs),
        cpu_parts=tuple(dict.fromkeys(parts[k] for k in sorted(parts))),
        build_arch=arch_for_abis(abilist),
        props=props,
    )
