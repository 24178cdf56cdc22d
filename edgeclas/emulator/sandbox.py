"""The device server's handle on the device's init (:mod:`.devinit`): programs, terminals, sockets.

:class:`Sandbox` starts ``python -m edgeclas.emulator.devinit`` for a device root, waits until it has
built the device's namespaces and mounts, and then asks it, over one ``SOCK_SEQPACKET`` socket, to
start programs (:meth:`Sandbox.spawn` → :class:`Program`, whose ``wait()`` gives the shell status),
to signal them, to open terminals of the device's ``devpts`` and TCP sockets inside the device's
network namespace (``adb reverse`` listens there, ``adb forward`` connects there). A reader thread
turns the init's events into results for the threads waiting on them.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .devinit import MAX_FDS

__all__ = ["Sandbox", "SandboxError", "Program", "sandbox_args", "probe"]


class SandboxError(Exception):
    """The device's namespaces could not be built, or its init went away."""


@dataclass
class Program:
    """A program the init started (a session leader); ``status`` once it exited."""

    id: int
    sandbox: Sandbox
    pid: int = 0  # in the device's PID namespace
    status: int | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _pending: tuple[int, bool] | None = field(default=None, repr=False)  # a signal sent before it started
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait(self, timeout: float | None = None) -> int | None:
        self._done.wait(timeout)
        return self.status

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def signal(self, sig: int, group: bool = True) -> None:
        """Send ``sig`` to the program's process group (by default; what is left of it after the program
        itself exited, too: jobs it started in the background), or to the program alone."""
        with self._lock:
            if not self.pid:
                self._pending = (int(sig), group)  # delivered when the init says it started
                return
        if group or self.running:
            try:
                self.sandbox._send({"op": "signal", "pid": self.pid, "sig": int(sig), "group": group})
            except SandboxError:
                pass  # the init is gone, and every device program with it

    def _started(self, pid: int) -> None:
        with self._lock:
            self.pid, pending = pid, self._pending
        if pending is not None:
            self.signal(*pending)


def sandbox_args(root: Path, arch: str) -> list[str]:
    """The init's options for a device of ``arch``: the qemu binaries and glibc sysroots it needs."""
    from ..sdk import target
    from ..sdk.cross import resolve
    from .fs import SYSROOTS

    args = ["--root", str(root)]
    runs = ("armv8", "armv7") if arch == "armv8" else ("armv7",)  # an arm64 phone runs 32-bit ARM programs too
    for a in runs:
        qemu = resolve("qemu", target(a, "linux"), None).path
        args += ["--qemu", f"{'aarch64' if a == 'armv8' else 'arm'}={qemu}"]
        _loader, triplet, folder = SYSROOTS[a]
        if folder.is_dir():
            args += ["--sysroot", f"{triplet}={folder}"]
    return args


