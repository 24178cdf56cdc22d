"""ADB services of the emulated device: ``shell:`` (v1), ``shell,v2`` (framed, with exit code), ``exec:`` and ``sync:``.

Service names as a host sends them: ``shell:CMD``, ``shell,v2,TERM=xterm,raw:CMD`` (the adb CLI),
``shell,v2:CMD`` (adbutils), ``exec:CMD``, ``sync:``. An empty command with ``pty`` starts an
interactive session (line editing: backspace, Ctrl-C cancels the running command, Ctrl-D on an
empty line logs out).

Shell protocol v2 packets are ``id:u8 length:u32le payload`` with ids stdin 0, stdout 1, stderr 2,
exit 3, close-stdin 4, window-size 5; the exit packet comes after all output.

Sync requests are ``id:4s length:u32le`` + payload: STAT/LIST/SEND/RECV/QUIT, and STA2/LST2/LIS2
(features ``stat_v2``, ``ls_v2``: 64-bit sizes, stat vs lstat, errno); file data moves in DATA chunks
of at most 64 KiB; errors are ``FAIL`` + text,
worded like adbd (``write failed: No space left on device``).
"""

from __future__ import annotations

import errno
import os
import queue
import signal
import stat as statmod
import struct
import threading
import uuid
from typing import TYPE_CHECKING, Callable

from .fs import FsError
from .shell import Cancel, Shell, ShellIO, Sink, Source, default_env
from .transport import Stream, StreamClosed

if TYPE_CHECKING:
    from .server import EmulatedDevice

__all__ = ["open_service", "SYNC_DATA_MAX"]

SYNC_DATA_MAX = 64 * 1024
ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW = range(6)


def open_service(device: EmulatedDevice, name: str) -> Callable[[Stream], None] | None:
    """The handler for a service name, or None (the host then sees the OPEN refused)."""
    if name.startswith("shell"):
        head, sep, command = name.partition(":")
        if not sep:
            return None
        args = head.split(",")[1:]
        v2 = "v2" in args
        term = next((a[5:] for a in args if a.startswith("TERM=")), None)
        pty = "pty" in args or (not command and "raw" not in args)
        if not command and pty:
            return lambda s: _interactive(device, s, v2, term)
        return lambda s: _shell(device, s, command, v2, term)
    if name.startswith("exec:"):
        return lambda s: _exec(device, s, name[5:])
    if name == "sync:":
        return lambda s: _sync(device, s)
    if name in _MESSAGES:
        return lambda s: s.write(_MESSAGES[name])
    if name.startswith("reboot:"):  # reboot:, reboot:bootloader … all just restart the emulated device
        return lambda s: device.reboot()
    return None


# What a user build of Android answers to the services that need privileges: a message, then close.
_MESSAGES = {
    "root:": b"adbd cannot run as root in production builds\n",
    "unroot:": b"adbd not running as root\n",
    "remount:": b"Not running as root. Try \"adb root\" first.\n",
}


def _new_shell(device: EmulatedDevice, stream: Stream, term: str | None) -> Shell:
    cancel = Cancel()
    stream.on_close(cancel.set)  # the host went away: stop builtins, kill the program's process group
    return Shell(device.fs, device.profile, device.procs, env=default_env(term), cwd="/", cancel=cancel)


class _V2Writer:
    """Frames output as shell-v2 packets; one lock so stdout and stderr pumps never interleave a packet."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def packet(self, kind: int, data: bytes) -> None:
        step = max(1, self.stream.conn.max_payload - 5)
        with self.lock:
            for off in range(0, max(len(data), 1), step):
                chunk = data[off : off + step]
                self.stream.write(bytes([kind]) + struct.pack("<I", len(chunk)) + chunk)

    def sink(self, kind: int) -> Sink:
        return Sink(lambda d: self.packet(kind, d))


class _V2Stdin:
    """Reads the host's v2 packets on a thread: stdin data into a queue, close-stdin as EOF."""

    def __init__(self, stream: Stream) -> None:
        self.q: queue.Queue[bytes] = queue.Queue()
        self.eof = False
        threading.Thread(target=self._run, args=(stream,), daemon=True).start()

    def _run(self, stream: Stream) -> None:
        try:
            while True:
                head = stream.read_exact(5)
                kind, length = head[0], struct.unpack("<I", head[1:])[0]
                data = stream.read_exact(length) if length else b""
                if kind == ID_STDIN and data:
                    self.q.put(data)
                elif kind == ID_CLOSE_STDIN:
                    break
        except StreamClosed:
            pass
        self.q.put(b"")

    def read(self) -> bytes:
        if self.eof:
            return b""
        data = self.q.get()
        if not data:
            self.eof = True
        return data


