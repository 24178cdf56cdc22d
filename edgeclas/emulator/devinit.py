"""The emulated device's init: the process that owns the device's namespaces and starts its programs.

``python -m edgeclas.emulator.devinit --root ROOT --arch armv8 --control-fd N …`` is started by the
device server (:mod:`.sandbox`). It builds, once per device boot:

* a **user namespace** (the caller mapped to root in it; when the caller is real root, host uid/gid
  2000 is mapped as 2000 too, so device programs run as an unprivileged host uid), and with it new
  **mount, PID, network, UTS and IPC namespaces**: the device has its own process table (``ps``
  shows only device programs; this process is its PID 1), its own loopback (``127.0.0.1`` is the
  device, as on a phone; ``adb reverse``/``forward`` are the only ways across) and hostname
  ``localhost``;
* its mounts, all private to the namespace (the host and the device root folder are unchanged):
  the device root bound onto itself **read-only**, with ``/data`` and ``/sdcard`` bound read-write;
  the cross sysroots read-only at ``/usr/<triplet>/lib`` (the glibc that ``/lib`` links to); a small
  tmpfs on ``/dev`` with ``null zero random urandom tty`` bound from the host, a private ``devpts``
  for ``adb shell`` terminals and the log buffer ``/dev/log``; a ``procfs`` of the device's PID
  namespace on ``/proc`` with the profile's ``cpuinfo``, ``meminfo`` and ``version`` and a boot id of its own bound over it;
* a **binfmt_misc** instance of its own (Linux 6.7+ gives each user namespace one): ARM ELF files run
  through ``qemu-<arch>-static`` (registered with ``F``, opened now from the host, so qemu is not
  inside the device, and ``P``, so programs keep their ``argv[0]``), which is what lets the real
  shell ``exec`` ARM programs at all.

Then it serves the device server over a ``SOCK_SEQPACKET`` socket: JSON requests, file descriptors
passed with ``SCM_RIGHTS``. ``spawn`` forks a program into a new session (its own process group),
chrooted into the device root as uid 2000 (``shell``), with the descriptors it was given as
0/1/2 (or a terminal); ``exited`` reports its status (128+N when killed by signal N). Orphans are
reaped here, as init does. When the server goes away (the socket closes, or it dies: parent-death
signals chain down to here) this process exits and the kernel kills every device program with it.

It also keeps the device log: programs append records to the FIFO ``/dev/log/.in`` (the ``log``
command does), this process is its only reader and the only writer of ``/dev/log/main``, which it
trims to its newest half past 256 KiB; a line ``\\x01clear`` (``logcat -c``) empties it.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import termios
import traceback

from .fs import SHELL_UID

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15
TIOCGPTN, TIOCSPTLCK = 0x80045430, 0x40045431  # <asm-generic/ioctls.h>; Python's termios lacks them
LOG_MAX, LOG_KEEP = 256 * 1024, 128 * 1024
MAX_FDS = 3


def _elf_match(bits: int, machine: int, first_phdr: int | None = None) -> tuple[str, str]:
    """binfmt_misc magic and mask for little-endian ELF executables and shared objects (e_type 2 or 3) of
    ``machine``; with ``first_phdr``, only files whose first program header (at offset 64) has that type."""
    magic = bytearray(b"\x7fELF" + bytes([bits // 32, 1, 1]) + bytes(9) + b"\x02\x00" + machine.to_bytes(2, "little"))
    mask = bytearray(b"\xff" * 7 + bytes(9) + b"\xfe\xff\xff\xff")
    if first_phdr is not None:
        # e_phoff (bytes 32..39) must be 64, and the program header there of the given type.
        magic += bytes(12) + (64).to_bytes(8, "little") + bytes(24) + first_phdr.to_bytes(4, "little")
        mask += bytes(12) + b"\xff" * 8 + bytes(24) + b"\xff" * 4
    return "".join(f"\\x{b:02x}" for b in magic), "".join(f"\\x{b:02x}" for b in mask)


# binfmt_misc entries: ARM programs run under qemu; dynamically linked x86 programs (first program
# header PT_PHDR, which qemu's own static-pie binary lacks) are refused with ENOEXEC, so the shell says
# "not executable: 64-bit ELF file" as a phone does instead of the host running them natively.
_ELF_MAGIC = {"aarch64": _elf_match(64, 183), "arm": _elf_match(32, 40)}
_FOREIGN = {"x86-64": _elf_match(64, 62, first_phdr=6), "i386": _elf_match(32, 3, first_phdr=6)}
_DEV_NODES = ("null", "zero", "random", "urandom", "tty")
_PROC_FILES = ("cpuinfo", "meminfo", "version", "sys/kernel/random/boot_id")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def unshare(flags: int, what: str = "unshare") -> None:
    _check(_libc.unshare(flags), what)


def prctl(option: int, arg: int | bytes) -> None:
    _libc.prctl(option, arg, 0, 0, 0)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def exit_status(wait_status: int) -> int:
    """A shell's view of a wait status: the exit code, or 128+N for a program killed by signal N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