class Sandbox:
    """One device boot: the init process and the socket to it. ``close()`` ends every device program."""

    def __init__(self, root: Path, arch: str, *, timeout: float = 30.0) -> None:
        self.root = Path(root)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._programs: dict[int, Program] = {}
        self._replies: dict[int, queue.Queue] = {}
        self._closed = threading.Event()
        cmd = [sys.executable, "-m", "edgeclas.emulator.devinit", *sandbox_args(self.root, arch),
               "--control-fd", str(theirs.fileno())]
        prctl = _pdeathsig()
        # stderr is the server's (its log): the init reports there what it cannot send over the socket.
        self._proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, preexec_fn=prctl, env=_init_env())
        theirs.close()
        ours.settimeout(timeout)
        try:
            first = self._recv()
        except (OSError, ValueError) as e:
            first = {"event": "fatal", "message": f"the device's init did not start ({e})"}
        if first is None or first.get("event") != "ready":
            self._proc.kill()
            self._proc.wait(timeout=10)
            raise SandboxError((first or {}).get("message") or f"it exited with status {self._proc.returncode}")
        ours.settimeout(None)
        threading.Thread(target=self._reader, daemon=True, name="devinit-events").start()

    # -- protocol
    def _send(self, msg: dict, fds: list[int] = ()) -> None:
        data = json.dumps(msg).encode()
        with self._lock:
            if self._closed.is_set():
                raise SandboxError("the device's init is gone")
            try:
                if fds:
                    socket.send_fds(self._sock, [data], list(fds))
                else:
                    self._sock.send(data)
            except OSError as e:
                raise SandboxError(f"the device's init is gone ({e})") from None

    def _recv(self) -> dict | None:
        data, fds, _flags, _addr = socket.recv_fds(self._sock, 1 << 16, MAX_FDS)
        if not data:
            return None
        msg = json.loads(data)
        msg["fds"] = fds
        return msg

    def _reader(self) -> None:
        try:
            while True:
                msg = self._recv()
                if msg is None:
                    break
                event, rid = msg.get("event"), msg.get("id")
                if event == "started" and rid in self._programs:
                    self._programs[rid]._started(msg["pid"])
                elif event == "exited":
                    prog = self._programs.pop(rid, None)
                    if prog is not None:
                        prog.status = msg["status"]
                        prog._done.set()
                elif rid in self._replies:
                    self._replies.pop(rid).put(msg)
                else:
                    for fd in msg["fds"]:
                        os.close(fd)
        except (OSError, ValueError):
            pass
        finally:
            self._closed.set()
            for prog in list(self._programs.values()):  # the init died: so did its programs
                prog.status = 128 + signal.SIGKILL
                prog._done.set()
            for q in list(self._replies.values()):
                q.put({"event": "error", "message": "the device's init is gone", "fds": []})

    def _request(self, msg: dict, timeout: float = 30.0) -> dict:
        rid = next(self._ids)
        q: queue.Queue = queue.Queue()
        self._replies[rid] = q
        self._send({**msg, "id": rid})
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            self._replies.pop(rid, None)
            raise SandboxError(f"the device's init did not answer '{msg['op']}'") from None
        if reply.get("event") == "error":
            raise OSError(reply.get("message", "failed"))
        return reply

    # -- operations
    def spawn(self, argv: list[str], env: dict[str, str], fds: tuple[int, ...], *, cwd: str = "/",
              fsize: int, tty: bool = False) -> Program:
        """Start ``argv`` (a device path) with ``fds`` as stdin/stdout/stderr, or ``(terminal,)`` with ``tty``."""
        prog = Program(next(self._ids), self)
        self._programs[prog.id] = prog
        try:
            self._send({"op": "spawn", "id": prog.id, "argv": argv, "env": env, "cwd": cwd, "fsize": max(0, fsize),
                        "tty": tty}, list(fds))
        except SandboxError:
            self._programs.pop(prog.id, None)
            raise
        return prog

    def openpty(self) -> tuple[int, int]:
        """(master, slave) of a new terminal of the device (``/dev/pts/N`` inside it)."""
        master, slave = self._request({"op": "pty"})["fds"]
        return master, slave

    def listen(self, port: int) -> socket.socket:
        """A TCP socket listening on the device's 127.0.0.1:``port`` (OSError with the reason)."""
        [fd] = self._request({"op": "listen", "port": int(port)})["fds"]
        return _blocking(socket.socket(fileno=fd))

    def connect(self, port: int) -> socket.socket:
        """A TCP connection to the device's 127.0.0.1:``port`` (OSError: connection refused…)."""
        [fd] = self._request({"op": "connect", "port": int(port)})["fds"]
        return _blocking(socket.socket(fileno=fd))

    def kill_all(self, *, clear_log: bool = False) -> None:
        """Every device program dies (a reboot); ``clear_log`` empties the log buffer too."""
        if not self._closed.is_set():
            self._send({"op": "killall", "clear_log": clear_log})

    def close(self) -> None:
        """End the init, and with it the device's namespaces and every program in them."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _blocking(sock: socket.socket) -> socket.socket:
    # The descriptor keeps the flags it had in the init (a connect timeout leaves it non-blocking).
    sock.setblocking(True)
    return sock


def _init_env() -> dict[str, str]:
    # The init imports edgeclas from wherever this process did (an editable tree, a PYTHONPATH).
    env = {k: v for k, v in os.environ.items() if not k.startswith("QEMU_")}
    pkg_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _pdeathsig() -> Callable[[], None]:
    """A preexec_fn: the init gets SIGKILL when the device server dies, even by SIGKILL (libc looked up here)."""
    import ctypes
    import ctypes.util

    prctl = ctypes.CDLL(ctypes.util.find_library("c") or None).prctl
    return lambda: prctl(1, signal.SIGKILL, 0, 0, 0)


def probe(arch: str = "armv8") -> str | None:
    """None when a device sandbox can be built on this machine, else why not (namespaces, binfmt_misc, qemu)."""
    import shutil
    import tempfile

    from ..errors import ToolchainError
    from .fs import prepare_mount_points

    tmp = Path(tempfile.mkdtemp(prefix="edgeclas-sandbox-probe-"))
    try:
        prepare_mount_points(tmp)
        Sandbox(tmp, arch, timeout=30).close()
        return None
    except (SandboxError, ToolchainError, OSError) as e:
        return str(e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
