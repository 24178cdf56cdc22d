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
from .fs import DeviceFS, populate_root
from .profile import DeviceProfile
from .programs import ProcessTable
from .services import open_service
from .transport import Connection

__all__ = ["FEATURES", "EmulatedDevice", "serve"]

log = logging.getLogger(__name__)

# What the host may use: shell protocol v2 (exit codes, separate stderr), `cmd`, sync STA2/LST2/LIS2,
# and parent folders created by SEND (so adb does not need a separate mkdir). Not sendrecv_v2 (SND2/RCV2).
FEATURES = ("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir")


REBOOT_SECONDS = 3.0  # how long a rebooting device refuses connections


@dataclass
class EmulatedDevice:
    profile: DeviceProfile
    fs: DeviceFS
    procs: ProcessTable
    serial: str
    connections: set[Connection] = field(default_factory=set)
    down_until: float = 0.0  # monotonic time until which connections are refused (rebooting)

    def reboot(self) -> None:
        """``adb reboot``: programs die, every connection drops, the device is away a few seconds; files stay."""
        self.down_until = time.monotonic() + REBOOT_SECONDS
        self.procs.kill_all()
        for c in list(self.connections):
            c.drop()

    def banner(self) -> bytes:
        props = self.profile.props
        keys = ("ro.product.name", "ro.product.model", "ro.product.device")
        fields = ";".join(f"{k}={props.get(k, '')}" for k in keys)
        return f"device::{fields};features={','.join(FEATURES)}".encode()


def _serve_connection(device: EmulatedDevice, c: Connection) -> None:
    try:
        c.serve()
    finally:
        device.connections.discard(c)


def serve(profile: DeviceProfile, root: Path, *, port: int = 0, quota_mb: int | None = None,
          ready_file: Path | None = None, host: str = "127.0.0.1", isolate: bool = False) -> None:
    """Serve until SIGTERM/SIGINT. Writes ``ready_file`` (pid, port, root) once it accepts connections."""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError(f"the emulated device listens on loopback only, not {host}")
    populate_root(root, profile)
    quota = (quota_mb if quota_mb is not None else profile.storage_quota_mb) * 1024 * 1024
    fs = DeviceFS(root, quota)
    if isolate:
        from .isolate import probe
        from .programs import _qemu

        problem = probe(fs.root, _qemu(profile.arch))
        if problem:
            raise SystemExit(f"--isolate is not available here: {problem} "
                             "(needs root or unprivileged user namespaces; start without --isolate)")
    procs = ProcessTable(isolate=isolate)
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(16)
    port = srv.getsockname()[1]
    if not profile.props.get("ro.serialno"):  # the hardware serial a phone reports (adb's serial is host:port)
        profile = dataclasses.replace(profile, props={**profile.props, "ro.serialno": f"EDGECLASEMU{port}"})
    device = EmulatedDevice(profile, fs, procs, f"127.0.0.1:{port}")
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
        atomic_write_json(ready_file, {"pid": os.getpid(), "port": port, "root": str(fs.root), "profile": profile.name,
                                       "isolate": isolate})
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
        procs.kill_all()