def _shell(device: EmulatedDevice, stream: Stream, command: str, v2: bool, term: str | None) -> None:
    sh = _new_shell(device, stream, term)
    if v2:
        w = _V2Writer(stream)
        stdin = _V2Stdin(stream)
        io = ShellIO(Source(reader=stdin.read), w.sink(ID_STDOUT), w.sink(ID_STDERR))
        status = sh.run(command, io)
        _wait_for_writers(sh)
        w.packet(ID_EXIT, bytes([status & 0xFF]))
    else:
        # v1: stdout and stderr share the stream and the exit status is lost, as on a real device.
        out = Sink(stream.write)
        reader = stream.read_chunk
        sh.run(command, ShellIO(Source(reader=lambda: reader() or b""), out, out))
        _wait_for_writers(sh)


def _exec(device: EmulatedDevice, stream: Stream, command: str) -> None:
    sh = _new_shell(device, stream, None)
    sh.run(command, ShellIO(Source(reader=lambda: stream.read_chunk() or b""), Sink(stream.write), Sink(lambda d: None)))
    _wait_for_writers(sh)


def _wait_for_writers(sh: Shell) -> None:
    """Like adb, whose stream stays open while a background process holds the output pipe: wait for the
    jobs still writing to the session; the others are ended with it (the stream's close cancels them)."""
    sh.wait_jobs([j.id for j in sh.jobs.values() if j.holds_output])


def _interactive(device: EmulatedDevice, stream: Stream, v2: bool, term: str | None) -> None:
    sh = _new_shell(device, stream, term)
    w = _V2Writer(stream) if v2 else None

    def out(data: bytes) -> None:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # the pty's ONLCR
        if w is not None:
            w.packet(ID_STDOUT, data)
        else:
            stream.write(data)

    lines: queue.Queue[str | None] = queue.Queue()
    state = {"running": None}

    def reader() -> None:
        buf = bytearray()
        stdin = _V2Stdin(stream) if v2 else None
        escape = 0  # inside an ESC [ … sequence (arrow keys): there is no history or cursor movement
        while True:
            chunk = stdin.read() if stdin is not None else (stream.read_chunk() or b"")
            if not chunk:
                lines.put(None)
                return
            for b in chunk:
                if escape:
                    escape = 2 if (escape == 1 and b == ord("[")) else (0 if 0x40 <= b <= 0x7E else escape)
                    continue
                if b == 27:
                    escape = 1
                elif b == 3:  # Ctrl-C
                    running = state["running"]
                    if running is not None:
                        running.set(signal.SIGINT)
                    else:
                        out(b"^C\n")
                        buf.clear()
                        lines.put("")
                elif b == 4 and not buf:  # Ctrl-D
                    lines.put(None)
                    return
                elif b in (8, 127):
                    if buf:
                        buf.pop()
                        out(b"\b \b")
                elif b in (10, 13):
                    out(b"\n")
                    lines.put(buf.decode("utf-8", "replace"))
                    buf.clear()
                else:
                    buf.append(b)
                    out(bytes([b]))

    threading.Thread(target=reader, daemon=True).start()
    prompt_name = device.profile.props.get("ro.product.device", "emulator")
    status = 0
    while True:
        out(f"{prompt_name}:{sh.cwd} $ ".encode())
        line = lines.get()
        if line is None:
            break
        if not line.strip():
            continue
        cmd_cancel = Cancel(parent=sh.cancel)
        state["running"] = cmd_cancel
        saved, sh.cancel = sh.cancel, cmd_cancel
        sink = Sink(out)
        try:
            status = sh.run(line, ShellIO(Source(), sink, sink))
        finally:
            sh.cancel = saved
            state["running"] = None
        if sh.cancel.is_set() or sh.exited:
            break
    if w is not None:
        w.packet(ID_EXIT, bytes([status & 0xFF]))


