"""``--isolate``: run the device's programs chrooted into the device root, in a private mount namespace.

Without it a program runs as ``qemu -L ROOT`` and sees the host wherever ROOT has no such path (and
*creates* files at absolute paths on the host's side, because qemu only redirects paths that exist
under ROOT). Isolated, the program's ``/`` is the device root, so every absolute path, read or
created, is the device's, and host files are out of sight:

* ``unshare(CLONE_NEWNS)`` (plus ``CLONE_NEWUSER`` with the caller mapped to root when not run as
  root), mount propagation made private so nothing leaks back to the host;
* the cross sysroots bind-mounted read-only at ``ROOT/usr/<triplet>/lib`` (where the ``ROOT/lib``
  links point), a small tmpfs on ``ROOT/dev`` holding ``null zero random urandom`` bound from the
  host and the static qemu binary at ``/dev/.edgeclas/qemu-<arch>-static``;
* ``chroot(ROOT)``, ``chdir(cwd)``, then exec qemu on the device path of the program.

Everything happens in the forked child before exec (``preexec_fn``); the host's mount table and the
device root folder are left as they were. Not a security boundary against a program running as real
root (root can leave a chroot); it is one against mistakes, and an unprivileged user gets a user
namespace on top. No ``/proc/self``: a mounted procfs would show the host's processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
from pathlib import Path
from typing import Callable

from .fs import SYSROOTS

__all__ = ["prepare_root", "child_setup", "QEMU_DIR", "probe"]

QEMU_DIR = "/dev/.edgeclas"
_DEV_NODES = ("null", "zero", "random", "urandom")
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 32, 4096, 16384, 1 << 18

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def prepare_root(root: Path) -> None:
    """Create the (empty) mount points the isolated children need; harmless for qemu -L runs."""
    (root / "dev").mkdir(exist_ok=True)
    for _loader, triplet, _folder in SYSROOTS.values():
        (root / "usr" / triplet / "lib").mkdir(parents=True, exist_ok=True)


def child_setup(root: Path, cwd: str, qemu_host: str) -> Callable[[], None]:
    """A ``preexec_fn`` that builds the namespace and chroots; ``cwd`` is a device path."""
    root_s = str(root)
    uid, gid = os.getuid(), os.getgid()
    qemu_name = os.path.basename(qemu_host)
    sysroots = [(str(folder), f"{root_s}/usr/{triplet}/lib") for _l, triplet, folder in SYSROOTS.values() if folder.is_dir()]

    def setup() -> None:
        as_root = os.geteuid() == 0
        _check(_libc.unshare(CLONE_NEWNS | (0 if as_root else CLONE_NEWUSER)), "unshare")
        if not as_root:
            for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        for src, dst in sysroots:
            _mount(src, dst, None, MS_BIND | MS_REC)
            try:
                _mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
            except OSError:
                pass  # a user namespace may not be allowed to change the flags; it cannot write there anyway
        dev = f"{root_s}/dev"
        _mount("tmpfs", dev, "tmpfs", MS_NOSUID, "size=64k,mode=755")
        os.mkdir(f"{dev}/.edgeclas", 0o755)
        for node in _DEV_NODES:
            os.close(os.open(f"{dev}/{node}", os.O_CREAT | os.O_WRONLY, 0o666))
            _mount(f"/dev/{node}", f"{dev}/{node}", None, MS_BIND)
        target = f"{dev}/.edgeclas/{qemu_name}"
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o755))
        _mount(qemu_host, target, None, MS_BIND)
        os.chroot(root_s)
        os.chdir(cwd)

    return setup


def probe(root: Path, qemu_host: str) -> str | None:
    """None when isolated programs can run here, else why not (no namespaces, no mount rights…)."""
    prepare_root(root)
    try:
        r = subprocess.run([f"{QEMU_DIR}/{os.path.basename(qemu_host)}", "--version"], capture_output=True, text=True,
                           timeout=30, preexec_fn=child_setup(root, "/", qemu_host))
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    return None if r.returncode == 0 and "qemu" in r.stdout.lower() else (r.stderr.strip() or f"exit {r.returncode}")
