"""Device states through the real adb server: a device that never accepts this computer's key.

The unauthorized device is a minimal device side of the ADB transport (loopback TCP): it answers
CNXN with AUTH TOKEN and rejects every signature, exactly what a phone does before its user taps
"Allow USB debugging". The real adb server then lists it as ``unauthorized``.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest

from edgeclas.device import AdbServer, DeviceUnauthorized, select_device, select_devices

pytestmark = pytest.mark.integration

_A_CNXN, _A_AUTH = 0x4E584E43, 0x48545541
_AUTH_TOKEN, _AUTH_SIGNATURE = 1, 2


def _packet(cmd: int, arg0: int, arg1: int, payload: bytes) -> bytes:
    return struct.pack("<6I", cmd, arg0, arg1, len(payload), sum(payload) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF) + payload


class UnauthorizedDevice:
    """Listens on 127.0.0.1; every connection gets AUTH TOKEN challenges and is never let in."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            while not self.stop.is_set():
                header = conn.recv(24, socket.MSG_WAITALL)
                if len(header) < 24:
                    return
                cmd, arg0, _arg1, length = struct.unpack("<4I", header[:16])
                if length:
                    conn.recv(length, socket.MSG_WAITALL)
                if cmd == _A_CNXN or (cmd == _A_AUTH and arg0 == _AUTH_SIGNATURE):
                    conn.sendall(_packet(_A_AUTH, _AUTH_TOKEN, 0, os.urandom(20)))  # challenge; never accept
                # AUTH RSAPUBLICKEY: a phone would now show its prompt; nobody taps "Allow"
        except OSError:
            return

    def close(self) -> None:
        self.stop.set()
        for c in self.conns:
            c.close()
        self.sock.close()
        self.thread.join(timeout=5)


def test_unauthorized_device_is_a_distinct_error_with_what_to_do(adb_server):
    dev = UnauthorizedDevice()
    serial = f"127.0.0.1:{dev.port}"
    server = AdbServer.resolve()
    try:
        server.connect(serial)
        deadline = time.monotonic() + 15
        while dict(server.list()).get(serial) != "unauthorized" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert dict(server.list()).get(serial) == "unauthorized"
        with pytest.raises(DeviceUnauthorized, match=f"'{serial}' is unauthorized") as e:
            select_device(serial)
        assert "Allow USB debugging" in e.value.hint
        online = [s for s, st in server.list() if st == "device"]
        if online:  # other tests' devices are connected: "all" must leave the unauthorized one out
            assert serial not in [d.serial for d in select_devices("all", server)]
        else:  # only this device: automatic selection says why it cannot be used
            with pytest.raises(DeviceUnauthorized):
                select_device(None, server)
    finally:
        adb_server.run("disconnect", serial, timeout=30)
        dev.close()


def test_a_missing_local_server_is_started_but_a_named_one_is_not(monkeypatch):
    import subprocess

    from edgeclas.device import AdbServerError, adb_binary

    exe = adb_binary()
    if not exe:
        pytest.skip("no adb binary (apt-get install adb)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("EDGECLAS_ADB_SERVER", raising=False)
    with pytest.raises(AdbServerError, match=f"127.0.0.1:{port}"):
        AdbServer.resolve(f"127.0.0.1:{port}").list()  # named explicitly: never replaced by a fresh server
    assert not AdbServer("127.0.0.1", port).reachable()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    server = AdbServer.resolve()
    try:
        assert isinstance(server.list(), list)  # answered: started on that port, like `adb devices` would
        assert server.reachable() and server.version() >= 39
    finally:
        subprocess.run([exe, "-P", str(port), "kill-server"], capture_output=True, timeout=30)