# ------------------------------------------------------------------------------------------------ sync


def _sync_fail(stream: Stream, message: str) -> None:
    data = message.encode("utf-8", "replace")
    stream.write(b"FAIL" + struct.pack("<I", len(data)) + data)


def _sync(device: EmulatedDevice, stream: Stream) -> None:
    fs = device.fs
    while True:
        try:
            head = stream.read_exact(8)
        except StreamClosed:
            return
        cmd, length = head[:4], struct.unpack("<I", head[4:])[0]
        if length > 1024 and cmd != b"DATA":
            _sync_fail(stream, f"path too long ({length} bytes)")
            return
        arg = stream.read_exact(length).decode("utf-8", "surrogateescape") if length else ""
        if cmd == b"QUIT":
            return
        if cmd == b"STAT":
            stream.write(b"STAT" + _stat_v1(fs, arg))
        elif cmd in (b"STA2", b"LST2"):
            stream.write(_stat_v2(fs, arg, cmd, follow=cmd == b"STA2"))
        elif cmd == b"LIST":
            _list(fs, stream, arg)
        elif cmd == b"LIS2":
            _list(fs, stream, arg, v2=True)
        elif cmd == b"RECV":
            _recv(fs, stream, arg)
        elif cmd == b"SEND":
            _send(device, stream, arg)
        else:
            _sync_fail(stream, f"unknown sync command {cmd!r}")
            return


def _stat_v1(fs, path: str) -> bytes:
    try:
        st = os.lstat(fs.resolve(path, follow=False).host)
    except (FsError, OSError):
        return struct.pack("<III", 0, 0, 0)
    return struct.pack("<III", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF)


# sync_stat_v2 / sync_dent_v2 (without the id and the dent's trailing namelen): error, dev, ino, mode,
# nlink, uid, gid, size, atime, mtime, ctime.
_STAT_V2 = struct.Struct("<IQQIIIIQqqq")


