"""The emulated device process: one listening socket on loopback, one thread per adb connection."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..fsutil import atomic_write_json
from ..sdk.userland import Userland
from .fs import DeviceFS, populate_root
from .profile import DeviceProfile
from .sandbox import Sandbox, SandboxError
from .services import SH, open_service
from .transport import Connection

__all__ = ["EmulatedDevice", "serve", "ANDROID_PATH"]

log = logging.getLogger(__name__)

REBOOT_SECONDS = 3.0  # how long a rebooting device refuses connections
ANDROID_PATH = ("/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:/system/bin:"
                "/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin")


@dataclass
class EmulatedDevice:
    profile: DeviceProfile
    fs: DeviceFS
    sandbox: Sandbox
    serial: str
    connections: set[Connection] = field(default_factory=set)
    down_until: float = 0.0  # monotonic time until which connections are refused (rebooting)

    def reboot(self) -> None:
        """``adb reboot``: programs die, the log is gone, every connection drops, the device is away a few
        seconds; files stay."""
        self.down_until = time.monotonic() + REBOOT_SECONDS
        self.sandbox.kill_all(clear_log=True)
        for c in list(self.connections):
            c.drop()

    def banner(self) -> bytes:
        props = self.profile.props
        keys = ("ro.product.name", "ro.product.model", "ro.product.device")
        fields = ";".join(f"{k}={props.get(k, '')}" for k in keys)
        return f"device::{fields};features={','.join(self.profile.adb_features)}".encode()

    def shell_env(self, *, term: str | None = None, interactive: bool = False) -> dict[str, str]:
        """The environment adbd gives ``sh``: Android's, never the host's."""
        env = {
            "PATH": ANDROID_PATH,
            "HOME": "/",
            "TMPDIR": "/data/local/tmp",
            "ANDROID_DATA": "/data",
            "ANDROID_ROOT": "/system",
            "EXTERNAL_STORAGE": "/sdcard",
            "USER": "shell",
            "LOGNAME": "shell",
            "SHELL": SH,
            # qemu-user answers uname(2) with this release, so `uname -r` agrees with /proc/version.
            "QEMU_UNAME": self.profile.kernel_release,
        }
        if term:
            env["TERM"] = term
        if interactive:
            env["ENV"] = "/system/etc/mkshrc"  # the prompt (mksh reads $ENV in interactive shells only)
        return env


def _serve_connection(device: EmulatedDevice, c: Connection) -> None:
    try:
        c.serve()
    finally:
        device.connections.discard(c)


def serve(profile: DeviceProfile, root: Path, userland: Userland, *, port: int = 0, quota_mb: int | None = None,
          ready_file: Path | None = None, host: str = "127.0.0.1") -> int:
    """Serve until SIGTERM/SIGINT. Writes ``ready_file`` (pid, port, root) once it accepts connections, or
    ``{"error": …}`` when the device cannot boot (then returns 3)."""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError(f"the emulated device listens on loopback only, not {host}")
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(16)
    port = srv.getsockname()[1]
    if not profile.props.get("ro.serialno"):  # the hardware serial a phone reports (adb's serial is host:port)
        profile = dataclasses.replace(profile, props={**profile.props, "ro.serialno": f"EDGECLASEMU{port}"})
    populate_root(root, profile, userland)
    quota = (quota_mb if quota_mb is not None else profile.storage_quota_mb) * 1024 * 1024
    fs = DeviceFS(root, quota)
    try:
        sandbox = Sandbox(fs.root, profile.arch)
    except SandboxError as e:
        srv.close()
        if ready_file is not None:
            atomic_write_json(ready_file, {"error": str(e)})
        log.error("the device cannot boot: %s", e)
        return 3
    device = EmulatedDevice(profile, fs, sandbox, f"127.0.0.1:{port}")
    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()
        try:
            srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        srv.close()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if ready_file is not None:
        atomic_write_json(ready_file, {"pid": os.getpid(), "port": port, "root": str(fs.root), "profile": profile.name})
    log.info("emulated device %s (%s) listening, root %s", device.serial, profile.name, fs.root)
    try:
        while not stop.is_set():
            try:
                conn, _addr = srv.accept()
            except OSError:
                break
            if time.monotonic() < device.down_until:
                conn.close()  # still "rebooting"
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Connection(conn, device.banner(), lambda name: open_service(device, name))
            device.connections.add(c)
            threading.Thread(target=_serve_connection, args=(device, c), daemon=True, name="adb-conn").start()
    finally:
        sandbox.close()
    return 0
