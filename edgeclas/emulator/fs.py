"""The emulated device's filesystem: a folder on the host laid out like a phone's root.

Layout of the device root (``ROOT``)::

    ROOT/data/local/tmp, ROOT/sdcard         writable (owned by the shell user), counted against the quota
    ROOT/system/bin                          mksh as sh, toybox and its command links, busybox for the few
                                             commands Debian's toybox lacks or is slow at, getprop/log/logcat
    ROOT/system/lib64 (lib on armv7)         libcrypt for toybox; ROOT/system/etc: mkshrc, hosts, passwd
    ROOT/system/build.prop                   the profile's properties (what getprop answers)
    ROOT/proc/{cpuinfo,meminfo,version}      generated from the profile; the device's init binds them over
                                             the device's own procfs
    ROOT/proc/sys/kernel/random/boot_id      a fresh UUID at every start, like a reboot (bound over procfs' own)
    ROOT/sys/devices/system/cpu/...          per-core cpufreq and topology, from the profile
    ROOT/bin -> system/bin, ROOT/etc -> system/etc     as on Android 10+
    ROOT/lib/ld-linux-*.so.*, ROOT/lib/<triplet>   links to the glibc cross sysroots (mounted read-only at
                                             ROOT/usr/<triplet>/lib inside the device) for ARM programs
    ROOT/dev, ROOT/usr/<triplet>/lib         empty mount points (the device's init mounts them privately)

The programs' view is built by :mod:`.devinit` (a chroot into ROOT, read-only but for /data and
/sdcard). Paths that the adb ``sync`` service serves go through :meth:`DeviceFS.resolve`: made absolute,
normalised lexically (``/..`` stays ``/``, as on Linux), mapped under ``ROOT``, and the host path's
real location must stay inside ``ROOT`` (or, read-only, inside a linked sysroot). So ``..``, absolute
paths and symlinks planted by a program cannot reach the host.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .profile import DeviceProfile

if TYPE_CHECKING:
    from ..sdk.userland import Userland

__all__ = ["FsError", "DeviceFS", "SYSROOTS", "SHELL_UID", "populate_root", "prepare_mount_points", "give_to_shell"]

# Debian cross sysroots: (loader name, multiarch triplet, folder). Kept apart (never merged into one
# lib folder): both have a libc.so.6, and mixing libcs under one prefix makes qemu spin.
SYSROOTS = {
    "armv8": ("ld-linux-aarch64.so.1", "aarch64-linux-gnu", Path("/usr/aarch64-linux-gnu/lib")),
    "armv7": ("ld-linux-armhf.so.3", "arm-linux-gnueabihf", Path("/usr/arm-linux-gnueabihf/lib")),
}
WRITABLE_TOPS = ("/data", "/sdcard")
SHELL_UID = 2000  # Android's shell user: adb shell runs as it and owns what it creates and pushes
# The device's own files (scripts, /system/etc): this package's resources/device/system.
_DEVICE_FILES = Path(__file__).resolve().parents[1] / "resources" / "device" / "system"


class FsError(OSError):
    """A device-side file error, worded like the device's libc (``strerror``)."""

    def __init__(self, err: int, path: str) -> None:
        super().__init__(err, os.strerror(err), path)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.strerror}"


@dataclass(frozen=True)
class Resolved:
    device: str  # normalised absolute device path
    host: Path
    writable: bool


def _cpuinfo(profile: DeviceProfile) -> str:
    blocks = []
    for i in range(profile.ncpu):
        c = profile.cpu_cluster(i)
        lines = [f"processor\t: {i}"]
        if profile.arch == "armv7":
            lines.append(f"model name\t: ARMv7 Processor rev {c.revision} (v7l)")
        lines += [
            "BogoMIPS\t: 38.40",
            f"Features\t: {profile.features}",
            f"CPU implementer\t: {c.implementer}",
            f"CPU architecture: {8 if profile.arch == 'armv8' else 7}",
            f"CPU variant\t: {c.variant}",
            f"CPU part\t: {c.part}",
            f"CPU revision\t: {c.revision}",
        ]
        blocks.append("\n".join(lines) + "\n")
    head = f"Processor\t: AArch64 Processor rev {profile.clusters[0].revision} (aarch64)\n" if profile.arch == "armv8" else ""
    tail = f"Hardware\t: {profile.hardware}\n"
    if profile.arch == "armv7":
        tail += "Revision\t: 0000\nSerial\t\t: 0000000000000000\n"
    return head + "\n".join(blocks) + "\n" + tail


