"""``adb reverse`` and ``adb forward`` on the emulated device: TCP between the device's loopback and the host's.

The device has a network namespace of its own, so its ``127.0.0.1`` is the device, as on a phone, and
these are the ways across:

* ``reverse:forward:[norebind:]tcp:N;tcp:M`` (``adb reverse tcp:N tcp:M``): the device listens on its
  ``127.0.0.1:N`` (the socket is made by the device's init, inside its namespace); each connection a
  device program makes there opens a stream ``tcp:M`` to the host, where the adb server connects it to
  the host's port M. ``tcp:0`` picks a free port and answers it. ``reverse:list-forward``,
  ``reverse:killforward:tcp:N`` and ``reverse:killforward-all`` list and remove them. Reverses belong to
  the adb connection that made them and end with it, as adbd's do.
* ``tcp:M`` (``adb forward tcp:X tcp:M``, opened by the host's adb server for each connection to its
  port X): a connection to the device's ``127.0.0.1:M``.

Answers are adbd's: ``OKAY`` (then the port for ``tcp:0``), or ``FAIL`` + hex length + message, and
the list as one length-prefixed string of ``(reverse) LOCAL REMOTE`` lines.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .transport import Connection, Stream, StreamClosed

if TYPE_CHECKING:
    from .server import EmulatedDevice

__all__ = ["reverse_service", "tcp_service"]

log = logging.getLogger(__name__)


@dataclass
class _Reverse:
    local: str  # "tcp:N" as the device listens
    remote: str  # "tcp:M" as the host connects
    sock: socket.socket
    clients: set[socket.socket] = field(default_factory=set)


def _protocol_string(text: str) -> bytes:
    data = text.encode()
    return f"{len(data):04x}".encode() + data


def _fail(stream: Stream, message: str) -> None:
    stream.write(b"FAIL" + _protocol_string(message))


def _tcp_port(spec: str) -> int | None:
    kind, _, port = spec.partition(":")
    if kind != "tcp" or not port.isdigit() or not 0 <= int(port) < 65536:
        return None
    return int(port)


class _Reverses:
    """The reverses of one adb connection."""

    def __init__(self, device: EmulatedDevice, conn: Connection) -> None:
        self.device, self.conn = device, conn
        self.lock = threading.Lock()
        self.by_local: dict[str, _Reverse] = {}
        conn.on_end.append(self.remove_all)

    def add(self, stream: Stream, local: str, remote: str, norebind: bool) -> None:
        port, target = _tcp_port(local), _tcp_port(remote)
        if port is None or target is None:
            _fail(stream, f"unsupported forward '{local};{remote}': the emulated device forwards tcp:PORT only")
            return
        with self.lock:
            if local in self.by_local:
                if norebind:
                    _fail(stream, "cannot rebind existing socket")
                    return
                self._remove(local)
            try:
                sock = self.device.sandbox.listen(port)
            except OSError as e:
                _fail(stream, f"cannot bind listener: {e}")
                return
            bound = sock.getsockname()[1]
            local = f"tcp:{bound}"
            rev = _Reverse(local, remote, sock)
            self.by_local[local] = rev
        threading.Thread(target=self._accept, args=(rev,), daemon=True, name=f"reverse-{local}").start()
        stream.write(b"OKAY" + (_protocol_string(str(bound)) if port == 0 else b""))

    def _accept(self, rev: _Reverse) -> None:
        while True:
            try:
                client, _ = rev.sock.accept()
            except OSError:
                return  # removed
            with self.lock:
                rev.clients.add(client)
            threading.Thread(target=self._connect, args=(rev, client), daemon=True).start()

    def _connect(self, rev: _Reverse, client: socket.socket) -> None:
        stream = self.conn.open_stream(rev.remote)
        try:
            if stream is not None:
                _splice(client, stream)
        finally:
            with self.lock:
                rev.clients.discard(client)
            client.close()

    def remove(self, stream: Stream, local: str) -> None:
        with self.lock:
            if local not in self.by_local:
                _fail(stream, f"listener '{local}' not found")
                return
            self._remove(local)
        stream.write(b"OKAY")

    def _remove(self, local: str) -> None:
        rev = self.by_local.pop(local)
        for s in (rev.sock, *rev.clients):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        rev.sock.close()

    def remove_all(self) -> None:
        with self.lock:
            for local in list(self.by_local):
                self._remove(local)

    def listing(self) -> str:
        with self.lock:
            return "".join(f"(reverse) {r.local} {r.remote}\n" for r in self.by_local.values())


def _reverses(device: EmulatedDevice, conn: Connection) -> _Reverses:
    revs = conn.state.get("reverses")
    if revs is None:
        revs = conn.state["reverses"] = _Reverses(device, conn)
    return revs  # type: ignore[return-value]


def reverse_service(device: EmulatedDevice, stream: Stream, request: str) -> None:
    """``reverse:REQUEST`` (the part after ``reverse:``), answered the way adbd answers it."""
    revs = _reverses(device, stream.conn)
    if request == "list-forward":
        stream.write(_protocol_string(revs.listing()))
    elif request == "killforward-all":
        revs.remove_all()
        stream.write(b"OKAY")
    elif request.startswith("killforward:"):
        revs.remove(stream, request[len("killforward:"):])
    elif request.startswith("forward:"):
        spec = request[len("forward:"):]
        norebind = spec.startswith("norebind:")
        if norebind:
            spec = spec[len("norebind:"):]
        local, sep, remote = spec.partition(";")
        if not sep:
            _fail(stream, f"bad forward: {spec}")
            return
        revs.add(stream, local, remote, norebind)
    else:
        _fail(stream, "not a reverse forwarding command")


def tcp_service(device: EmulatedDevice, stream: Stream, port: int) -> None:
    """``tcp:PORT``: one connection to the device's 127.0.0.1:PORT (the host's ``adb forward``)."""
    try:
        sock = device.sandbox.connect(port)
    except OSError as e:
        log.info("adb forward to device port %d: %s", port, e)
        return  # closing the stream tells the host the connection failed
    with sock:
        _splice(sock, stream)


def _splice(sock: socket.socket, stream: Stream) -> None:
    """Move bytes both ways until either side is done."""

    def to_host() -> None:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                stream.write(data)
        except (OSError, StreamClosed):
            pass
        finally:
            stream.close()

    t = threading.Thread(target=to_host, daemon=True)
    t.start()
    try:
        while True:
            data = stream.read_chunk()
            if data is None:
                break
            sock.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    t.join()
