"""Start, stop and list emulated devices as detached processes, connected through an adb server.

Each running emulator has a state file ``cache_dir("emulators")/<port>.json`` (pid, port, profile,
device root, adb server, log file). ``start`` launches ``python -m edgeclas.emulator``, waits until it
listens, makes sure the adb server runs (the one :class:`edgeclas.device.AdbServer` resolves, or
``--adb-port`` on this machine; it is started when missing, and the handle says so), connects it to
``127.0.0.1:PORT`` and waits for state ``device``. All adb plumbing is :mod:`edgeclas.device`'s: one
adb lookup, one server resolution, the same environment variables as every other verb.
A device restarted on the same port shows ``offline`` for a few seconds in the adb server: ``start``
disconnects the old transport first and reconnects until it is ``device`` again.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..device import AdbServer
from ..doctor import ToolStatus
from ..errors import ConfigError, DeviceError
from ..fsutil import atomic_write_json
from ..paths import cache_dir
from .profile import load_profile

__all__ = ["EmulatorInfo", "start", "stop", "status", "free_port", "doctor_rows"]

_ARCH_PROFILES = {"armv8": "emulated-armv8", "armv7": "emulated-armv7"}


@dataclass(frozen=True)
class EmulatorInfo:
    serial: str
    port: int
    pid: int
    profile: str
    arch: str
    root: str
    adb_port: int
    log: str
    state: str = "device"  # as the adb server reports it, or "not running"
    owns_root: bool = False  # root was made in the cache for this device: stop removes it
    adb_server: str = ""  # HOST:PORT of the adb server it is registered with
    adb_server_started: bool = False  # start() had to start that server (stop(with_adb_server=True) ends it)

    @classmethod
    def from_json(cls, data: dict) -> EmulatorInfo:
        """From a state file; keys a newer or older edgeclas wrote and this one does not know are left out."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _state_dir() -> Path:
    return cache_dir("emulators")


