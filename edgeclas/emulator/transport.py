"""The device side of the ADB transport: messages, the CNXN handshake and streams over one TCP connection.

A message is a 24-byte little-endian header (command, arg0, arg1, payload length, payload checksum,
command ^ 0xffffffff) followed by the payload. The host opens a stream with ``OPEN(host_id, 0,
"service\\0")``; we answer ``OKAY(our_id, host_id)`` or ``CLSE(0, host_id)``. Each ``WRTE`` must be
acknowledged with ``OKAY`` before the sender may send the next one on that stream, both ways.

One reader thread per connection dispatches messages; each opened service runs on its own thread
and talks to a :class:`Stream`, which gives it blocking ``read``/``write`` with that flow control.
The device opens streams to the host too (:meth:`Connection.open_stream`, for ``adb reverse``):
``OPEN(our_id, 0, "tcp:PORT\\0")``, answered ``OKAY(host_id, our_id)`` or ``CLSE``.
"""

from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
from typing import Callable

__all__ = [
    "A_CNXN",
    "A_OPEN",
    "A_OKAY",
    "A_WRTE",
    "A_CLSE",
    "A_AUTH",
    "A_STLS",
    "ADB_VERSION",
    "MAX_PAYLOAD",
    "Message",
    "pack_message",
    "read_message",
    "Stream",
    "StreamClosed",
    "Connection",
]

log = logging.getLogger(__name__)


def _cmd(name: bytes) -> int:
    return struct.unpack("<I", name)[0]


A_CNXN = _cmd(b"CNXN")
A_OPEN = _cmd(b"OPEN")
A_OKAY = _cmd(b"OKAY")
A_WRTE = _cmd(b"WRTE")
A_CLSE = _cmd(b"CLSE")
A_AUTH = _cmd(b"AUTH")
A_STLS = _cmd(b"STLS")

# 0x01000001: the version from which neither side verifies payload checksums (hosts send 0).
ADB_VERSION = 0x01000001
MAX_PAYLOAD = 1024 * 1024

_HEADER = struct.Struct("<6I")
_NAMES = {v: k for k, v in {"CNXN": A_CNXN, "OPEN": A_OPEN, "OKAY": A_OKAY, "WRTE": A_WRTE,
                            "CLSE": A_CLSE, "AUTH": A_AUTH, "STLS": A_STLS}.items()}


