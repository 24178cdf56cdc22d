"""Running program files on the emulated device: ARM ELF under qemu-user, shell scripts in our shell.

What a phone's shell does with ``./prog`` is mirrored: a missing file is ``inaccessible or not
found`` (127), a file without the execute bit is ``Permission denied`` (126), an ELF for another
machine is ``not executable: 64-bit ELF file`` (126). An ARM ELF runs as
``qemu-<arch>-static -L DEVICE_ROOT prog args…`` with the device cwd's host folder as cwd and only the
shell's exported variables as its environment; qemu-user looks every absolute path up under
``DEVICE_ROOT`` first, so the program's own opens of ``/data/local/tmp/…``, ``/proc/cpuinfo`` and
``/sys/…`` see the device. A program killed by signal N ends with status 128+N, as in a shell.

qemu-user is an emulator, not a jail: a program that opens a host path absent from the device root
(``/etc/hostname``) reaches the host's file. The sandbox guarantees cover the shell and the sync
service, which is everything adb itself can do; for programs, a device started with ``--isolate``
runs them chrooted into the device root (:mod:`.isolate`). Run only programs you built.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import resource
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .fs import FsError
from .shell import SH, FileSink, NullSink, ShellIO

if TYPE_CHECKING:
    from .shell import Shell

__all__ = ["ELF_MACHINES", "elf_machine", "ProcessTable", "run_path"]

EM_ARM, EM_AARCH64 = 40, 183
ELF_MACHINES = {EM_ARM: "armv7", EM_AARCH64: "armv8"}
# Which machines a device of each arch runs (an arm64 phone runs 32-bit ARM programs too).
RUNS = {"armv8": {EM_AARCH64, EM_ARM}, "armv7": {EM_ARM}}


def elf_machine(head: bytes) -> tuple[int, int] | None:
    """``(ei_class_bits, e_machine)`` of an ELF header, or None when ``head`` is not ELF."""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    bits = {1: 32, 2: 64}.get(head[4], 0)
    order = "little" if head[5] != 2 else "big"
    return bits, int.from_bytes(head[18:20], order)


@dataclass
class Proc:
    pid: int
    name: str
    popen: subprocess.Popen


class ProcessTable:
    """Programs the emulator is running (for ``ps``, ``pidof``, ``kill``) — host pids, one group each."""

    def __init__(self, *, isolate: bool = False) -> None:
        self._lock = threading.Lock()
        self._procs: dict[int, Proc] = {}
        self.isolate = isolate  # launch programs chrooted in a private mount namespace (see .isolate)

    def add(self, name: str, popen: subprocess.Popen) -> None:
        with self._lock:
            self._procs[popen.pid] = Proc(popen.pid, name, popen)

    def remove(self, pid: int) -> None:
        with self._lock:
            self._procs.pop(pid, None)

    def list(self) -> list[Proc]:
        with self._lock:
            return list(self._procs.values())

    def get(self, pid: int) -> Proc | None:
        with self._lock:
            return self._procs.get(pid)

    def kill_all(self) -> None:
        for p in self.list():
            _killpg(p.pid, signal.SIGKILL)


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _find(shell: Shell, name: str) -> str | None:
    """Device path for ``name``: as given when it has a '/', else the first executable file on $PATH."""
    if "/" in name:
        return name
    for d in shell.vars.get("PATH", "").split(":"):
        if not d:
            continue
        try:
            res = shell.fs.resolve(f"{d}/{name}", shell.cwd)
        except FsError:
            continue
        if res.host.is_file() and os.access(res.host, os.X_OK):
            return res.device
    return None


def run_path(shell: Shell, argv: list[str], io: ShellIO, env: dict[str, str]) -> int:
    """Run ``argv[0]`` as a program file of the device; returns the shell status."""
    name = argv[0]
    path = _find(shell, name)
    if path is None:
        io.err(f"{SH}: {name}: inaccessible or not found\n")
        return 127
    try:
        res = shell.fs.resolve(path, shell.cwd)
    except FsError:
        io.err(f"{SH}: {name}: inaccessible or not found\n")
        return 127
    host = res.host
    if not host.exists():
        io.err(f"{SH}: {name}: inaccessible or not found\n")
        return 127
    if host.is_dir() or not os.access(host, os.X_OK):
        io.err(f"{SH}: {name}: can't execute: {os.strerror(errno.EACCES)}\n")
        return 126
    with open(host, "rb") as f:
        head = f.read(256)
    elf = elf_machine(head)
    if elf is None:
        # A "#!" script, or a file without one (sh runs those as scripts too): our own shell runs it.
        text = host.read_text("utf-8", "replace")
        if text.startswith("#!"):
            interp = text[2:].split("\n", 1)[0].strip().split()
            if interp and posix_basename(interp[0]) not in ("sh", "bash", "mksh"):
                io.err(f"{SH}: {name}: {interp[0]}: inaccessible or not found\n")
                return 127
        sub = shell.child(args=[name, *argv[1:]])
        sub.vars.update(env)
        sub.exported.update(env)
        return sub.run(text, io)
    bits, machine = elf
    if machine not in RUNS[shell.profile.arch]:
        io.err(f"{SH}: {name}: not executable: {bits}-bit ELF file\n")
        return 126
    return _run_qemu(shell, ELF_MACHINES[machine], str(host), argv, io, env)


def posix_basename(p: str) -> str:
    return p.rstrip("/").rsplit("/", 1)[-1]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _child_limits(free_bytes: int) -> None:
    # Die with the emulator even when it is SIGKILLed (the forking thread outlives the program: it waits for it).
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # qemu-user writes qemu_<prog>_<time>.core files into the cwd on a guest crash; a phone does not.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The storage quota, as far as the kernel can hold a program to it: no single file grows past the
    # free space (writes then fail with EFBIG "File too large" instead of SIGXFSZ killing the program).
    resource.setrlimit(resource.RLIMIT_FSIZE, (free_bytes, free_bytes))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _pump_out(fd_reader, sink) -> None:
    try:
        while True:
            chunk = os.read(fd_reader, 65536)
            if not chunk:
                break
            sink.write(chunk)
    except Exception:
        # The reader is gone (next pipeline stage ended, adb stream closed): closing our end gives the
        # program EPIPE/SIGPIPE on its next write, as a real pipe would.
        pass
    finally:
        os.close(fd_reader)


@functools.lru_cache(maxsize=None)
def _qemu(arch: str) -> str:
    """The qemu-user binary for ``arch``, found by the SDK layer (the one place tools are resolved); cached."""
    from ..sdk import target
    from ..sdk.cross import resolve

    return str(resolve("qemu", target(arch, "linux"), None).path)


def _run_qemu(shell: Shell, arch: str, host_prog: str, argv: list[str], io: ShellIO, env: dict[str, str]) -> int:
    from ..errors import ToolchainError

    try:
        qemu = _qemu(arch)
    except ToolchainError as e:
        io.err(f"{SH}: {argv[0]}: cannot run {arch} programs on this host: {e.message} ({e.hint})\n")
        return 126
    # qemu options come first; QEMU_* variables from the device side must not configure the emulator itself.
    penv = {k: v for k, v in env.items() if not k.startswith("QEMU_")}
    limits = functools.partial(_child_limits, shell.fs.free_bytes())
    if shell.procs.isolate:
        from .isolate import QEMU_DIR, child_setup

        setup = child_setup(shell.fs.root, shell.cwd, qemu)
        device_prog = "/" + os.path.relpath(host_prog, shell.fs.root)
        cmd = [f"{QEMU_DIR}/{os.path.basename(qemu)}", "-0", argv[0], device_prog, *argv[1:]]
        cwd = None

        def preexec() -> None:
            limits()
            setup()
    else:
        cmd = [qemu, "-L", str(shell.fs.root), "-0", argv[0], host_prog, *argv[1:]]
        preexec = limits
        try:
            cwd = shell.fs.resolve(shell.cwd).host
        except FsError:
            cwd = shell.fs.root

    pumps: list[threading.Thread] = []
    read_ends: list[int] = []

    def target(sink, is_stderr: bool):
        if isinstance(sink, NullSink):
            return subprocess.DEVNULL
        if isinstance(sink, FileSink):
            return sink.fileno()
        if is_stderr and sink is io.stdout:
            return subprocess.STDOUT
        r, w = os.pipe()
        read_ends.append(r)
        t = threading.Thread(target=_pump_out, args=(r, sink), daemon=True)
        pumps.append(t)
        return w

    stdout_t = target(io.stdout, False)
    stderr_t = target(io.stderr, True)
    stdin_src = io.stdin
    stdin_t = subprocess.DEVNULL
    stdin_file = None
    if stdin_src.path is not None:
        stdin_file = open(stdin_src.path, "rb")  # noqa: SIM115
        stdin_t = stdin_file
    elif not stdin_src.empty:
        stdin_t = subprocess.PIPE
    try:
        popen = subprocess.Popen(cmd, stdin=stdin_t, stdout=stdout_t, stderr=stderr_t, cwd=cwd, env=penv,
                                 start_new_session=True, preexec_fn=preexec, close_fds=True)
    except (OSError, subprocess.SubprocessError) as e:
        for r in read_ends:  # their pump threads never start
            os.close(r)
        io.err(f"{SH}: {argv[0]}: {getattr(e, 'strerror', None) or e}\n")
        return 126
    finally:
        for fdx in (stdout_t, stderr_t):
            if isinstance(fdx, int) and fdx >= 0 and not any(fdx == s.fileno() for s in (io.stdout, io.stderr) if s.fileno() is not None):
                os.close(fdx)
        if stdin_file is not None:
            stdin_file.close()
    for t in pumps:
        t.start()
    shell.procs.add(posix_basename(argv[0]), popen)
    if popen.stdin is not None:
        threading.Thread(target=_feed_stdin, args=(popen, stdin_src), daemon=True).start()
    cancel = shell.cancel
    try:
        termed_at, kill_after = None, 0.0
        while True:
            try:
                rc = popen.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel.is_set():
                if termed_at is None:
                    # A timeout sends its signal (TERM unless `timeout -s`), Ctrl-C sends INT, a closed stream KILL.
                    first, kill_after = cancel.how_to_stop()
                    _killpg(popen.pid, first)
                    termed_at = time.monotonic()
                elif time.monotonic() - termed_at > kill_after:
                    _killpg(popen.pid, signal.SIGKILL)
    finally:
        _killpg(popen.pid, signal.SIGKILL)  # whatever the program left behind in its group
        shell.procs.remove(popen.pid)
    for t in pumps:
        t.join(timeout=5)
    return 128 - rc if rc < 0 else rc


def _feed_stdin(popen: subprocess.Popen, src) -> None:
    try:
        while popen.poll() is None:
            chunk = src.read()
            if not chunk:
                break
            popen.stdin.write(chunk)
            popen.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            popen.stdin.close()
        except OSError:
            pass
