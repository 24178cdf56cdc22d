"""The adb backend of :class:`~edgeclas.device.base.Device`, over adbutils and a real adb server.

The server is found at ``--adb-server HOST:PORT`` → ``$EDGECLAS_ADB_SERVER`` → ``$ANDROID_ADB_SERVER_HOST``/
``$ANDROID_ADB_SERVER_PORT`` → ``127.0.0.1:5037``. A local server is started when missing unless the
user named one explicitly (then a missing server is an error, not a silently started empty one).
A server on another machine (``HOST:PORT``, started there with ``adb -a nodaemon server``) gives
access to a pool of phones plugged in elsewhere.

Shell commands use the shell v2 protocol (exit code, separate stderr) with a wall-clock deadline, or
on devices before Android 7 shell v1 with the status carried by a marker line; push/pull speak the
sync protocol directly so a device's failure message ("No space left on device") reaches the user
instead of a bare ``FAIL``. Files are compared with sha256sum, or md5sum / ``ls -l`` sizes on phones
that lack it (:meth:`AdbDevice.digests`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .base import DeviceInfo, RemoteDigests, ShellResult
from .errors import (
    AdbServerError,
    DeviceNotFound,
    DeviceOffline,
    DeviceUnauthorized,
    PushError,
    RemoteCommandError,
    RemoteTimeout,
)
from .info import SECTION, build_device_info, freq_command, info_command, parse_cpu_list, split_sections

if TYPE_CHECKING:
    import adbutils

__all__ = ["AdbServer", "AdbDevice", "adb_binary"]

_DEFAULT_PORT = 5037
_SYNC_DATA_MAX = 64 * 1024  # adbd's limit for one sync DATA packet
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_V2_CLOSE_STDIN = 4  # shell v2 packet id (stdin 0, stdout 1, stderr 2, exit 3, close-stdin 4, window 5)


def adb_binary() -> str | None:
    """The adb executable: ``$ADBUTILS_ADB_PATH``, then PATH, then the one adbutils ships."""
    env = os.environ.get("ADBUTILS_ADB_PATH")
    if env and os.access(env, os.X_OK):
        return env
    found = shutil.which("adb")
    if found:
        return found
    try:
        from adbutils import adb_path

        return adb_path()
    except Exception:  # adbutils missing, or no usable bundled binary
        return None


def _parse_server(spec: str, where: str) -> tuple[str, int]:
    host, sep, port = spec.strip().rpartition(":")
    if not sep:
        host, port = "127.0.0.1", spec.strip()
    host = host.strip("[]") or "127.0.0.1"
    try:
        p = int(port)
        if not 0 < p < 65536:
            raise ValueError
    except ValueError:
        raise AdbServerError(
            f"{where}: '{spec}' is not HOST:PORT or PORT",
            hint="e.g. --adb-server 127.0.0.1:5037",
        ) from None
    return host, p


@dataclass(frozen=True)
class AdbServer:
    host: str = "127.0.0.1"
    port: int = _DEFAULT_PORT
    explicit: bool = False  # named by the user: never start one in its place

    @classmethod
    def resolve(cls, spec: str | None = None) -> "AdbServer":
        if spec:
            return cls(*_parse_server(spec, "--adb-server"), explicit=True)
        env = os.environ.get("EDGECLAS_ADB_SERVER")
        if env:
            return cls(*_parse_server(env, "EDGECLAS_ADB_SERVER"), explicit=True)
        host = os.environ.get("ANDROID_ADB_SERVER_HOST") or "127.0.0.1"
        port_s = os.environ.get("ANDROID_ADB_SERVER_PORT")
        port = _parse_server(port_s, "ANDROID_ADB_SERVER_PORT")[1] if port_s else _DEFAULT_PORT
        return cls(host, port)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_local(self) -> bool:
        return self.host in _LOOPBACK

    def reachable(self, timeout: float = 1.0) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def ensure_running(self) -> None:
        """Start a local server when none listens (unless the user named this one); else AdbServerError."""
        if self.reachable():
            return
        if self.explicit or not self.is_local:
            raise AdbServerError(f"no adb server answers at {self.address}")
        exe = adb_binary()
        if not exe:
            raise AdbServerError(
                f"no adb server at {self.address} and no adb binary to start one",
                hint="apt-get install adb  (or pip install 'edgeclas[device]', whose adbutils ships one)",
            )
        proc = subprocess.run(
            [exe, "-P", str(self.port), "start-server"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0 or not self.reachable(timeout=3.0):
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise AdbServerError(
                f"could not start an adb server on port {self.port}"
                + (f": {detail[-1]}" if detail else ""),
                hint=f"run '{exe} -P {self.port} start-server' by hand to see why",
            )

    def client(self) -> "adbutils.AdbClient":
        self.ensure_running()
        return _client(self.host, self.port)

    def version(self) -> int:
        try:
            return int(self.client().server_version())
        except Exception as e:
            raise _map_adb_error(e, None, self) from None

    def list(self) -> list[tuple[str, str]]:
        """``[(serial, state), …]`` as ``adb devices`` shows them, offline and unauthorized included."""
        try:
            return [(d.serial, d.state) for d in self.client().list()]
        except AdbServerError:
            raise
        except Exception as e:
            raise _map_adb_error(e, None, self) from None

    def connect(self, address: str) -> str:
        """``adb connect HOST:PORT`` through this server; returns the server's answer."""
        try:
            return str(self.client().connect(address, timeout=10))
        except Exception as e:
            raise _map_adb_error(e, address, self) from None

    def disconnect(self, address: str) -> None:
        """``adb disconnect HOST:PORT``: the server forgets that device (nothing when it did not know it)."""
        try:
            self.client().disconnect(address)
        except Exception as e:
            raise _map_adb_error(e, address, self) from None

    def kill(self) -> None:
        """``adb kill-server`` (nothing when none answers)."""
        if self.reachable():
            try:
                self.client().server_kill()
            except Exception:  # it went away while being told to: that is what was asked
                pass