def _state_file(port: int) -> Path:
    return _state_dir() / f"{port}.json"


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (the kernel picks it from a bound socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(adb_port: int | None) -> AdbServer:
    """The adb server the device registers with: ``adb_port`` on this machine, else the one every verb uses."""
    server = AdbServer("127.0.0.1", adb_port) if adb_port is not None else AdbServer.resolve()
    if not server.is_local:
        raise DeviceError(f"the adb server at {server.address} is on another machine and cannot reach the emulated "
                          "device (it listens on this machine's loopback only)",
                          hint="use a local adb server: --adb-port N, or unset EDGECLAS_ADB_SERVER / ANDROID_ADB_SERVER_HOST")
    return server


def _state(server: AdbServer, serial: str) -> str:
    return next((state for s, state in server.list() if s == serial), "absent")


def _connect(server: AdbServer, serial: str, timeout: float) -> None:
    """Connect the adb server to ``serial`` and wait until it lists it as ``device``."""
    server.disconnect(serial)  # drop a stale (offline) transport from a previous run on this port
    deadline = time.monotonic() + timeout
    last = ""
    next_connect = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_connect:
            try:
                last = server.connect(serial)
            except DeviceError as e:
                last = e.message
            next_connect = time.monotonic() + 3.0
        state = _state(server, serial)
        if state == "device":
            return
        if state == "offline" and time.monotonic() >= next_connect - 0.5:
            server.disconnect(serial)
            next_connect = 0.0
        time.sleep(0.2)
    raise DeviceError(f"emulated device {serial} did not come online in the adb server ({server.address}) within "
                      f"{timeout:.0f} s: {last}",
                      hint=f"check 'adb -P {server.port} devices'; the emulator log is in {_state_dir()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"edgeclas.emulator" in cmdline  # the pid was not reused by another program


def start(*, arch: str = "armv8", profile: str | None = None, port: int | None = None, adb_port: int | None = None,
          root: str | os.PathLike[str] | None = None, quota_mb: int | None = None, connect: bool = True,
          isolate: bool | None = None, timeout: float = 30.0, die_with_caller: bool = False) -> EmulatorInfo:
    """Launch a detached emulated device on 127.0.0.1 and (by default) connect the adb server to it.

    The device runs Android's real shell and commands (the ``android-userland`` SDK item: a missing
    one is a ToolchainError naming ``edgeclas sdk install``) in a sandbox of its own namespaces.
    ``isolate=False`` is refused: without the sandbox, mksh and toybox would act on this machine's files.

    Idempotent per port: when the same profile already runs there, it is only (re)connected.
    ``die_with_caller`` (test fixtures): the device gets SIGTERM when the calling thread's process dies,
    so a killed test run leaves no device behind.
    """
    if isolate is False:
        raise ConfigError("--no-isolate is not possible any more: the emulated device runs Android's real shell "
                          "and toybox, which outside the device's sandbox would act on this machine's files",
                          hint="drop --no-isolate (the sandbox needs root or unprivileged user namespaces and "
                               "Linux 6.7+; 'edgeclas doctor' shows whether this machine has them)")
    if profile is None:
        if arch not in _ARCH_PROFILES:
            raise DeviceError(f"unknown arch '{arch}'", hint=f"use one of {', '.join(_ARCH_PROFILES)}")
        profile = _ARCH_PROFILES[arch]
    prof = load_profile(profile)
    from ..sdk import resolve as sdk_resolve

    userland = sdk_resolve("android-userland", arch=prof.arch).path
    server = _server(adb_port)
    port = port or free_port()
    state_file = _state_file(port)
    if state_file.exists():
        old = EmulatorInfo.from_json(json.loads(state_file.read_text()))
        if _pid_alive(old.pid):
            if old.profile != prof.name:
                raise DeviceError(f"an emulated device ({old.profile}) already runs on port {port} (pid {old.pid})",
                                  hint=f"edgeclas emulator stop --port {port}, or pick another --port")
            # Already running (say, the adb server was restarted and forgot it): just connect it again.
            started = False
            if connect:
                started = not server.reachable()
                server.ensure_running()
                _connect(server, old.serial, timeout)
            old = EmulatorInfo(**{**asdict(old), "adb_port": server.port, "adb_server": server.address,
                                  "adb_server_started": started})
            atomic_write_json(state_file, asdict(old))
            return old
    root_path = Path(root) if root is not None else cache_dir("emulators", "roots", f"{prof.name}-{port}")
    log_path = _state_dir() / f"{port}.log"
    ready = _state_dir() / f".{port}.ready"
    _state_dir().mkdir(parents=True, exist_ok=True)
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "edgeclas.emulator", "--profile", str(prof.path or prof.name), "--root", str(root_path),
           "--port", str(port), "--ready-file", str(ready), "--userland", str(userland)]
    if quota_mb is not None:
        cmd += ["--quota-mb", str(quota_mb)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True,
                                preexec_fn=_term_with_parent() if die_with_caller else None)
    _STARTED[proc.pid] = proc
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None:
            lines = [l for l in log_path.read_text(errors="replace").splitlines() if l.strip()]
            raise DeviceError(f"the emulated device exited with status {proc.returncode} while starting on port {port}: "
                              f"{lines[-1] if lines else 'no output'}",
                              hint=f"is the port in use? try another --port (full log: {log_path})")
        if time.monotonic() > deadline:
            proc.kill()
            raise DeviceError(f"the emulated device did not listen on port {port} within {timeout:.0f} s", hint=f"see {log_path}")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    ready.unlink(missing_ok=True)
    if "error" in info:
        proc.wait(timeout=30)
        raise DeviceError(f"the emulated device cannot boot on this machine: {info['error']}",
                          hint="it needs root or unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) "
                               "and Linux 6.7+ (binfmt_misc per user namespace); 'edgeclas doctor' shows which is missing")
    started = connect and not server.reachable()
    result = EmulatorInfo(serial=f"127.0.0.1:{port}", port=port, pid=proc.pid, profile=prof.name, arch=prof.arch,
                          root=info["root"], adb_port=server.port, log=str(log_path), owns_root=root is None,
                          adb_server=server.address, adb_server_started=started)
    atomic_write_json(state_file, asdict(result))
    if connect:
        try:
            server.ensure_running()
            _connect(server, result.serial, timeout)
        except BaseException:
            _terminate(proc.pid)
            state_file.unlink(missing_ok=True)
            raise
    return result


def _term_with_parent() -> Callable[[], None]:
    """A preexec_fn setting PR_SET_PDEATHSIG=SIGTERM; libc is looked up here, in the parent, not after fork."""
    import ctypes
    import ctypes.util

    prctl = ctypes.CDLL(ctypes.util.find_library("c") or None).prctl
    return lambda: prctl(1, signal.SIGTERM, 0, 0, 0)


# Devices this process started, by pid: a Popen collected while its process runs is a ResourceWarning,
# and a device outlives the call that started it. _terminate reaps them.
_STARTED: dict[int, subprocess.Popen] = {}


def _terminate(pid: int, grace: float = 5.0) -> None:
    try:
        _stop_process(pid, grace)
    finally:
        proc = _STARTED.pop(pid, None)
        if proc is not None:
            proc.poll()  # reaped by waitpid or exited: records its status (no zombie, no warning)


def _stop_process(pid: int, grace: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            finished = 0 if _exists(pid) else pid
        if finished == pid or not _exists(pid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (ProcessLookupError, OSError):
        return False


def _load_states() -> list[EmulatorInfo]:
    out = []
    for f in sorted(_state_dir().glob("*.json")):
        try:
            out.append(EmulatorInfo.from_json(json.loads(f.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return out


def status(*, adb: bool = True) -> list[EmulatorInfo]:
    """Emulators started from this cache; ``state`` is what their adb server says (or ``not running``)."""
    rows = []
    for info in _load_states():
        server = AdbServer("127.0.0.1", info.adb_port)
        if not _pid_alive(info.pid):
            state = "not running"
        elif adb and server.reachable():
            try:
                state = _state(server, info.serial)
            except DeviceError:
                state = "unknown"
        else:
            state = "running"
        rows.append(EmulatorInfo(**{**asdict(info), "state": state}))
    return rows


def stop(*, port: int | None = None, serial: str | None = None, all_: bool = False,
         with_adb_server: bool = False) -> list[EmulatorInfo]:
    """Disconnect and terminate matching emulators; removes their state files, logs and the device roots
    made in the cache (not a ``--root`` folder). ``with_adb_server``: also end the adb server their
    ``start`` started (one that ran before is left alone). Raises when none matches."""
    if serial is not None:
        host, _, p = serial.rpartition(":")
        if not p.isdigit():
            raise DeviceError(f"'{serial}' is not an emulator serial (127.0.0.1:PORT)")
        port = int(p)
    chosen = [i for i in _load_states() if all_ or i.port == port]
    if not chosen:
        raise DeviceError("no matching emulated device is running" if not all_ else "no emulated device is running",
                          hint="edgeclas emulator status lists them")
    for info in chosen:
        server = AdbServer("127.0.0.1", info.adb_port, explicit=True)  # stopping never starts a server
        if _pid_alive(info.pid):
            try:
                if server.reachable():
                    server.disconnect(info.serial)
            except DeviceError:
                pass
            _terminate(info.pid)
        if with_adb_server and info.adb_server_started:
            server.kill()
        _state_file(info.port).unlink(missing_ok=True)
        Path(info.log).unlink(missing_ok=True)  # a clean stop leaves nothing; a crashed device keeps its log
        if info.owns_root:  # a --root folder is the user's and stays
            shutil.rmtree(info.root, ignore_errors=True)
    return [EmulatorInfo(**{**asdict(i), "state": "stopped"}) for i in chosen]


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None when the device's sandbox (namespaces, binfmt_misc, qemu) can be built here, else why not (probed once)."""
    from .sandbox import probe

    return probe("armv8")


def doctor_rows() -> list[ToolStatus]:
    """``edgeclas doctor``: device profiles, whether the device sandbox can be built here, emulators running."""
    from .profile import profile_names, profiles_dir

    names = profile_names()
    rows = [ToolStatus("device", "emulator profiles", bool(names), str(len(names)), str(profiles_dir()),
                       note=", ".join(names))]
    problem = sandbox_problem()
    rows.append(ToolStatus("device", "emulator sandbox", problem is None,
                           where="user/mount/pid/net namespaces + binfmt_misc (Linux 6.7+)",
                           how="run as root or enable unprivileged user namespaces "
                               "(sysctl kernel.unprivileged_userns_clone=1), on Linux 6.7 or newer",
                           note=problem or "the emulated device can boot here"))
    running = [i for i in status(adb=False) if i.state != "not running"]
    rows.append(ToolStatus("device", "emulated devices", True, f"{len(running)} running",
                           note=", ".join(i.serial for i in running)))
    return rows
