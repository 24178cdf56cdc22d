"""ADB services of the emulated device: ``shell:`` (v1), ``shell,v2`` (framed, with exit code), ``exec:`` and ``sync:``.

Service names as a host sends them: ``shell:CMD``, ``shell,v2,TERM=xterm,raw:CMD`` (the adb CLI),
``shell,v2:CMD`` (adbutils), ``exec:CMD``, ``sync:``. Shell and exec run the device's real shell,
``/system/bin/sh -c CMD`` (mksh, under qemu, started by the device's init in its sandbox: see
:mod:`.sandbox`); an empty command with ``pty`` (``adb shell`` from a terminal) is an interactive
mksh on a terminal of the device, where Ctrl-C, job control and line editing are the kernel's and
mksh's own. adbd does nothing more than move bytes: stdin from the host into the program, stdout and
stderr back (shell v2 keeps them apart; v1, ``exec:`` and terminals merge them), then the status.

Shell protocol v2 packets are ``id:u8 length:u32le payload`` with ids stdin 0, stdout 1, stderr 2,
exit 3, close-stdin 4, window-size 5; the exit packet comes after all output, i.e. once the shell
has exited *and* every process holding its output has closed it (a background job that writes to
the session keeps it open, as on a phone). Then, or when the host closes the stream, whatever is
left of the session's process group is killed.

``reverse:…`` (``adb reverse``) and ``tcp:PORT`` (``adb forward``) are in :mod:`.forward`.

Sync requests are ``id:4s length:u32le`` + payload: STAT/LIST/SEND/RECV/QUIT, STA2/LST2/LIS2
(features ``stat_v2``, ``ls_v2``: 64-bit sizes, stat vs lstat, errno), and SND2/RCV2 (``sendrecv_v2``,
newer adb clients: the path, then a second header with the mode and flags; no compression is offered,
``adb push --dry-run`` is honoured); file data moves in DATA chunks
of at most 64 KiB; errors are ``FAIL`` + text,
worded like adbd (``write failed: No space left on device``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat as statmod
import struct
import termios
import threading
import uuid
from typing import TYPE_CHECKING, Callable

from .forward import reverse_service, tcp_service
from .fs import FsError, give_to_shell
from .transport import Stream, StreamClosed

if TYPE_CHECKING:
    from .server import EmulatedDevice

__all__ = ["open_service", "SYNC_DATA_MAX", "SH"]

SH = "/system/bin/sh"
SYNC_DATA_MAX = 64 * 1024
SYNC_FLAG_DRY_RUN = 0x80000000  # sendrecv_v2 flags: brotli 1, lz4 2, zstd 4 are not served
ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW = range(6)


def open_service(device: EmulatedDevice, name: str) -> Callable[[Stream], None] | None:
    """The handler for a service name, or None (the host then sees the OPEN refused)."""
    if name.startswith("shell"):
        head, sep, command = name.partition(":")
        if not sep:
            return None
        args = head.split(",")[1:]
        v2 = "v2" in args
        if v2 and "shell_v2" not in device.profile.adb_features:
            return None  # an adbd older than Android 7 does not know "shell,v2"
        term = next((a[5:] for a in args if a.startswith("TERM=")), None)
        pty = "pty" in args or (not command and "raw" not in args)
        return lambda s: _shell(device, s, command, v2=v2, pty=pty, term=term)
    if name.startswith("exec:"):
        return lambda s: _shell(device, s, name[5:], v2=False, pty=False, term=None)  # as shell v1, raw
    if name == "sync:":
        return lambda s: _sync(device, s)
    if name.startswith("reverse:"):
        return lambda s: reverse_service(device, s, name[len("reverse:"):])
    if name.startswith("tcp:") and name[4:].isdigit() and int(name[4:]) < 65536:
        return lambda s: tcp_service(device, s, int(name[4:]))
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


def _shell(device: EmulatedDevice, stream: Stream, command: str, *, v2: bool, pty: bool, term: str | None) -> None:
    """Run ``sh -c COMMAND`` (or an interactive sh) and move its bytes over the stream until it is done."""
    argv = [SH, "-c", command] if command else [SH]
    env = device.shell_env(term=term if pty else None, interactive=not command and pty)
    session = _Session()
    try:
        if pty:
            master, slave = device.sandbox.openpty()
            session.own(master)
            _set_window(master, 24, 80)
            try:
                prog = device.sandbox.spawn(argv, env, (slave,), tty=True, fsize=device.fs.free_bytes())
            finally:
                os.close(slave)
            outputs = [(master, ID_STDOUT)]
            session.stdin = master
        else:
            in_r, in_w = os.pipe()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe() if v2 else (None, out_w)  # without the shell protocol: one stream
            for fd in (in_w, out_r, err_r):
                session.own(fd)
            try:
                prog = device.sandbox.spawn(argv, env, (in_r, out_w, err_w), fsize=device.fs.free_bytes())
            finally:
                for fd in {in_r, out_w, err_w}:
                    os.close(fd)
            outputs = [(out_r, ID_STDOUT)] + ([(err_r, ID_STDERR)] if err_r is not None else [])
            session.stdin = in_w
    except BaseException:
        session.close()
        raise
    # The host went away (adb client exited, kill-server, a dropped connection): the session ends.
    stream.on_close(lambda: prog.signal(signal.SIGKILL))
    writer = _V2Writer(stream) if v2 else None
    send = writer.packet if writer else (lambda kind, data: stream.write(data))
    pumps = [threading.Thread(target=_pump_out, args=(fd, kind, send, prog), daemon=True) for fd, kind in outputs]
    for t in pumps:
        t.start()
    threading.Thread(target=_pump_in, args=(stream, session, v2, pty), daemon=True).start()
    for t in pumps:
        t.join()
    status = prog.wait()
    prog.signal(signal.SIGKILL)  # jobs left in the session's process group end with it
    session.close()
    if writer is not None and not stream.closed.is_set():
        try:
            writer.packet(ID_EXIT, bytes([(status if status is not None else 255) & 0xFF]))
        except StreamClosed:
            pass


class _Session:
    """The session's file descriptors; the host-input thread may outlive the session, so writes to
    stdin and the close of it are serialised (a closed descriptor number must never be written to)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fds: list[int] = []
        self.stdin: int | None = None
        self.closed = False

    def own(self, fd: int | None) -> None:
        if fd is not None:
            self.fds.append(fd)

    def write_stdin(self, data: bytes) -> None:
        with self.lock:
            if self.stdin is None or self.closed:
                return
            view = memoryview(data)
            while view:
                view = view[os.write(self.stdin, view):]

    def close_stdin(self) -> None:
        with self.lock:
            if self.stdin is not None and not self.closed:
                self.fds.remove(self.stdin)
                os.close(self.stdin)
            self.stdin = None

    def window(self, rows: int, cols: int) -> None:
        with self.lock:
            if self.stdin is not None and not self.closed:
                _set_window(self.stdin, rows, cols)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for fd in self.fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.fds.clear()


