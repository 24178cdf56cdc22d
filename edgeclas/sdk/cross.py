"""Cross compilers, qemu, and the qemu ``-L`` prefix that lets ARM Linux binaries run on this machine.

Compilers and qemu come from Debian packages and are found on PATH. The **qemu prefix** is a
directory in the cache per architecture::

    cache/sdk/qemu-prefix/aarch64/lib   -> /usr/aarch64-linux-gnu/lib     (the cross toolchain's libc)
    cache/sdk/qemu-prefix/aarch64/proc/cpuinfo                           (an ARM /proc/cpuinfo)

qemu-user looks a guest path up under the prefix first, so the guest's dynamic loader and libc come
from the cross sysroot and ``/proc/cpuinfo`` reads as an ARM SoC. The second part matters: ONNX
Runtime's CPU detection segfaults under qemu 7.2 when it parses the host's x86 cpuinfo. Multiarch
``libc6:arm64`` must never be mixed into the prefix (qemu then spins forever).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..doctor import which_version
from ..errors import ToolchainError
from ..fsutil import atomic_write_text, staging_dir
from ..paths import cache_dir
from . import SdkItem, Target
from . import target as make_target

__all__ = ["CPUINFO", "qemu_command", "qemu_prefix", "resolve", "install", "targets"]

ENV_PREFIX = "EDGECLAS_QEMU_LD_PREFIX"

# Per CPU: compiler, apt packages, sysroot (the qemu binaries are in edgeclas.targets.TARGETS).
_TOOLS = {
    "aarch64": {"gxx": "aarch64-linux-gnu-g++", "apt_gxx": "g++-aarch64-linux-gnu",
                "sysroot": "/usr/aarch64-linux-gnu", "apt_libc": "libc6-arm64-cross"},
    "armv7": {"gxx": "arm-linux-gnueabihf-g++", "apt_gxx": "g++-arm-linux-gnueabihf",
              "sysroot": "/usr/arm-linux-gnueabihf", "apt_libc": "libc6-armhf-cross"},
}

# /proc/cpuinfo of ARM SoCs, in the kernel's format. aarch64: 4x Cortex-A55 + 4x Cortex-A76
# (the big.LITTLE layout of RK3588-class boards and recent phones). armv7: 4x Cortex-A53 running a
# 32-bit kernel (Raspberry Pi 3 class), which is how most armhf boards report themselves.
_A55 = ("0x2", "0xd05")
_A76 = ("0x4", "0xd0b")
_AARCH64_FEATURES = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
                     "dcpop asimddp")


def _aarch64_cpuinfo() -> str:
    blocks = []
    for n, (variant, part) in enumerate([_A55] * 4 + [_A76] * 4):
        blocks.append(
            f"processor\t: {n}\nBogoMIPS\t: 48.00\nFeatures\t: {_AARCH64_FEATURES}\nCPU implementer\t: 0x41\n"
            f"CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: 0\n"
        )
    return "\n".join(blocks) + "\n"


def _armv7_cpuinfo() -> str:
    blocks = []
    for n in range(4):
        blocks.append(
            f"processor\t: {n}\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nBogoMIPS\t: 38.40\n"
            "Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n"
            "CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\nCPU part\t: 0xd03\nCPU revision\t: 4\n"
        )
    return "\n".join(blocks) + "\nHardware\t: BCM2835\nRevision\t: a02082\n"


CPUINFO = {"aarch64": _aarch64_cpuinfo(), "armv7": _armv7_cpuinfo()}


def targets(name: str) -> list[Target]:
    return [make_target("armv8", "linux"), make_target("armv7", "linux")]


def _tools(t: Target) -> dict:
    if t.machine not in _TOOLS:
        raise ToolchainError(f"{t.key}: no cross tools for {t.machine}; this machine runs it natively")
    return _TOOLS[t.machine]


def resolve(name: str, t: Target, flag: Path | None) -> SdkItem:
    tools = _tools(t)
    if name == "cross-gcc":
        exe = str(flag) if flag else tools["gxx"]
        path, version = which_version(exe)
        if not path:
            raise ToolchainError(f"cross compiler {exe} not found on PATH", hint=f"apt-get install {tools['apt_gxx']}")
        return SdkItem(name, version.split(")")[-1].strip() or version, Path(path),
                       "flag" if flag else "system", t.key)
    if name == "qemu":
        for exe in ((str(flag),) if flag else t.qemu):
            path, version = which_version(exe)
            if path:
                m = re.search(r"version (\d+(?:\.\d+)+)", version)
                return SdkItem(name, m.group(1) if m else version, Path(path),
                               "flag" if flag else "system", t.key)
        raise ToolchainError(f"{t.qemu[0]} not found on PATH (needed to run {t.machine} binaries here)",
                             hint="apt-get install qemu-user-static")
    if name == "qemu-prefix":
        env = os.environ.get(ENV_PREFIX)
        for source, root in (("flag", flag), ("env", Path(env) if env else None), ("cache", _prefix_path(t))):
            if root is None:
                continue
            problem = _check_prefix(root, t)
            if problem is None:
                return SdkItem(name, t.machine, root, source, t.key, note="ARM /proc/cpuinfo + cross libc")
            if source != "cache":
                raise ToolchainError(f"{root} (from {'the flag' if source == 'flag' else ENV_PREFIX}): {problem}",
                                     hint=f"edgeclas sdk install qemu-prefix {t.flags()}")
        raise ToolchainError(f"no qemu prefix for {t.machine} in {_prefix_path(t)}",
                             hint=f"edgeclas sdk install qemu-prefix {t.flags()}")
    raise ToolchainError(f"edgeclas.sdk.cross does not provide '{name}'")


def _prefix_path(t: Target) -> Path:
    return cache_dir("sdk", "qemu-prefix", t.machine)


def _check_prefix(root: Path, t: Target) -> str | None:
    if not (root / "proc" / "cpuinfo").is_file():
        return "no proc/cpuinfo in it (ONNX Runtime crashes on the host's x86 cpuinfo under qemu)"
    loader = "ld-linux-aarch64.so.1" if t.machine == "aarch64" else "ld-linux-armhf.so.3"
    if not (root / "lib" / loader).exists():
        return f"no lib/{loader} in it (the cross libc is missing or the link is broken)"
    return None


def install(name: str, t: Target, **_: object) -> SdkItem:
    tools = _tools(t)
    if name != "qemu-prefix":
        apt = tools["apt_gxx"] if name == "cross-gcc" else "qemu-user-static"
        raise ToolchainError(f"{name} comes from a Debian package, not from edgeclas", hint=f"apt-get install {apt}")
    sysroot_lib = Path(tools["sysroot"]) / "lib"
    if not sysroot_lib.is_dir():
        raise ToolchainError(f"{sysroot_lib} is missing (the cross libc the prefix links to)",
                             hint=f"apt-get install {tools['apt_libc']} (comes with {tools['apt_gxx']})")
    with staging_dir(_prefix_path(t)) as tmp:
        os.chmod(tmp, 0o755)
        os.symlink(sysroot_lib, tmp / "lib")
        atomic_write_text(tmp / "proc" / "cpuinfo", CPUINFO[t.machine])
        problem = _check_prefix(tmp, t)
        if problem:
            raise ToolchainError(f"qemu prefix for {t.machine}: {problem}",
                                 hint=f"apt-get install --reinstall {tools['apt_libc']}")
    return SdkItem(name, t.machine, _prefix_path(t), "cache", t.key, note="made locally, nothing downloaded")


def qemu_prefix(arch: str) -> Path:
    """The prefix for ``arch`` (armv7|armv8), made on first use (it is local and takes milliseconds)."""
    t = make_target(arch, "linux")
    try:
        return resolve("qemu-prefix", t, None).path
    except ToolchainError:
        return install("qemu-prefix", t).path


def qemu_command(arch: str) -> list[str]:
    """``["qemu-aarch64-static", "-L", PREFIX]``: prepend to an ARM Linux command line to run it here."""
    t = make_target(arch, "linux")
    exe = resolve("qemu", t, None).path
    return [str(exe), "-L", str(qemu_prefix(arch))]