def _client(host: str, port: int) -> "adbutils.AdbClient":
    import adbutils

    from adbutils.errors import AdbConnectionError, AdbTimeout

    class _Connection(adbutils.AdbConnection):
        # adbutils runs a bare `adb start-server` (default port) when a connection fails, and leaves the
        # failed socket open; edgeclas decides itself whether a server may be started, so a failure stays
        # a failure, and create_connection closes what it could not connect.
        def _safe_connect(self):  # type: ignore[override]
            try:
                s = socket.create_connection((host, port), timeout=3)
            except socket.timeout:
                raise AdbTimeout(f"connect to adb server {host}:{port} timed out") from None
            except OSError as e:
                raise AdbConnectionError(f"connect to adb server failed: {e}") from None
            s.settimeout(None)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # a long shell on a silent link
            return s

        # adbutils' open_transport drops a connection whose request the server refuses (a device gone
        # mid-deploy) without closing it; close it here so no socket is left to the garbage collector.
        def check_okay(self):  # type: ignore[override]
            try:
                return super().check_okay()
            except BaseException:
                self.close()
                raise

    class _Client(adbutils.AdbClient):
        def make_connection(self, timeout: float | None = None) -> adbutils.AdbConnection:
            c = _Connection(self.host, self.port)
            if timeout:
                c.conn.settimeout(timeout)
            return c

    return _Client(host=host, port=port)


def _map_adb_error(e: BaseException, serial: str | None, server: AdbServer) -> Exception:
    """adbutils / socket errors → the device error a user can act on."""
    from adbutils.errors import AdbConnectionError

    text = str(e)
    low = text.lower()
    who = f"device '{serial}'" if serial else "adb"
    if isinstance(e, AdbConnectionError) or isinstance(e, ConnectionRefusedError):
        return AdbServerError(f"no adb server answers at {server.address} ({text})")
    if "unauthorized" in low:
        return DeviceUnauthorized(f"{who} is unauthorized")
    if "offline" in low:
        return DeviceOffline(f"{who} is offline")
    if "not found" in low or "no devices" in low:
        return DeviceNotFound(f"{who} not found by the adb server at {server.address}")
    if isinstance(e, (EOFError, ConnectionError, socket.timeout, TimeoutError)):
        return DeviceOffline(f"{who}: connection lost ({type(e).__name__}: {text or 'closed'})")
    return DeviceOffline(f"{who}: adb failed: {text or type(e).__name__}")


