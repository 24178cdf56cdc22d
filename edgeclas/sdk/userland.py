"""``android-userland``: the programs of the emulated phone's ``/system`` — Android's real shell and commands.

A phone runs **mksh** as ``/system/bin/sh`` and **toybox** for its commands. Debian packages both for
arm64 and armhf; this item fetches the pinned packages with ``apt-get download`` (sha256-checked),
takes the few files the device needs out of them and lays them out per architecture::

    cache/sdk/android-userland/<arch>/system/bin/sh          mksh (the full build, dynamically linked)
    cache/sdk/android-userland/<arch>/system/bin/toybox      toybox 0.8.9 (glibc)
    cache/sdk/android-userland/<arch>/system/bin/busybox     busybox (static): tr dd expr diff awk, sha2 sums
    cache/sdk/android-userland/<arch>/system/lib{64,}/libcrypt.so.1   the one library toybox needs besides libc
    cache/sdk/android-userland/<arch>/sdk.json               packages, versions, sha256, command lists

Why these files: the mksh package's static builds (klibc, dietlibc, musl) are ``MKSH_SMALL`` builds
that lack what Android's mksh has (``not executable: 64-bit ELF file`` for a foreign ELF, for one), so
the full glibc build is used. Debian builds toybox without its "pending" set, which Android enables:
``tr``, ``dd``, ``expr`` and ``diff`` come from Debian's static busybox instead, and ``awk`` (a separate
program on Android) too, and the sha2 sums (see :data:`BUSYBOX_COMMANDS`). glibc itself is the cross toolchain's (``libc6-*-cross``), which the
emulated device already mounts for pushed programs; multiarch ``libc6:arm64`` is never mixed in.

The toybox and busybox command lists are read from the binaries themselves (run once under qemu at
install) and kept in ``sdk.json``; ``edgeclas emulator start`` links them into ``/system/bin``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolchainError
from ..fsutil import atomic_write_json, staging_dir
from ..paths import cache_dir
from . import SdkItem, Target
from . import target as make_target
from ._elf import elf_machine
from .download import Artifact, deb_data_tar, fetch, safe_extract

__all__ = ["PACKAGES", "BUSYBOX_COMMANDS", "Userland", "load", "resolve", "install", "targets", "PER_TARGET"]

PER_TARGET = True
ENV = "EDGECLAS_USERLAND_ROOT"  # a folder holding armv8/ and armv7/ in the cache's layout

# What busybox provides on the device: the commands Android's toybox has that Debian's toybox build
# leaves out (its "pending" set) and awk; and the sha2 sums, which Android's toybox computes with
# BoringSSL while Debian's uses its own C code, 8x slower than busybox's under qemu (27 MB: 8.5 s, 1.0 s),
# which a deploy that checks every file it pushes would feel.
BUSYBOX_COMMANDS = ("tr", "dd", "expr", "diff", "awk", "sha256sum", "sha512sum")
LAYOUT = 2  # sdk.json "layout": what load() expects; an older install must be made again


@dataclass(frozen=True)
class _Package:
    artifact: Artifact
    files: dict[str, str]  # member path in the package → path in the userland folder ({lib} = lib64 or lib)


def _deb(name: str, version: str, arch: str, sha256: str, size: int, files: dict[str, str]) -> _Package:
    # apt writes the epoch's colon as %3a in the file name.
    file_name = f"{name}_{version.replace(':', '%3a')}_{arch}.deb"
    return _Package(Artifact(file_name, "apt", f"{name}:{arch}={version}", sha256, (), size), files)


def _packages(arch: str, triplet: str, sums: dict[str, tuple[str, int]]) -> tuple[_Package, ...]:
    return (
        _deb("mksh", "59c-28+deb12u1", arch, *sums["mksh"], {"bin/mksh": "system/bin/sh"}),
        _deb("toybox", "0.8.9+dfsg-1", arch, *sums["toybox"], {"bin/toybox": "system/bin/toybox"}),
        _deb("libcrypt1", "1:4.4.33-2", arch, *sums["libcrypt1"],
             {f"lib/{triplet}/libcrypt.so.1.1.0": "system/{lib}/libcrypt.so.1"}),
        _deb("busybox-static", "1:1.35.0-4+deb12u1+b1", arch, *sums["busybox-static"],
             {"bin/busybox": "system/bin/busybox"}),
    )


# Pinned Debian 12 (bookworm) packages; sha256 and sizes recorded at the first download (2026-11-30).
PACKAGES: dict[str, tuple[_Package, ...]] = {
    "armv8": _packages("arm64", "aarch64-linux-gnu", {
        "mksh": ("57dc61d43f5f14592957cb48f1cabe7880fc87589b3ea803174901811e17067b", 580_224),
        "toybox": ("e423df000adb9b94af807d5c4297a625ec887677334d72e4a258df23f9616d7a", 2_703_504),
        "libcrypt1": ("eea0ad76ea5eb507127fea0c291622ea4ecdbb71c4b9a8ed9c76ae33fc1a0127", 90_044),
        "busybox-static": ("732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5", 822_236),
    }),
    "armv7": _packages("armhf", "arm-linux-gnueabihf", {
        "mksh": ("00393fc4764dd801a979465e9fe0c3ed1658199ed6b65a0e519c5d86cc96116f", 562_364),
        "toybox": ("95ed7c3569da1b367ddfc34fa3eea38dc72dc6eadd9f9babaf61c5ce4a02e3e1", 2_699_772),
        "libcrypt1": ("6bb061a2279a27ff61791cda6edc8925455e5423e475e5e6c41ad7e04d8efc3c", 95_644),
        "busybox-static": ("2f68dbeaebeda49f3cde34ac421d5add85fb1c837ff7c4a4971945340d9d66ff", 815_288),
    }),
}

_MANIFEST = "sdk.json"
_LIB = {"armv8": "lib64", "armv7": "lib"}  # where Android keeps the ABI's libraries


@dataclass(frozen=True)
class Userland:
    """An installed userland: where it is and what it provides."""

    arch: str
    root: Path
    packages: dict[str, str]  # package → version
    toybox: tuple[str, ...]  # toybox's commands (linked as /system/bin/NAME)
    busybox: tuple[str, ...]  # the busybox applets linked (BUSYBOX_COMMANDS it has)

    @property
    def version(self) -> str:
        return f"mksh {self.packages.get('mksh', '?')}, toybox {self.packages.get('toybox', '?')}"

    @property
    def lib_dir(self) -> str:
        return f"system/{_LIB[self.arch]}"


def targets(name: str) -> list[Target]:
    return [make_target("armv8", "android"), make_target("armv7", "android")]


def _cache_path(arch: str) -> Path:
    return cache_dir("sdk", "android-userland", arch)


def _missing(arch: str, where: Path, why: str) -> ToolchainError:
    return ToolchainError(f"no Android userland (mksh, toybox) for {arch} in {where}: {why}",
                          hint=f"edgeclas sdk install android-userland --arch {arch}")


def load(root: Path, arch: str) -> Userland:
    """Read and check an installed userland folder; ToolchainError saying what is wrong (and the fix)."""
    meta = root / _MANIFEST
    if not meta.is_file():
        raise _missing(arch, root, f"no {_MANIFEST}")
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise _missing(arch, root, f"{_MANIFEST} is unreadable ({e})") from None
    if data.get("layout") != LAYOUT:
        raise _missing(arch, root, f"made by an older edgeclas (layout {data.get('layout', 1)}, now {LAYOUT})")
    want = "aarch64" if arch == "armv8" else "armv7"
    for rel in ("system/bin/sh", "system/bin/toybox", "system/bin/busybox", f"system/{_LIB[arch]}/libcrypt.so.1"):
        got = elf_machine(root / rel)
        if got != want:
            raise _missing(arch, root, f"{rel} is {'missing' if got is None else f'built for {got}'}")
    return Userland(arch, root, {p["name"]: p["version"] for p in data.get("packages", [])},
                    tuple(data.get("toybox", ())), tuple(data.get("busybox", ())))


def _arch(t: Target) -> str:
    if t.arch not in PACKAGES:
        raise ToolchainError(f"android-userland is the emulated phone's /system: there is one for armv8 and armv7, "
                             f"not for {t.arch}", hint="edgeclas sdk path android-userland --arch armv8")
    return t.arch


def resolve(name: str, t: Target, flag: Path | None) -> SdkItem:
    arch = _arch(t)
    env = os.environ.get(ENV)
    for source, root in (("flag", flag), ("env", Path(env) / arch if env else None), ("cache", _cache_path(arch))):
        if root is None:
            continue
        try:
            u = load(root, arch)
        except ToolchainError as e:
            if source != "cache" or (root / _MANIFEST).is_file():
                raise
            raise _missing(arch, root, "not installed") from e
        return SdkItem(name, u.version, root, source, t.key, note=f"{len(u.toybox)} toybox commands")
    raise _missing(arch, _cache_path(arch), "not installed")


def install(name: str, t: Target, **_: object) -> SdkItem:
    arch = _arch(t)
    downloads = cache_dir("sdk", "downloads")
    debs = [(pkg, fetch(pkg.artifact, downloads)) for pkg in PACKAGES[arch]]
    with staging_dir(_cache_path(arch)) as tmp:
        os.chmod(tmp, 0o755)
        for pkg, deb in debs:
            wanted = {src: dst.format(lib=_LIB[arch]) for src, dst in pkg.files.items()}
            unpack = tmp / ".unpack"
            unpack.mkdir()
            data = deb_data_tar(deb, unpack)
            safe_extract(data, unpack / "data", select=lambda m, w=wanted: m if m in w else None)
            for src, dst in wanted.items():
                if not (unpack / "data" / src).is_file():
                    raise ToolchainError(f"{deb.name} has no {src}", hint="the pin table in edgeclas/sdk/userland.py "
                                         "does not match the package; update it")
                (tmp / dst).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(unpack / "data" / src, tmp / dst)
                os.chmod(tmp / dst, 0o755)
            shutil.rmtree(unpack)
        toybox = _commands(arch, tmp, ["system/bin/toybox"])
        busybox = [c for c in _commands(arch, tmp, ["system/bin/busybox", "--list"]) if c in BUSYBOX_COMMANDS]
        if "ls" not in toybox or len(busybox) != len(BUSYBOX_COMMANDS):
            raise ToolchainError(f"the {arch} toybox/busybox did not list their commands as expected "
                                 f"(toybox: {len(toybox)}, busybox: {busybox})")
        atomic_write_json(tmp / _MANIFEST, {
            "item": "android-userland", "layout": LAYOUT, "arch": arch,
            "packages": [{"name": p.artifact.spec.split(":")[0], "version": p.artifact.spec.split("=", 1)[1],
                          "file": p.artifact.name, "sha256": p.artifact.sha256} for p, _ in debs],
            "toybox": toybox, "busybox": busybox,
        })
        load(tmp, arch)
    u = load(_cache_path(arch), arch)
    return SdkItem(name, u.version, u.root, "download", t.key, note=f"{len(u.toybox)} toybox commands")


def _commands(arch: str, root: Path, argv: list[str]) -> list[str]:
    """Run a multicall binary of the new userland under qemu and read the command names it prints."""
    from .cross import qemu_command

    lib = root / "system" / _LIB[arch]
    cmd = [*qemu_command(arch), "-E", f"LD_LIBRARY_PATH={lib}", str(root / argv[0]), *argv[1:]]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ToolchainError(f"could not run the {arch} {Path(argv[0]).name} under qemu: {e}",
                             hint="apt-get install qemu-user-static") from None
    if r.returncode != 0:
        raise ToolchainError(f"the {arch} {Path(argv[0]).name} failed under qemu (exit {r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[:200]}")
    return sorted({w for w in r.stdout.split() if w.replace("-", "").replace("_", "").replace("[", "").isalnum()})