def _meminfo(profile: DeviceProfile) -> str:
    total = profile.memory_kb
    rows = [("MemTotal", total), ("MemFree", total // 4), ("MemAvailable", total // 2), ("Buffers", total // 100),
            ("Cached", total // 5), ("SwapCached", 0), ("SwapTotal", 2 * 1024 * 1024), ("SwapFree", 2 * 1024 * 1024)]
    return "".join(f"{k + ':':<16}{v:>8} kB\n" for k, v in rows)


def _cpu_list(first: int, count: int) -> str:
    return str(first) if count == 1 else f"{first}-{first + count - 1}"


def give_to_shell(path: Path) -> None:
    """Make ``path`` the shell user's, as files adb pushes and folders it creates are on a phone. Only
    a root emulator can (and needs to: unprivileged, the device maps the caller's uid to the shell user)."""
    if os.geteuid() == 0:
        os.chown(path, SHELL_UID, SHELL_UID, follow_symlinks=False)


def prepare_mount_points(root: Path) -> None:
    """The folders the device's init mounts over or binds (``dev``, ``proc``, the sysroots' are empty)."""
    for d in ("dev", "proc", "data", "sdcard", *(f"usr/{triplet}/lib" for _l, triplet, _f in SYSROOTS.values())):
        (root / d).mkdir(parents=True, exist_ok=True)


def populate_root(root: Path, profile: DeviceProfile, userland: Userland) -> None:
    """Create (or refresh) the device root: writable folders kept, everything generated made anew."""
    root.mkdir(parents=True, exist_ok=True)
    for d in ("data/local/tmp", "sdcard"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for d in ("data/local/tmp", "sdcard"):
        give_to_shell(root / d)
    for top in ("data", "sdcard"):
        for stale in (root / top).rglob(".*.edgeclas-push"):  # pushes cut off when the device was killed
            stale.unlink(missing_ok=True)
    prepare_mount_points(root)
    _system(root / "system", profile, userland)
    files: dict[str, str] = {
        "proc/cpuinfo": _cpuinfo(profile),
        "proc/meminfo": _meminfo(profile),
        "proc/version": profile.kernel + "\n",
        # a new one at every start, as a phone gets at every boot (device identity: edgeclas.device.base)
        "proc/sys/kernel/random/boot_id": f"{uuid.uuid4()}\n",
    }
    n = profile.ncpu
    cpu = "sys/devices/system/cpu"
    files[f"{cpu}/possible"] = files[f"{cpu}/present"] = files[f"{cpu}/online"] = _cpu_list(0, n) + "\n"
    files[f"{cpu}/kernel_max"] = f"{max(n - 1, 7)}\n"
    first = 0
    for ci, c in enumerate(profile.clusters):
        related = _cpu_list(first, c.cores)
        for k in range(first, first + c.cores):
            base = f"{cpu}/cpu{k}"
            files[f"{base}/online"] = "1\n"
            # A kernel has one per CPU; programs count CPUs by them (Paddle Lite does, and indexes its per-CPU
            # table by /proc/cpuinfo's processors, so the two must agree).
            files[f"{base}/uevent"] = f"MODALIAS=cpu:type:{'aarch64' if profile.arch == 'armv8' else 'arm'}:feature:\n"
            files[f"{base}/cpufreq/cpuinfo_max_freq"] = f"{c.max_khz}\n"
            files[f"{base}/cpufreq/cpuinfo_min_freq"] = f"{c.min_khz}\n"
            files[f"{base}/cpufreq/scaling_cur_freq"] = f"{c.max_khz}\n"
            files[f"{base}/cpufreq/related_cpus"] = " ".join(map(str, range(first, first + c.cores))) + "\n"
            files[f"{base}/topology/physical_package_id"] = "0\n"
            files[f"{base}/topology/cluster_id"] = f"{ci}\n"
            files[f"{base}/topology/core_id"] = f"{k - first}\n"
            files[f"{base}/topology/core_siblings_list"] = related + "\n"
            files[f"{base}/topology/thread_siblings_list"] = f"{k}\n"
        first += c.cores
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink() or p.is_dir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        p.write_text(text)
        p.chmod(0o444)
    links = {"bin": "system/bin", "etc": "system/etc"}
    # The glibc loaders and libraries for ARM programs; an armv8 device also runs armv7 programs.
    arches = ("armv8", "armv7") if profile.arch == "armv8" else ("armv7",)
    for arch in arches:
        loader, triplet, folder = SYSROOTS[arch]
        links[f"lib/{loader}"] = str(folder / loader)
        links[f"lib/{triplet}"] = str(folder)
    # glibc's loader looks in /usr/lib/<triplet>; the library itself lives where Android keeps it.
    lib_triplet = SYSROOTS[profile.arch][1]
    links[f"usr/lib/{lib_triplet}/libcrypt.so.1"] = f"/{userland.lib_dir}/libcrypt.so.1"
    for rel, target in links.items():
        link = root / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        link.symlink_to(target)


def _system(system: Path, profile: DeviceProfile, userland: Userland) -> None:
    """``/system`` made anew from the userland, the device's own files and the profile."""
    if system.is_symlink() or system.is_file():
        system.unlink()
    elif system.exists():
        shutil.rmtree(system)
    shutil.copytree(_DEVICE_FILES, system, symlinks=True)
    for rel in ("bin/sh", "bin/toybox", "bin/busybox", f"{userland.lib_dir[len('system/'):]}/libcrypt.so.1"):
        (system / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(userland.root / "system" / rel, system / rel)
    missing = set(profile.missing_commands)
    taken = {p.name for p in (system / "bin").iterdir()}
    for multicall, commands in (("busybox", userland.busybox), ("toybox", userland.toybox)):
        for cmd in commands:
            if cmd not in missing and cmd not in taken:
                (system / "bin" / cmd).symlink_to(multicall)
                taken.add(cmd)
    (system / "build.prop").write_text("".join(f"{k}={v}\n" for k, v in sorted(profile.props.items())))
    for p in [system, *system.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() or p.parent.name == "bin" or p.suffix == ".so" or ".so." in p.name
                    else 0o644)


class DeviceFS:
    """Device path → host path mapping with sandbox and quota checks."""

    def __init__(self, root: Path, quota_bytes: int) -> None:
        self.root = Path(root).resolve()
        self.quota_bytes = quota_bytes
        self._allowed_outside = tuple(str(f.resolve()) for _, _, f in SYSROOTS.values() if f.exists())

    def normalize(self, path: str, cwd: str = "/") -> str:
        if not path.startswith("/"):
            path = posixpath.join(cwd, path)
        norm = posixpath.normpath(path)
        # normpath keeps a leading '//' and resolves '/..' to '/' as the kernel does
        return "/" + norm.lstrip("/")

    def resolve(self, path: str, cwd: str = "/", *, write: bool = False, follow: bool = True) -> Resolved:
        """Map a device path; raises :class:`FsError` (ENOENT for escapes, EROFS/EACCES for writes outside /data).

        ``follow=False`` checks the folder holding the last component but not the component itself
        (``lstat``/``unlink`` semantics): a symlink can then be listed and removed, never followed.
        """
        if "\0" in path:
            raise FsError(errno.EINVAL, path)
        dev = self.normalize(path, cwd)
        host = self.root / dev.lstrip("/") if dev != "/" else self.root
        if not follow and dev != "/":
            real = os.path.join(os.path.realpath(host.parent), host.name)
        else:
            real = os.path.realpath(host)
        root = str(self.root)
        inside = real == root or real.startswith(root + os.sep)
        if not inside and not any(real == a or real.startswith(a + os.sep) for a in self._allowed_outside):
            # A link that leads out of the sandbox behaves like a dangling one.
            raise FsError(errno.ENOENT, path)
        writable = inside and any(dev == t or dev.startswith(t + "/") for t in WRITABLE_TOPS)
        if write and not writable:
            raise FsError(errno.EROFS if dev.startswith(("/system", "/proc", "/sys", "/lib")) else errno.EACCES, path)
        return Resolved(dev, host, writable)

    def used_bytes(self) -> int:
        total = 0
        for top in WRITABLE_TOPS:
            for dirpath, _dirs, names in os.walk(self.root / top.lstrip("/")):
                for n in names:
                    try:
                        total += os.lstat(os.path.join(dirpath, n)).st_size
                    except OSError:
                        pass
        return total

    def free_bytes(self) -> int:
        return max(0, self.quota_bytes - self.used_bytes())