# ------------------------------------------------------------------------------------------- boot

class Boot:
    """Everything decided on the command line; the mounts are made by :meth:`mounts` in the new namespaces."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.root = os.path.realpath(args.root)
        self.qemu = dict(spec.split("=", 1) for spec in args.qemu)  # binfmt name → host qemu path
        self.sysroots = dict(spec.split("=", 1) for spec in args.sysroot)  # triplet → host lib folder
        self.hostname = args.hostname
        self.as_root = os.geteuid() == 0

    def mounts(self) -> None:
        r = self.root
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        # Generated /proc files are opened before procfs hides them, then bound over procfs' own.
        proc_fds = {name: os.open(f"{r}/proc/{name}", os.O_RDONLY) for name in _PROC_FILES
                    if os.path.isfile(f"{r}/proc/{name}")}
        mount(r, r, None, MS_BIND | MS_REC)
        for triplet, src in self.sysroots.items():
            dst = f"{r}/usr/{triplet}/lib"
            mount(src, dst, None, MS_BIND | MS_REC)
            mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        dev = f"{r}/dev"
        mount("tmpfs", dev, "tmpfs", MS_NOSUID, "size=1m,mode=755")
        for node in _DEV_NODES:
            os.close(os.open(f"{dev}/{node}", os.O_CREAT | os.O_WRONLY, 0o666))
            mount(f"/dev/{node}", f"{dev}/{node}", None, MS_BIND)
        os.mkdir(f"{dev}/pts")
        mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
        os.symlink("pts/ptmx", f"{dev}/ptmx")
        for i, name in enumerate(("stdin", "stdout", "stderr")):
            os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")
        os.symlink("/proc/self/fd", f"{dev}/fd")
        os.mkdir(f"{dev}/log", 0o755)
        os.mkfifo(f"{dev}/log/.in", 0o622)
        os.close(os.open(f"{dev}/log/main", os.O_CREAT | os.O_WRONLY, 0o644))
        os.chmod(f"{dev}/log/.in", 0o622)  # anyone writes records (the umask would narrow the mode)
        mount("proc", f"{r}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        for name, fd in proc_fds.items():
            mount(f"/proc/self/fd/{fd}", f"{r}/proc/{name}", None, MS_BIND)
            os.close(fd)
        binfmt = f"{r}/proc/sys/fs/binfmt_misc"
        mount("binfmt_misc", binfmt, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        for name, qemu in self.qemu.items():
            magic, mask = _ELF_MAGIC[name]
            _write(f"{binfmt}/register", f":qemu-{name}:M::{magic}:{mask}:{qemu}:FP")
        # An empty "interpreter" no handler accepts: exec fails with ENOEXEC. Opened at registration (F),
        # then unlinked, so it is nowhere in the device.
        refuse = f"{dev}/.refuse"
        os.close(os.open(refuse, os.O_CREAT | os.O_WRONLY, 0o755))
        os.chmod(refuse, 0o755)
        for name, (magic, mask) in _FOREIGN.items():
            _write(f"{binfmt}/register", f":refuse-{name}:M::{magic}:{mask}:{refuse}:F")
        os.unlink(refuse)
        # Everything but /data and /sdcard is read-only for the device, as /system is on a phone. /data
        # is bound last: df names the newest mount of a filesystem, and /data is the one asked about.
        for top in ("sdcard", "data"):
            mount(f"{r}/{top}", f"{r}/{top}", None, MS_BIND | MS_REC)
        mount(None, r, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        _loopback_up()
        socket.sethostname(self.hostname)


def _loopback_up() -> None:
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | IFF_UP))


def _map_ids(pid: int, as_root: bool) -> None:
    """Written by the parent (still in the host's namespace): only it may map more than its own ids."""
    uid, gid = os.getuid(), os.getgid()
    if as_root:
        uids, gids = f"0 0 1\n{SHELL_UID} {SHELL_UID} 1\n", f"0 0 1\n{SHELL_UID} {SHELL_UID} 1\n"
    else:
        _write(f"/proc/{pid}/setgroups", "deny")
        uids, gids = f"0 {uid} 1\n", f"0 {gid} 1\n"
    _write(f"/proc/{pid}/uid_map", uids)
    _write(f"/proc/{pid}/gid_map", gids)


# ------------------------------------------------------------------------------------------- serve

class Init:
    """PID 1 of the device: spawns programs, reaps them, passes sockets and terminals, keeps the log."""

    def __init__(self, boot: Boot, control: socket.socket) -> None:
        self.boot = boot
        self.control = control
        self.sessions: dict[int, int] = {}  # pid → request id
        self.sel = selectors.DefaultSelector()
        self.log_in = os.open(f"{boot.root}/dev/log/.in", os.O_RDWR | os.O_NONBLOCK)  # RDWR: never EOF
        self.log_buf = b""

    def send(self, msg: dict, fds: list[int] = ()) -> None:
        data = json.dumps(msg).encode()
        if fds:
            socket.send_fds(self.control, [data], list(fds))
        else:
            self.control.send(data)

    def run(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.sel.register(self.control, selectors.EVENT_READ, "control")
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.sel.register(self.log_in, selectors.EVENT_READ, "log")
        self.send({"event": "ready"})
        while True:
            for key, _ in self.sel.select():
                if key.data == "control":
                    try:
                        data, fds, _flags, _addr = socket.recv_fds(self.control, 1 << 16, MAX_FDS)
                    except OSError:
                        data, fds = b"", []
                    if not data:
                        return  # the server is gone: returning ends the device (the kernel kills the rest)
                    msg = {}
                    try:
                        msg = json.loads(data)
                        self.handle(msg, fds)
                    except Exception as e:  # noqa: BLE001 - one bad request must not end the device
                        traceback.print_exc()
                        self.send({"event": "error", "id": msg.get("id"), "message": str(e)})
                    finally:
                        for fd in fds:
                            os.close(fd)
                elif key.data == "wake":
                    while True:
                        try:
                            if not os.read(wake_r, 512):
                                break
                        except BlockingIOError:
                            break
                    self.reap()
                else:
                    self.read_log()

    def handle(self, msg: dict, fds: list[int]) -> None:
        op, rid = msg.get("op"), msg.get("id")
        if op == "spawn":
            pid = self.spawn(msg, fds)
            self.sessions[pid] = rid
            self.send({"event": "started", "id": rid, "pid": pid})
        elif op == "signal":
            try:  # a session leader's pid is its process group's id, which outlives it while members live
                (os.killpg if msg.get("group") else os.kill)(int(msg["pid"]), msg["sig"])
            except ProcessLookupError:
                pass
        elif op == "killall":
            os.kill(-1, signal.SIGKILL)  # from PID 1: every process of the device but this one
            if msg.get("clear_log"):
                self.clear_log()
        elif op == "pty":
            master, slave = self.openpty()
            self.send({"event": "pty", "id": rid}, [master, slave])
            os.close(master)
            os.close(slave)
        elif op in ("listen", "connect"):
            try:
                s = self.listen(msg["port"]) if op == "listen" else socket.create_connection(("127.0.0.1", msg["port"]), 10)
            except OSError as e:
                self.send({"event": "error", "id": rid, "message": os.strerror(e.errno or errno.EIO)})
                return
            with s:
                self.send({"event": "socket", "id": rid}, [s.fileno()])

    @staticmethod
    def listen(port: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(16)
        except OSError:
            s.close()
            raise
        return s

    def openpty(self) -> tuple[int, int]:
        master = os.open(f"{self.boot.root}/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        slave = os.open(f"{self.boot.root}/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        if self.boot.as_root:
            os.fchown(slave, SHELL_UID, SHELL_UID)
        return master, slave

    def spawn(self, msg: dict, fds: list[int]) -> int:
        pid = os.fork()
        if pid:
            return pid
        try:
            self._become_program(msg, fds)
        except BaseException as e:  # noqa: BLE001 - the child must never return into the init's loop
            try:
                os.write(2, f"/system/bin/sh: cannot start: {e}\n".encode())
            finally:
                os._exit(127)
        os._exit(127)

    def _become_program(self, msg: dict, fds: list[int]) -> None:
        os.setsid()
        std = [fds[0]] * 3 if msg.get("tty") else fds[:3]
        for i, fd in enumerate(std):
            os.dup2(fd, i, inheritable=True)
        if msg.get("tty"):
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        os.closerange(3, 65536)
        for sig in (signal.SIGPIPE, signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        # The storage quota as far as the kernel can hold a program to it: no file grows past the free
        # space (a program writing past it gets SIGXFSZ: qemu re-arms that signal in every program it
        # starts, so ignoring it here would not reach them); no core files.
        fsize = int(msg["fsize"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        root = self.boot.root
        if self.boot.as_root:
            os.chroot(root)
            _chdir(msg.get("cwd") or "/")
            os.setgroups([])
            os.setgid(SHELL_UID)
            os.setuid(SHELL_UID)
        else:
            # One host uid only: a nested user namespace maps it to 2000 (a chroot forbids that, so first).
            unshare(CLONE_NEWUSER | CLONE_NEWNS, "unshare (shell user)")
            for name, text in (("setgroups", "deny"), ("uid_map", f"{SHELL_UID} 0 1"), ("gid_map", f"{SHELL_UID} 0 1")):
                _write(f"/proc/self/{name}", text)
            os.chroot(root)
            _chdir(msg.get("cwd") or "/")
        os.execve(msg["argv"][0], msg["argv"], msg["env"])

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            rid = self.sessions.pop(pid, None)
            if rid is not None:
                self.send({"event": "exited", "id": rid, "status": exit_status(status)})

    # -- the log buffer
    def read_log(self) -> None:
        try:
            chunk = os.read(self.log_in, 65536)
        except BlockingIOError:
            return
        self.log_buf += chunk
        *lines, self.log_buf = self.log_buf.split(b"\n")
        out = bytearray()
        for line in lines:
            if line == b"\x01clear":
                out.clear()
                self.clear_log()
            elif line:
                out += line + b"\n"
        if out:
            main = f"{self.boot.root}/dev/log/main"
            with open(main, "ab") as f:
                f.write(out)
                size = f.tell()
            if size > LOG_MAX:
                with open(main, "rb") as f:
                    f.seek(size - LOG_KEEP)
                    keep = f.read()
                keep = keep[keep.find(b"\n") + 1:]
                with open(main, "r+b") as f:  # in place: readers following the file keep their inode
                    f.write(keep)
                    f.truncate()

    def clear_log(self) -> None:
        os.truncate(f"{self.boot.root}/dev/log/main", 0)


def _chdir(path: str) -> None:
    try:
        os.chdir(path)
    except OSError:
        os.chdir("/")


# ------------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgeclas.emulator.devinit", description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--control-fd", type=int, required=True)
    ap.add_argument("--qemu", action="append", default=[], help="binfmt name=host qemu path (aarch64, arm)")
    ap.add_argument("--sysroot", action="append", default=[], help="triplet=host lib folder")
    ap.add_argument("--hostname", default="localhost")
    args = ap.parse_args(argv)
    control = socket.socket(fileno=args.control_fd)
    boot = Boot(args)

    ready_r, ready_w = os.pipe()
    mapped_r, mapped_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(ready_r)
        os.close(mapped_w)
        try:
            unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)
        except OSError as e:
            _fatal(control, f"cannot create the device's namespaces ({e.strerror}); this needs root or "
                            "unprivileged user namespaces")
        os.write(ready_w, b"u")
        if os.read(mapped_r, 1) != b"m":
            os._exit(1)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        init = os.fork()  # the first child in the new PID namespace is its PID 1
        if init:
            control.close()
            _, status = os.waitpid(init, 0)
            os._exit(exit_status(status))
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        prctl(PR_SET_NAME, b"init")
        try:
            boot.mounts()
        except OSError as e:
            _fatal(control, f"cannot set up the device's mounts: {e}" + (
                " (binfmt_misc per user namespace needs Linux 6.7 or newer)" if "binfmt" in str(e) else ""))
        Init(boot, control).run()
        os._exit(0)
    os.close(ready_w)
    os.close(mapped_r)
    control.close()
    if os.read(ready_r, 1) == b"u":
        try:
            _map_ids(child, boot.as_root)
        except OSError as e:
            os.kill(child, signal.SIGKILL)
            print(f"devinit: cannot map user ids: {e}", file=sys.stderr)
            return 1
        os.write(mapped_w, b"m")
    _, status = os.waitpid(child, 0)
    return exit_status(status)


def _fatal(control: socket.socket, message: str) -> None:
    try:
        control.send(json.dumps({"event": "fatal", "message": message}).encode())
    finally:
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main())