class AdbDevice:
    """One device behind an adb server. Cheap to create; talks to the server only when used."""

    def __init__(self, serial: str, server: AdbServer | None = None) -> None:
        self._serial = serial
        self.server = server or AdbServer.resolve()
        self._dev: Any = None
        self._v2: bool | None = None
        self._info: DeviceInfo | None = None
        self._digest_algorithm = "sha256"  # the strongest; lowered to what the device turns out to have

    def __repr__(self) -> str:
        return f"AdbDevice({self._serial!r}, server={self.server.address})"

    @property
    def serial(self) -> str:
        return self._serial

    # -- plumbing ---------------------------------------------------------------------------
    def _device(self) -> Any:
        if self._dev is None:
            self._dev = self.server.client().device(self._serial)
        return self._dev

    def _open(self, service: str, timeout: float | None) -> Any:
        try:
            c = self._device().open_transport(timeout=timeout)
            c.send_command(service)
            c.check_okay()
            return c
        except (AdbServerError, DeviceNotFound):
            raise
        except Exception as e:
            raise _map_adb_error(e, self._serial, self.server) from None

    def state(self) -> str:
        for serial, state in self.server.list():
            if serial == self._serial:
                return state
        return "absent"

    def _supports_v2(self) -> bool:
        if self._v2 is None:
            try:
                features = self._device().get_features()
            except Exception as e:
                raise _map_adb_error(e, self._serial, self.server) from None
            self._v2 = "shell_v2" in features.split(",")
        return self._v2

    # -- Device interface -------------------------------------------------------------------
    def shell(self, cmd: Sequence[str] | str, timeout: float | None = 60.0) -> ShellResult:
        command = cmd if isinstance(cmd, str) else " ".join(shlex.quote(str(a)) for a in cmd)
        start = time.monotonic()
        if not self._supports_v2():
            return self._shell_v1(command, timeout, start)
        deadline = None if timeout is None else start + timeout
        c = self._open(f"shell,v2:{command}", timeout)
        out, err = bytearray(), bytearray()
        exit_code: int | None = None
        try:
            # Nothing is fed to stdin: say so at once, so a program that reads it gets EOF instead of hanging.
            c.conn.sendall(bytes([_V2_CLOSE_STDIN]) + struct.pack("<I", 0))
            while exit_code is None:
                header = self._recv_exact(c, 5, deadline, command, out, err)
                kind, length = header[0], struct.unpack("<I", header[1:5])[0]
                data = self._recv_exact(c, length, deadline, command, out, err) if length else b""
                if kind == 1:
                    out += data
                elif kind == 2:
                    err += data
                elif kind == 3:
                    exit_code = data[0] if data else 255
        finally:
            c.close()  # closing the stream makes adbd kill a process still running
        return ShellResult(command, exit_code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                           time.monotonic() - start)

    def _recv_exact(self, c: Any, n: int, deadline: float | None, command: str,
                    out: bytearray, err: bytearray, some: bool = False) -> bytes:
        """``n`` bytes before ``deadline``; ``some``: the next 1..n bytes, or b"" at the end of the stream."""
        buf = bytearray()
        while len(buf) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RemoteTimeout(
                        f"{self._serial}: '{_short(command)}' still running after its time limit; stopped it",
                        partial=ShellResult(command, 124, out.decode("utf-8", "replace"),
                                            err.decode("utf-8", "replace"), 0.0),
                    )
                c.conn.settimeout(min(left, 5.0))
            try:
                chunk = c.conn.recv(n - len(buf))
            except (socket.timeout, TimeoutError):
                continue
            except OSError as e:
                raise DeviceOffline(f"{self._serial}: connection lost while running '{_short(command)}' ({e})",
                                    partial=ShellResult(command, 255, out.decode("utf-8", "replace"),
                                                        err.decode("utf-8", "replace"), 0.0)) from None
            if some:
                return chunk
            if not chunk:
                raise DeviceOffline(
                    f"{self._serial}: connection closed while running '{_short(command)}' (device gone?)",
                    partial=ShellResult(command, 255, out.decode("utf-8", "replace"),
                                        err.decode("utf-8", "replace"), 0.0),
                )
            buf += chunk
        return bytes(buf)

    def _shell_v1(self, command: str, timeout: float | None, start: float) -> ShellResult:
        """Devices older than Android 7 have no shell v2: output and errors arrive merged (through a
        terminal there: CR LF), without the exit code. The command runs in a subshell followed by a marker
        line with its status: a marker appended after it (adbutils' way) never comes if it calls ``exit``."""
        marker = f"edgeclas-status-{uuid.uuid4().hex[:12]}:"
        deadline = None if timeout is None else start + timeout
        c = self._open(f"shell:(\n{command}\n); echo {marker}$?", timeout)
        out = bytearray()
        try:
            while chunk := self._recv_exact(c, 65536, deadline, command, out, bytearray(), some=True):
                out += chunk
        finally:
            c.close()
        text = out.decode("utf-8", "replace").replace("\r\n", "\n")
        m = re.search(re.escape(marker) + r"(\d+)\n?$", text)
        if m is None:
            raise DeviceOffline(f"{self._serial}: '{_short(command)}' ended without its exit status (device gone?)",
                                partial=ShellResult(command, 255, text, "", time.monotonic() - start))
        return ShellResult(command, int(m.group(1)), text[:m.start()], "", time.monotonic() - start)

    def push(self, local: str | os.PathLike[str], remote: str, mode: int = 0o644, timeout: float | None = 300.0) -> int:
        return self.push_many([(local, remote, mode)], timeout=timeout)

    def push_many(self, items: Sequence[tuple[str | os.PathLike[str], str, int]], timeout: float | None = 300.0) -> int:
        """Push ``(local, remote, mode)`` files over one sync session (no per-file connection setup)."""
        if not items:
            return 0
        sent = 0
        c = self._open("sync:", timeout)
        try:
            for local_, remote, mode in items:
                local = Path(local_)
                remote_b = f"{remote},{0o100000 | (mode & 0o7777)}".encode("utf-8")
                this = 0
                try:
                    with open(local, "rb") as f:
                        c.conn.sendall(b"SEND" + struct.pack("<I", len(remote_b)) + remote_b)
                        while block := f.read(_SYNC_DATA_MAX):
                            c.conn.sendall(b"DATA" + struct.pack("<I", len(block)) + block)
                            this += len(block)
                        c.conn.sendall(b"DONE" + struct.pack("<I", int(local.stat().st_mtime)))
                    status = _read_exact(c, 4)
                except OSError as e:
                    # adbd answers FAIL and may drop the connection while we are still sending.
                    status = b""
                    try:
                        c.conn.settimeout(2.0)
                        status = _read_exact(c, 4)
                    except OSError:
                        pass
                    if status != b"FAIL":
                        raise PushError(f"{self._serial}: push of {local} to {remote} failed (sent {this} of "
                                        f"{local.stat().st_size} bytes): connection lost ({e})",
                                        hint=_LOST_HINT, partial=sent) from None
                if status == b"FAIL":
                    reason = _read_message(c)
                    raise PushError(f"{self._serial}: push of {local} to {remote} failed: {reason}",
                                    hint=push_failure_hint(reason), partial=sent)
                if status != b"OKAY":
                    raise PushError(f"{self._serial}: push of {local} to {remote}: unexpected answer {status!r}",
                                    hint=_LOST_HINT, partial=sent)
                _read_exact(c, 4)  # the OKAY's (empty) length word
                sent += this
            _quit(c)
        finally:
            c.close()
        return sent

    def pull(self, remote: str, local: str | os.PathLike[str], timeout: float | None = 300.0) -> int:
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        remote_b = remote.encode("utf-8")
        c = self._open("sync:", timeout)
        fd, tmp = tempfile.mkstemp(prefix=f".{local.name}.", suffix=".part", dir=local.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                c.conn.sendall(b"RECV" + struct.pack("<I", len(remote_b)) + remote_b)
                while True:
                    tag = _read_exact(c, 4)
                    if tag == b"DATA":
                        n = struct.unpack("<I", _read_exact(c, 4))[0]
                        f.write(_read_exact(c, n))
                        size += n
                    elif tag == b"DONE":
                        _read_exact(c, 4)
                        break
                    elif tag == b"FAIL":
                        raise RemoteCommandError(f"{self._serial}: cannot pull {remote}: {_read_message(c)}",
                                                 hint="check the remote path with 'adb shell ls -l PATH'")
                    else:
                        raise DeviceOffline(f"{self._serial}: pull of {remote}: unexpected answer {tag!r}")
            _quit(c)
            os.replace(tmp, local)
        except OSError as e:
            raise DeviceOffline(f"{self._serial}: connection lost while pulling {remote} ({e})") from None
        finally:
            c.close()
            if os.path.exists(tmp):
                os.unlink(tmp)
        return size

    def digests(self, remote_paths: Sequence[str], timeout: float | None = 120.0) -> RemoteDigests:
        """sha256sum (Android 8+), else md5sum (older toybox and toolbox), else sizes from ``ls -l``; the
        first one the device has is remembered for this device."""
        paths = list(remote_paths)
        tried: list[str] = []
        for algorithm in _DIGEST_ORDER[_DIGEST_ORDER.index(self._digest_algorithm):]:
            found: dict[str, str] = {}
            missing_tool = False
            for i in range(0, len(paths), 64):  # keep command lines short for old shells
                chunk = paths[i:i + 64]
                r = self.shell(_digest_command(algorithm, chunk), timeout=timeout)
                if r.exit_code == 127 and _not_found(r):
                    missing_tool = True
                    tried.append(f"{_DIGEST_TOOL[algorithm]}: {(r.stderr or r.stdout).strip()[:80]}")
                    break
                found.update(parse_digest_output(algorithm, r.stdout))
            if not missing_tool:
                self._digest_algorithm = algorithm
                return RemoteDigests(algorithm, found)
        raise RemoteCommandError(f"{self._serial}: cannot compare files: {'; '.join(tried)}",
                                 hint="the device lacks sha256sum, md5sum and ls; is it an Android device?")

    def info(self, refresh: bool = False) -> DeviceInfo:
        if self._info is None or refresh:
            state = self.state()
            if state != "device":
                raise _state_error(self._serial, state, self.server)
            r = self.shell(info_command(), timeout=30)
            cpus = parse_cpu_list(split_sections(r.stdout).get("cpus", ""))
            freq = self.shell(freq_command(cpus), timeout=30).stdout if cpus else ""
            self._info = build_device_info(self._serial, state, r.stdout, freq)
        return self._info


_LOST_HINT = ("the device went away during the push (cable, network, reboot, adbd restart): reconnect it until "
              "'edgeclas devices' lists it as 'device', then run again (pushed files are checked by sha256)")


def push_failure_hint(reason: str) -> str | None:
    """What to do about adbd's own reason for refusing a file (None: the class's default hint)."""
    low = reason.lower()
    if "no space" in low or "quota" in low or "enospc" in low:
        return "free space on the device ('df /data/local/tmp'), or push fewer or smaller images"
    if "read-only" in low or "permission denied" in low or "not a directory" in low:
        return "the remote dir cannot be written there: choose another --remote-dir (e.g. under /data/local/tmp)"
    return None


_DIGEST_ORDER = ("sha256", "md5", "size")
_DIGEST_TOOL = {"sha256": "sha256sum", "md5": "md5sum", "size": "ls -l"}


def _not_found(r: ShellResult) -> bool:
    # mksh: "inaccessible or not found"; older shells: "not found"
    return "not found" in (r.stderr + r.stdout)


def _digest_command(algorithm: str, paths: list[str]) -> str:
    q = shlex.quote
    if algorithm != "size":
        return " ".join([_DIGEST_TOOL[algorithm], *(q(p) for p in paths)])
    # One `ls -l` per path behind a marker: toolbox (Android before 6) prints only the basename.
    return "; ".join(f"echo {q(SECTION + p)}; ls -l {q(p)}" for p in paths)


def parse_digest_output(algorithm: str, text: str) -> dict[str, str]:
    """What :func:`_digest_command` printed → {path: digest}; ``size``: the size field of ``ls -l``."""
    if algorithm != "size":
        return parse_sha256sum(text, 64 if algorithm == "sha256" else 32)
    out: dict[str, str] = {}
    for path, body in split_sections(text).items():
        for line in body.splitlines():
            fields = line.split()
            # toybox: MODE LINKS OWNER GROUP SIZE DATE TIME NAME; toolbox: MODE OWNER GROUP SIZE DATE TIME NAME
            date = next((i for i, f in enumerate(fields) if re.fullmatch(r"\d{4}-\d\d-\d\d", f)), None)
            if line.startswith("-") and date and fields[date - 1].isdigit():
                out[path] = fields[date - 1]
                break
    return out


def parse_sha256sum(text: str, length: int = 64) -> dict[str, str]:
    """``HASH  PATH`` lines (toybox and coreutils; a leading ``\\`` marks an escaped name) → {path: hash};
    ``length`` 64 for sha256sum, 32 for md5sum."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        escaped = line.startswith("\\")
        digest, sep, path = line.lstrip("\\").partition("  ")
        if not sep or len(digest) != length:
            continue
        if escaped:
            path = path.replace("\\n", "\n").replace("\\\\", "\\")
        out[path] = digest.lower()
    return out


def _state_error(serial: str, state: str, server: AdbServer) -> Exception:
    if state == "absent":
        return DeviceNotFound(f"device '{serial}' is not connected to the adb server at {server.address}")
    if state in ("unauthorized", "authorizing"):
        return DeviceUnauthorized(f"device '{serial}' is {state}")
    if state == "offline":
        return DeviceOffline(f"device '{serial}' is offline")
    return DeviceOffline(f"device '{serial}' is in state '{state}', not 'device'",
                         hint="reboot it into Android ('adb -s SERIAL reboot') and retry")


def _read_exact(c: Any, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = c.conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the device")
        buf += chunk
    return bytes(buf)


def _read_message(c: Any) -> str:
    try:
        n = struct.unpack("<I", _read_exact(c, 4))[0]
        return _read_exact(c, n).decode("utf-8", "replace")
    except OSError:
        return "(no reason given)"


def _quit(c: Any) -> None:
    try:
        c.conn.sendall(b"QUIT" + struct.pack("<I", 0))
    except OSError:
        pass


def _short(command: str, n: int = 80) -> str:
    return command if len(command) <= n else command[: n - 1] + "…"