def _set_window(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _pump_out(fd: int, kind: int, send: Callable[[int, bytes], None], prog) -> None:
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: a terminal whose last user has gone
                break
            if not chunk:
                break
            send(kind, chunk)
    except StreamClosed:
        prog.signal(signal.SIGKILL)  # nobody to read the output any more: as a closed pipe would, end it


def _pump_in(stream: Stream, session: _Session, v2: bool, pty: bool) -> None:
    """The host's input: raw bytes (v1, exec) or v2 packets (stdin, close-stdin, window size)."""
    try:
        while True:
            if not v2:
                data = stream.read_chunk()
                if data is None:
                    return
                session.write_stdin(data)
                continue
            head = stream.read_exact(5)
            kind, length = head[0], struct.unpack("<I", head[1:])[0]
            data = stream.read_exact(length) if length else b""
            if kind == ID_STDIN and data:
                session.write_stdin(data)
            elif kind == ID_CLOSE_STDIN and not pty:
                session.close_stdin()
            elif kind == ID_WINDOW and pty:
                try:  # "ROWSxCOLS,XPIXxYPIX"
                    rows, cols = (int(v) for v in data.decode().split(",")[0].split("x"))
                    session.window(rows, cols)
                except (ValueError, OSError):
                    pass
    except (StreamClosed, OSError):
        return


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
            path, comma, mode_text = arg.rpartition(",")
            if not comma:
                path, mode_text = arg, "33188"
            if not mode_text.isdigit():
                _drain_until_done(stream)
                _sync_fail(stream, f"bad file mode in '{arg}'")
                continue
            _send(device, stream, path, int(mode_text))
        elif cmd in (b"SND2", b"RCV2"):
            # sendrecv_v2: the path came first; a second header with the same id carries the rest.
            setup = stream.read_exact(12 if cmd == b"SND2" else 8)
            if setup[:4] != cmd:
                _sync_fail(stream, f"expected {cmd.decode()} setup, got {setup[:4]!r}")
                return
            mode, flags = struct.unpack("<II", setup[4:]) if cmd == b"SND2" else (0, struct.unpack("<I", setup[4:])[0])
            if flags & ~SYNC_FLAG_DRY_RUN:  # brotli, lz4, zstd: not advertised, so a host should not ask
                if cmd == b"SND2":
                    _drain_until_done(stream)
                _sync_fail(stream, f"unsupported compression flags {flags:#x}")
                continue
            if cmd == b"SND2":
                _send(device, stream, arg, mode, dry_run=bool(flags & SYNC_FLAG_DRY_RUN))
            else:
                _recv(fs, stream, arg)
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


def _send(device: EmulatedDevice, stream: Stream, path: str, mode: int, dry_run: bool = False) -> None:
    """Receive a file (SEND/SND2); ``dry_run`` (``adb push --dry-run``) reads it all and writes nothing."""
    fs = device.fs
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
            _mkdirs_for_shell(parent)  # adbd creates missing parent folders
        except (FileExistsError, NotADirectoryError):
            raise _SendError(f"secure_mkdirs failed: {os.strerror(errno.ENOTDIR)}") from None
        if res.host.is_dir():
            raise _SendError(f"couldn't create file: {os.strerror(errno.EISDIR)}")
        free = fs.free_bytes() + (res.host.stat().st_size if res.host.is_file() else 0)
        tmp = os.devnull if dry_run else parent / f".{res.host.name}.{uuid.uuid4().hex[:8]}.edgeclas-push"
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
        if dry_run:
            tmp = None
        else:
            os.chmod(tmp, mode & 0o777)
            give_to_shell(tmp)
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


def _mkdirs_for_shell(folder) -> None:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        give_to_shell(d)


class _SendError(Exception):
    def __init__(self, message: str, drained: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.drained = drained