class Message:
    __slots__ = ("command", "arg0", "arg1", "data")

    def __init__(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.command, self.arg0, self.arg1, self.data = command, arg0, arg1, data

    def __repr__(self) -> str:
        name = _NAMES.get(self.command, hex(self.command))
        return f"Message({name}, {self.arg0}, {self.arg1}, {self.data[:40]!r}{'…' if len(self.data) > 40 else ''})"


def pack_message(command: int, arg0: int, arg1: int, data: bytes = b"", *, checksum: bool = False) -> bytes:
    # Hosts of version >= 0x01000001 ignore the checksum (and send 0); summing 1 MiB in Python costs
    # milliseconds per packet, so it is only computed for an older host that checks it.
    crc = sum(data) & 0xFFFFFFFF if checksum else 0
    return _HEADER.pack(command, arg0, arg1, len(data), crc, command ^ 0xFFFFFFFF) + data


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_message(sock: socket.socket) -> Message | None:
    """Read one message; ``None`` on a clean EOF. A bad magic raises ``ValueError``."""
    head = _recv_exact(sock, _HEADER.size)
    if head is None:
        return None
    command, arg0, arg1, length, _checksum, magic = _HEADER.unpack(head)
    if magic != command ^ 0xFFFFFFFF:
        raise ValueError(f"bad ADB header magic for command {command:#x}")
    if length > MAX_PAYLOAD:
        raise ValueError(f"ADB payload of {length} bytes exceeds {MAX_PAYLOAD}")
    data = _recv_exact(sock, length) if length else b""
    if data is None:
        return None
    return Message(command, arg0, arg1, data)


class StreamClosed(Exception):
    """The host closed the stream or the connection went away."""


class Stream:
    """One ADB stream as the service sees it: blocking reads of host data, flow-controlled writes."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int | None) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id  # None until the host accepts a stream the device opened
        self._opened = threading.Event()
        self._incoming: queue.Queue[bytes | None] = queue.Queue()
        self._buf = bytearray()
        self._can_send = threading.Condition()
        self._awaiting_okay = False
        self.closed = threading.Event()  # set when either side closed: services poll it to stop work
        self._on_close: list[Callable[[], None]] = []
        self._sent_close = False

    # -- called by the connection's reader thread
    def _accepted(self, remote_id: int) -> None:
        self.remote_id = remote_id
        self._opened.set()

    def _feed(self, data: bytes) -> None:
        self._incoming.put(data)

    def _okay(self) -> None:
        with self._can_send:
            self._awaiting_okay = False
            self._can_send.notify_all()

    def _remote_closed(self) -> None:
        self._sent_close = True  # the host already forgot this stream: no CLSE back
        self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self._opened.set()  # an open the host refused (CLSE) ends here too
        self._incoming.put(None)
        with self._can_send:
            self._can_send.notify_all()
        for cb in self._on_close:
            try:
                cb()
            except Exception:  # a cleanup callback must not take the reader thread down
                log.exception("stream close callback failed")

    # -- used by services
    def on_close(self, cb: Callable[[], None]) -> None:
        """Run ``cb`` once when the stream closes (host CLSE, disconnect or our own close)."""
        self._on_close.append(cb)
        if self.closed.is_set():
            cb()

    def read_chunk(self) -> bytes | None:
        """The next payload the host wrote, or ``None`` at close. Acknowledges it (lets the host send more)."""
        if self._buf:
            data, self._buf = bytes(self._buf), bytearray()
            return data
        data = self._incoming.get()
        if data is None:
            self._incoming.put(None)  # keep EOF visible to later reads
            return None
        self.conn.send(A_OKAY, self.local_id, self.remote_id)
        return data

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            data = self._incoming.get()
            if data is None:
                self._incoming.put(None)
                raise StreamClosed()
            self.conn.send(A_OKAY, self.local_id, self.remote_id)
            self._buf += data
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def write(self, data: bytes) -> None:
        """Send ``data`` in payloads of at most the host's max size, one unacknowledged packet at a time."""
        view = memoryview(data)
        step = self.conn.max_payload
        for off in range(0, len(view), step):
            with self._can_send:
                while self._awaiting_okay and not self.closed.is_set():
                    self._can_send.wait()
                if self.closed.is_set():
                    raise StreamClosed()
                self._awaiting_okay = True
            self.conn.send(A_WRTE, self.local_id, self.remote_id, bytes(view[off : off + step]))

    def close(self) -> None:
        # Forget the stream before the host can hear of the close: data it sends after our CLSE must find no
        # stream (and get CLSE again), not be queued into a stream that is going away.
        self.conn._forget(self.local_id)
        if not self._sent_close and self.remote_id is not None:
            self._sent_close = True
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
        self._mark_closed()


Service = Callable[[Stream], None]


class Connection:
    """One host connection: handshake, stream table, and the reader loop (``serve`` blocks until EOF)."""

    def __init__(self, sock: socket.socket, banner: bytes, open_service: Callable[[str], Service | None]) -> None:
        self.sock = sock
        self.banner = banner
        self.open_service = open_service
        self.max_payload = 256 * 1024  # until the host's CNXN tells us its size
        self.checksum = True  # until the host's CNXN says it is new enough not to check
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._streams_lock = threading.Lock()
        self._next_id = 1
        self._dead = False
        self.on_end: list[Callable[[], None]] = []  # run once when the connection is gone (reverse listeners)
        self.state: dict[str, object] = {}  # what services keep per connection (its adb reverses)

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        if self._dead:
            raise StreamClosed()
        packet = pack_message(command, arg0, arg1, data, checksum=self.checksum)
        with self._send_lock:
            try:
                self.sock.sendall(packet)
            except OSError as e:
                self._dead = True
                raise StreamClosed() from e

    def open_stream(self, service: str, timeout: float = 30.0) -> Stream | None:
        """Open a stream from the device to the host (``adb reverse``: ``tcp:PORT`` on the host side).
        The stream once the host accepted it (OKAY), or None when it refused (CLSE) or did not answer."""
        with self._streams_lock:
            local_id = self._next_id
            self._next_id += 1
            stream = Stream(self, local_id, None)
            self._streams[local_id] = stream
        try:
            self.send(A_OPEN, local_id, 0, service.encode() + b"\0")
        except StreamClosed:
            self._forget(local_id)
            return None
        if not stream._opened.wait(timeout) or stream.closed.is_set():
            self._forget(local_id)
            if stream.remote_id is not None and not stream.closed.is_set():
                stream.close()
            return None
        return stream

    def drop(self) -> None:
        """Cut the TCP connection (the reader loop then closes every stream), as a rebooting device does."""
        self._dead = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _forget(self, local_id: int) -> None:
        with self._streams_lock:
            self._streams.pop(local_id, None)

    def serve(self) -> None:
        try:
            while True:
                msg = read_message(self.sock)
                if msg is None:
                    break
                self._dispatch(msg)
        except (OSError, ValueError, StreamClosed) as e:
            log.debug("connection ends: %s", e)
        finally:
            self._dead = True
            with self._streams_lock:
                streams = list(self._streams.values())
                self._streams.clear()
            for s in streams:
                s._remote_closed()
            try:
                self.sock.close()
            except OSError:
                pass
            for cb in self.on_end:
                try:
                    cb()
                except Exception:  # a cleanup callback must not hide the others
                    log.exception("connection cleanup failed")

    def _dispatch(self, msg: Message) -> None:
        log.debug("<- %r", msg)
        if msg.command == A_CNXN:
            # arg1 is the host's max payload; we answer with ours and take the smaller of the two.
            self.max_payload = max(4096, min(msg.arg1 or MAX_PAYLOAD, MAX_PAYLOAD))
            self.checksum = msg.arg0 < ADB_VERSION
            self.send(A_CNXN, ADB_VERSION, MAX_PAYLOAD, self.banner)
        elif msg.command == A_OPEN:
            name = msg.data.rstrip(b"\0").decode("utf-8", "replace")
            service = self.open_service(name)
            if service is None:
                self.send(A_CLSE, 0, msg.arg0)
                return
            with self._streams_lock:
                local_id = self._next_id
                self._next_id += 1
                stream = Stream(self, local_id, msg.arg0)
                self._streams[local_id] = stream
            self.send(A_OKAY, local_id, msg.arg0)
            threading.Thread(target=self._run_service, args=(service, stream, name), daemon=True,
                             name=f"adb-stream-{local_id}").start()
        elif msg.command in (A_OKAY, A_WRTE, A_CLSE):
            with self._streams_lock:
                stream = self._streams.get(msg.arg1)
            if stream is None:
                if msg.command == A_WRTE:  # a stream we already closed: tell the host again
                    self.send(A_CLSE, msg.arg1, msg.arg0)
                return
            if msg.command == A_OKAY:
                if stream.remote_id is None:  # the host accepted a stream the device opened
                    stream._accepted(msg.arg0)
                else:
                    stream._okay()
            elif msg.command == A_WRTE:
                stream._feed(msg.data)
            else:
                self._forget(msg.arg1)
                stream._remote_closed()
        # AUTH/STLS: we never ask for them, so a host never sends them first; ignore anything else.

    def _run_service(self, service: Service, stream: Stream, name: str) -> None:
        try:
            service(stream)
        except StreamClosed:
            pass
        except Exception:
            log.exception("service %r failed", name)
        finally:
            try:
                stream.close()
            except StreamClosed:
                stream._mark_closed()