def _v2_fields(fs, host, st: os.stat_result | None, err: int = 0) -> bytes:
    if st is None:
        return _STAT_V2.pack(err, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    owner = 2000 if str(host).startswith(tuple(str(fs.root / t.lstrip("/")) for t in ("/data", "/sdcard"))) else 0
    return _STAT_V2.pack(0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, owner, owner, st.st_size,
                         int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


def _stat_v2(fs, path: str, cmd: bytes, follow: bool) -> bytes:
    try:
        host = fs.resolve(path, follow=follow).host
        st = os.stat(host) if follow else os.lstat(host)
    except (FsError, OSError) as e:
        return cmd + _v2_fields(fs, None, None, e.errno or errno.ENOENT)
    return cmd + _v2_fields(fs, host, st)


def _list(fs, stream: Stream, path: str, v2: bool = False) -> None:
    out = bytearray()
    try:
        host = fs.resolve(path).host
        names = [".", ".."] + sorted(os.listdir(host)) if host.is_dir() else []
    except (FsError, OSError):
        names = []
    for name in names:
        try:
            st = os.lstat(host / name)
        except OSError:
            continue
        raw = name.encode("utf-8", "surrogateescape")
        if v2:
            out += b"DNT2" + _v2_fields(fs, host / name, st) + struct.pack("<I", len(raw)) + raw
        else:
            out += b"DENT" + struct.pack("<IIII", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                                         int(st.st_mtime) & 0xFFFFFFFF, len(raw)) + raw
        if len(out) > 60000:
            stream.write(bytes(out))
            out.clear()
    # DONE is padded to the size of a whole entry header, as adbd sends it.
    out += b"DONE" + b"\0" * (_STAT_V2.size + 4 if v2 else 16)
    stream.write(bytes(out))


def _recv(fs, stream: Stream, path: str) -> None:
    try:
        host = fs.resolve(path).host
        f = open(host, "rb")  # noqa: SIM115
    except (FsError, OSError) as e:
        _sync_fail(stream, f"open failed: {os.strerror(e.errno or errno.ENOENT)}")
        return
    batch = bytearray()
    limit = max(SYNC_DATA_MAX + 8, stream.conn.max_payload)
    with f:
        while True:
            try:
                chunk = f.read(SYNC_DATA_MAX)
            except OSError as e:
                _sync_fail(stream, f"read failed: {os.strerror(e.errno or errno.EIO)}")
                return
            if not chunk:
                break
            if len(batch) + len(chunk) + 8 > limit:
                stream.write(bytes(batch))
                batch.clear()
            batch += b"DATA" + struct.pack("<I", len(chunk)) + chunk
    batch += b"DONE" + struct.pack("<I", 0)
    stream.write(bytes(batch))


def _drain_until_done(stream: Stream) -> None:
    while True:
        head = stream.read_exact(8)
        length = struct.unpack("<I", head[4:])[0]
        if head[:4] == b"DONE":
            return
        if head[:4] != b"DATA":
            raise StreamClosed()
        stream.read_exact(length)


def _send(device: EmulatedDevice, stream: Stream, spec: str) -> None:
    fs = device.fs
    path, comma, mode_text = spec.rpartition(",")
    if not comma:
        path, mode_text = spec, "33188"
    try:
        mode = int(mode_text)
    except ValueError:
        _drain_until_done(stream)
        _sync_fail(stream, f"bad file mode in '{spec}'")
        return
    error = None
    tmp = None
    try:
        if statmod.S_ISLNK(mode):
            raise _SendError("symlinks are not supported by the emulated device")
        if path.endswith("/"):
            # adbd opens the path as given: pushing a file to "dir/" fails unless the client appended a name.
            raise _SendError(f"couldn't create file: {os.strerror(errno.EISDIR)}")
        res = fs.resolve(path, write=True)
        parent = res.host.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)  # adbd creates missing parent folders
        except (FileExistsError, NotADirectoryError):
            raise _SendError(f"secure_mkdirs failed: {os.strerror(errno.ENOTDIR)}") from None
        if res.host.is_dir():
            raise _SendError(f"couldn't create file: {os.strerror(errno.EISDIR)}")
        free = fs.free_bytes() + (res.host.stat().st_size if res.host.is_file() else 0)
        tmp = parent / f".{res.host.name}.{uuid.uuid4().hex[:8]}.edgeclas-push"
        written = 0
        with open(tmp, "wb") as f:
            while True:
                head = stream.read_exact(8)
                kind, length = head[:4], struct.unpack("<I", head[4:])[0]
                if kind == b"DONE":
                    mtime = length
                    break
                if kind != b"DATA" or length > SYNC_DATA_MAX:
                    raise _SendError(f"invalid data message {kind!r} of {length} bytes", drained=True)
                data = stream.read_exact(length)
                written += len(data)
                if written > free:
                    raise _SendError(f"write failed: {os.strerror(errno.ENOSPC)}")
                f.write(data)
        os.chmod(tmp, mode & 0o777)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, res.host)
        tmp = None
        stream.write(b"OKAY" + b"\0\0\0\0")
        return
    except FsError as e:
        error = _SendError(f"couldn't create file: {os.strerror(e.errno or errno.EACCES)}")
    except OSError as e:
        error = _SendError(f"write failed: {os.strerror(e.errno or errno.EIO)}")
    except _SendError as e:
        error = e
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    # The client keeps sending the file after a failure; read it to DONE before answering, as adbd does.
    if not error.drained:
        _drain_until_done(stream)
    _sync_fail(stream, error.message)


class _SendError(Exception):
    def __init__(self, message: str, drained: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.drained = drained

