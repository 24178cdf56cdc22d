"""The emulated device's commands: the toybox/mksh subset a deploy or benchmark driver and a user need.

Each builtin is ``fn(shell, argv, io) -> status`` and words its errors the way toybox does
(``cat: /x: No such file or directory``). Files are reached only through the sandbox
(:class:`.fs.DeviceFS`); writes are allowed under /data and /sdcard only and count against the quota.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import shutil
import signal
import stat as statmod
import time
from typing import TYPE_CHECKING, Callable

from .fs import FsError
from .shell import SH, Cancel, ShellExit, ShellIO, _LoopControl

if TYPE_CHECKING:
    from .shell import Shell

__all__ = ["BUILTINS"]

Builtin = Callable[["Shell", list[str], ShellIO], int]
BUILTINS: dict[str, Builtin] = {}


class _Usage(Exception):
    """A bad option: the builtin prints ``NAME: message`` and ends with 1, as toybox does."""


def builtin(*names: str):
    def deco(fn: Builtin) -> Builtin:
        def run(sh: Shell, argv: list[str], io: ShellIO) -> int:
            try:
                return fn(sh, argv, io)
            except _Usage as e:
                io.err(f"{argv[0]}: {e}\n")
                return 1

        run.__doc__ = fn.__doc__
        for n in names:
            BUILTINS[n] = run
        return fn

    return deco


def _flags(argv: list[str], allowed: str) -> tuple[set[str], list[str]]:
    """Split ``-rf``-style flags from operands, anywhere before ``--`` (as toybox does); a letter not in
    ``allowed`` is an error rather than silently ignored."""
    flags: set[str] = set()
    rest: list[str] = []
    it = iter(argv[1:])
    for a in it:
        if a == "--":
            rest.extend(it)
            break
        if a.startswith("-") and len(a) > 1:
            bad = [c for c in a[1:] if c not in allowed]
            if bad:
                raise _Usage(f"Unknown option '{bad[0]}'")
            flags.update(a[1:])
        else:
            rest.append(a)
    return flags, rest


def _err(io: ShellIO, cmd: str, path: str, e: OSError | int) -> int:
    code = e if isinstance(e, int) else (e.errno or errno.EIO)
    io.err(f"{cmd}: {path}: {os.strerror(code)}\n")
    return 1


def _usage(io: ShellIO, cmd: str, msg: str) -> int:
    io.err(f"{cmd}: {msg}\n")
    return 1


# -------------------------------------------------------------------- shell builtins (state, control)


@builtin("true", ":")
def _true(sh: Shell, argv: list[str], io: ShellIO) -> int:
    return 0


@builtin("false")
def _false(sh: Shell, argv: list[str], io: ShellIO) -> int:
    return 1


@builtin("exit")
def _exit(sh: Shell, argv: list[str], io: ShellIO) -> int:
    try:
        code = int(argv[1]) if len(argv) > 1 else sh.status
    except ValueError:
        io.err(f"{SH}: exit: {argv[1]}: bad number\n")
        code = 2
    raise ShellExit(code & 0xFF)


@builtin("break", "continue")
def _loopctl(sh: Shell, argv: list[str], io: ShellIO) -> int:
    raise _LoopControl(argv[0], int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 1)


@builtin("cd")
def _cd(sh: Shell, argv: list[str], io: ShellIO) -> int:
    target = argv[1] if len(argv) > 1 else sh.vars.get("HOME", "/")
    if target == "-":  # back to the previous directory, printing it
        target = sh.vars.get("OLDPWD", sh.cwd)
        io.out(target + "\n")
    try:
        res = sh.fs.resolve(target, sh.cwd)
    except FsError:
        io.err(f"{SH}: cd: {target}: No such file or directory\n")
        return 2
    if not res.host.is_dir():
        io.err(f"{SH}: cd: {target}: {'Not a directory' if res.host.exists() else 'No such file or directory'}\n")
        return 2
    sh.vars["OLDPWD"] = sh.cwd
    sh.cwd = res.device
    sh.vars["PWD"] = res.device
    return 0


@builtin("pwd")
def _pwd(sh: Shell, argv: list[str], io: ShellIO) -> int:
    io.out(sh.cwd + "\n")
    return 0


@builtin("export")
def _export(sh: Shell, argv: list[str], io: ShellIO) -> int:
    if len(argv) == 1 or argv[1:] == ["-p"]:
        for k in sorted(sh.exported):
            if k in sh.vars:
                io.out(f"export {k}={sh.vars[k]}\n")
        return 0
    for a in argv[1:]:
        name, eq, value = a.partition("=")
        if not name.isidentifier():
            io.err(f"{SH}: export: {a}: is not an identifier\n")
            return 1
        if eq:
            sh.vars[name] = value
        sh.exported.add(name)
    return 0


@builtin("unset")
def _unset(sh: Shell, argv: list[str], io: ShellIO) -> int:
    for name in argv[1:]:
        sh.vars.pop(name, None)
        sh.exported.discard(name)
    return 0


@builtin("sh", "mksh")
def _sh(sh: Shell, argv: list[str], io: ShellIO) -> int:
    if len(argv) >= 3 and argv[1] == "-c":
        sub = sh.child(args=[argv[3] if len(argv) > 3 else SH, *argv[4:]])
        return sub.run(argv[2], io)
    if len(argv) >= 2:
        try:
            res = sh.fs.resolve(argv[1], sh.cwd)
        except FsError as e:
            return _err(io, SH, argv[1], e)
        if not res.host.is_file():
            io.err(f"{SH}: {argv[1]}: No such file or directory\n")
            return 127
        sub = sh.child(args=argv[1:])
        return sub.run(res.host.read_text("utf-8", "replace"), io)
    # `sh` reading commands from stdin
    sub = sh.child()
    return sub.run(io.stdin.read_all().decode("utf-8", "replace"), io)


@builtin("timeout")
def _timeout(sh: Shell, argv: list[str], io: ShellIO) -> int:
    """toybox timeout: ``timeout [-s SIG] [-k SECS] SECS CMD…``; exit 124 when SECS pass (program killed)."""
    args = argv[1:]
    sig, kill_after = signal.SIGTERM, 2.0
    while args and args[0].startswith("-") and args[0] not in ("-", "--"):
        opt = args.pop(0)
        if opt == "-s" and args:
            name = args.pop(0).upper().removeprefix("SIG")
            if not (name.isdigit() or name in _SIGNALS):
                return _usage(io, "timeout", f"unknown signal '{name}'")
            sig = int(name) if name.isdigit() else _SIGNALS[name]
        elif opt == "-k" and args:
            try:
                kill_after = _duration(args.pop(0))
            except ValueError:
                return _usage(io, "timeout", "bad -k duration")
        elif opt == "--preserve-status" or opt == "-v":
            continue
        else:
            return _usage(io, "timeout", f"Unknown option '{opt}'")
    if args and args[0] == "--":
        args.pop(0)
    if len(args) < 2:
        return _usage(io, "timeout", "Need 2 arguments")
    try:
        secs = _duration(args[0])
    except ValueError:
        return _usage(io, "timeout", f"bad duration '{args[0]}'")
    cancel = Cancel(parent=sh.cancel, deadline=time.monotonic() + secs, signal=sig, kill_after=kill_after)
    saved = sh.cancel
    sh.cancel = cancel
    try:
        status = _run_argv(sh, args[1:], io)
    finally:
        sh.cancel = saved
    if cancel.timed_out() and not saved.is_set():
        return 124
    return status


def _duration(text: str) -> float:
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in mult:
        return float(text[:-1]) * mult[text[-1]]
    return float(text)


def _run_argv(sh: Shell, argv: list[str], io: ShellIO) -> int:
    from .programs import run_path

    if "/" not in argv[0] and argv[0] in BUILTINS:
        return BUILTINS[argv[0]](sh, argv, io)
    return run_path(sh, argv, io, sh.env())


@builtin("set")
def _set(sh: Shell, argv: list[str], io: ShellIO) -> int:
    """``set [-+eux] [-o pipefail] [-- ARGS…]``: errexit, xtrace, positional parameters (-u is accepted)."""
    args = argv[1:]
    if not args:
        for k in sorted(sh.vars):
            io.out(f"{k}={sh.vars[k]}\n")
        return 0
    while args:
        a = args.pop(0)
        if a == "--":
            sh.args = [sh.args[0], *args]
            return 0
        if a in ("-o", "+o") and args:
            opt = args.pop(0)
            if opt not in ("pipefail", "errexit", "xtrace", "nounset"):
                raise _Usage(f"-o {opt}: unknown option")
            letters = {"errexit": "e", "xtrace": "x"}.get(opt, "")
        elif a[:1] in "-+" and len(a) > 1 and set(a[1:]) <= set("eux"):
            letters = a[1:]
        else:
            sh.args = [sh.args[0], a, *args]
            return 0
        on = a[0] == "-"
        if "e" in letters:
            sh.errexit = on
        if "x" in letters:
            sh.xtrace = on
    return 0


@builtin("wait")
def _wait(sh: Shell, argv: list[str], io: ShellIO) -> int:
    ids = []
    for a in argv[1:]:
        if not a.isdigit():
            return _usage(io, "wait", f"{a}: not a job id")
        ids.append(int(a))
    return sh.wait_jobs(ids or None)


@builtin("exec")
def _exec(sh: Shell, argv: list[str], io: ShellIO) -> int:
    """``exec CMD…``: the shell ends with CMD's status (there is no process image to replace)."""
    if len(argv) == 1:
        return 0
    raise ShellExit(_run_argv(sh, argv[1:], io) & 0xFF)


@builtin("env")
def _env(sh: Shell, argv: list[str], io: ShellIO) -> int:
    args = argv[1:]
    extra = {}
    while args and "=" in args[0] and args[0].split("=", 1)[0].isidentifier():
        k, _, v = args.pop(0).partition("=")
        extra[k] = v
    if not args:
        for k, v in sorted({**sh.env(), **extra}.items()):
            io.out(f"{k}={v}\n")
        return 0
    sub = sh.child()
    sub.vars.update(extra)
    sub.exported.update(extra)
    return _run_argv(sub, args, io)


@builtin("sleep")
def _sleep(sh: Shell, argv: list[str], io: ShellIO) -> int:
    if len(argv) < 2:
        return _usage(io, "sleep", "Need 1 argument")
    try:
        secs = sum(_duration(a) for a in argv[1:])
    except ValueError:
        return _usage(io, "sleep", f"bad duration '{argv[1]}'")
    if sh.cancel.wait(secs):
        return 128 + sh.cancel.how_to_stop()[0]  # as if the signal had hit a sleep process
    return 0


# --------------------------------------------------------------------------------------- output/text


def _unescape(s: str) -> str:
    out, i = [], 0
    table = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "r": "\r", "v": "\v", "f": "\f", "e": "\x1b"}
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in table:
                out.append(table[n])
                i += 2
                continue
            if n == "0":
                j = i + 2
                while j < len(s) and j < i + 5 and s[j] in "01234567":
                    j += 1
                out.append(chr(int(s[i + 2 : j] or "0", 8)))
                i = j
                continue
            if n == "c":
                break
        out.append(c)
        i += 1
    return "".join(out)


@builtin("echo")
def _echo(sh: Shell, argv: list[str], io: ShellIO) -> int:
    args = argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for c in args.pop(0)[1:]:
            newline = newline and c != "n"
            escapes = (escapes or c == "e") and c != "E"
    text = " ".join(args)
    if escapes:
        text = _unescape(text)
    io.out(text + ("\n" if newline else ""))
    return 0


@builtin("printf")
def _printf(sh: Shell, argv: list[str], io: ShellIO) -> int:
    if len(argv) < 2:
        return _usage(io, "printf", "Needs 1 argument")
    fmt, args = _unescape(argv[1]), argv[2:]
    out = []
    while True:
        i, used = 0, 0
        while i < len(fmt):
            c = fmt[i]
            if c != "%":
                out.append(c)
                i += 1
                continue
            m = re.match(r"%([-+ #0]*\d*(?:\.\d+)?)([sdixXfgeuoc%])", fmt[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            spec, conv = m.groups()
            i += m.end()
            if conv == "%":
                out.append("%")
                continue
            arg = args[used] if used < len(args) else ""
            used += 1
            if conv in "dixXuoc":
                conv = "d" if conv in "iu" else conv
                try:
                    out.append(("%" + spec + conv) % (int(arg, 0) if arg else 0) if conv != "c" else arg[:1])
                except ValueError:
                    out.append("0")
            elif conv in "fge":
                out.append(("%" + spec + conv) % (float(arg) if arg else 0.0))
            else:
                out.append(("%" + spec + "s") % arg)
        args = args[used:]
        if not args or used == 0:
            break
    io.out("".join(out))
    return 0


def _read_inputs(sh: Shell, cmd: str, files: list[str], io: ShellIO):
    """Yield ``(name, bytes)`` for each operand ('-' or none: stdin); reports errors and counts them."""
    failures = 0
    for name in files or ["-"]:
        if name == "-":
            yield name, io.stdin.read_all()
            continue
        try:
            res = sh.fs.resolve(name, sh.cwd)
            if res.host.is_dir():
                raise FsError(errno.EISDIR, name)
            data = res.host.read_bytes()
        except FsError as e:
            _err(io, cmd, name, e.errno or errno.ENOENT)
            failures += 1
            continue
        except OSError as e:
            _err(io, cmd, name, e)
            failures += 1
            continue
        yield name, data
    if failures:
        raise _InputFailed()


class _InputFailed(Exception):
    pass


def _each_input(sh: Shell, cmd: str, files: list[str], io: ShellIO, fn: Callable[[str, bytes], None]) -> int:
    try:
        for name, data in _read_inputs(sh, cmd, files, io):
            fn(name, data)
    except _InputFailed:
        return 1
    return 0


@builtin("cat")
def _cat(sh: Shell, argv: list[str], io: ShellIO) -> int:
    _, files = _flags(argv, "uv")
    return _each_input(sh, "cat", files, io, lambda _n, d: io.stdout.write(d))


@builtin("sha256sum", "md5sum", "sha1sum")
def _hashsum(sh: Shell, argv: list[str], io: ShellIO) -> int:
    algo = argv[0][: -len("sum")]
    flags, files = _flags(argv, "b")
    return _each_input(sh, argv[0], files, io,
                       lambda n, d: io.out(f"{hashlib.new(algo, d).hexdigest()}  {n}\n"))


@builtin("head", "tail")
def _headtail(sh: Shell, argv: list[str], io: ShellIO) -> int:
    count, files, args = 10, [], argv[1:]
    while args:
        a = args.pop(0)
        if a == "-n" and args:
            count = int(args.pop(0))
        elif re.fullmatch(r"-n?\d+", a):
            count = int(a.lstrip("-n"))
        else:
            files.append(a)

    if argv[0] == "head" and files in ([], ["-"]):
        # Stream stdin and stop reading after COUNT lines: `prog | head` must end even if prog never does.
        buf, lines = b"", 0
        while lines < count:
            chunk = io.stdin.read()
            if not chunk:
                io.stdout.write(buf)
                break
            buf += chunk
            while lines < count and b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                io.stdout.write(line + b"\n")
                lines += 1
        return 0

    def show(_n: str, d: bytes) -> None:
        lines = d.splitlines(keepends=True)
        io.stdout.write(b"".join(lines[:count] if argv[0] == "head" else lines[-count:] if count else []))

    return _each_input(sh, argv[0], files, io, show)


@builtin("wc")
def _wc(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, files = _flags(argv, "lwc")
    flags = flags or {"l", "w", "c"}

    def show(n: str, d: bytes) -> None:
        cols = [str(v) for f, v in (("l", d.count(b"\n")), ("w", len(d.split())), ("c", len(d))) if f in flags]
        io.out(" ".join(cols) + (f" {n}" if n != "-" else "") + "\n")

    return _each_input(sh, "wc", files, io, show)


@builtin("grep")
def _grep(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, rest = _flags(argv, "qvciEFnw")
    if not rest:
        return _usage(io, "grep", "Need 1 argument")
    pattern, files = rest[0], rest[1:]
    expr = re.escape(pattern) if "F" in flags else pattern if "E" in flags else _bre_to_re(pattern)
    if "w" in flags:
        expr = rf"\b(?:{expr})\b"
    try:
        rx = re.compile(expr.encode(), re.IGNORECASE if "i" in flags else 0)
    except re.error as e:
        return _usage(io, "grep", f"bad regex '{pattern}': {e}")
    found = False
    multi = len(files) > 1

    def scan(name: str, data: bytes) -> None:
        nonlocal found
        count = 0
        for k, line in enumerate(data.splitlines(), 1):
            if bool(rx.search(line)) != ("v" in flags):
                count += 1
                found = True
                if "q" in flags or "c" in flags:
                    continue
                prefix = (f"{name}:" if multi else "") + (f"{k}:" if "n" in flags else "")
                io.stdout.write(prefix.encode() + line + b"\n")
        if "c" in flags:
            io.out((f"{name}:" if multi else "") + f"{count}\n")

    status = _each_input(sh, "grep", files, io, scan)
    return 2 if status else (0 if found else 1)


def _bre_to_re(p: str) -> str:
    # Basic regular expressions: + ? | ( ) { } are literal unless escaped.
    out, i = [], 0
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p):
            n = p[i + 1]
            out.append(n if n in "+?|(){}" else "\\" + n)
            i += 2
            continue
        out.append("\\" + c if c in "+?|(){}" else c)
        i += 1
    return "".join(out)


# ----------------------------------------------------------------------------------------- files


def _mode_string(st: os.stat_result) -> str:
    return statmod.filemode(st.st_mode)


def _ls_line(name: str, st: os.stat_result, writable: bool) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
    owner = "shell shell" if writable else "root  root "  # /data and /sdcard are the shell user's, the rest root's
    return f"{_mode_string(st)} 1 {owner} {st.st_size:>8} {when} {name}"


@builtin("ls")
def _ls(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, paths = _flags(argv, "laA1d")
    status = 0
    paths = paths or ["."]
    many = len(paths) > 1
    for k, p in enumerate(paths):
        try:
            res = sh.fs.resolve(p, sh.cwd)
            st = res.host.stat()
        except (FsError, OSError):
            io.err(f"ls: {p}: No such file or directory\n")
            status = 1
            continue
        if not statmod.S_ISDIR(st.st_mode) or "d" in flags:
            io.out((_ls_line(p, st, res.writable) if "l" in flags else p) + "\n")
            continue
        names = sorted(os.listdir(res.host))
        if "a" not in flags and "A" not in flags:
            names = [n for n in names if not n.startswith(".")]
        if "a" in flags:
            names = [".", ".."] + names
        if many:
            io.out(("\n" if k else "") + f"{p}:\n")
        if "l" in flags:
            io.out(f"total {len(names)}\n")
        for n in names:
            if "l" in flags:
                try:
                    io.out(_ls_line(n, (res.host / n).stat(), res.writable) + "\n")
                except OSError:
                    io.out(f"?????????? ? ? ? ? ? {n}\n")
            else:
                io.out(n + "\n")
    return status


@builtin("stat")
def _stat(sh: Shell, argv: list[str], io: ShellIO) -> int:
    fmt, paths, args = None, [], argv[1:]
    while args:
        a = args.pop(0)
        if a in ("-c", "--format") and args:
            fmt = args.pop(0)
        elif a.startswith("-c") and len(a) > 2:
            fmt = a[2:]
        elif a in ("-L", "-f"):
            continue
        else:
            paths.append(a)
    if not paths:
        return _usage(io, "stat", "Need 1 argument")
    status = 0
    for p in paths:
        try:
            st = sh.fs.resolve(p, sh.cwd).host.stat()
        except (FsError, OSError):
            io.err(f"stat: '{p}': No such file or directory\n")
            status = 1
            continue
        kind = "directory" if statmod.S_ISDIR(st.st_mode) else "regular file" if statmod.S_ISREG(st.st_mode) else "other"
        if fmt is None:
            io.out(f"  File: `{p}'\n  Size: {st.st_size}\t Blocks: {st.st_blocks}\t IO Blocks: 4096\t{kind}\n"
                   f"Access: ({statmod.S_IMODE(st.st_mode):04o}/{_mode_string(st)})\tUid: ( 2000/   shell)\tGid: ( 2000/   shell)\n"
                   f"Modify: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(st.st_mtime))}\n")
            continue
        values = {"s": str(st.st_size), "a": f"{statmod.S_IMODE(st.st_mode):o}", "A": _mode_string(st), "n": p,
                  "N": f"'{p}'", "Y": str(int(st.st_mtime)), "X": str(int(st.st_atime)), "F": kind, "U": "shell",
                  "G": "shell", "u": "2000", "g": "2000", "f": f"{st.st_mode:x}", "b": str(st.st_blocks), "%": "%"}
        io.out(re.sub(r"%(.)", lambda m: values.get(m.group(1), m.group(0)), _unescape(fmt)) + "\n")
    return status


@builtin("mkdir")
def _mkdir(sh: Shell, argv: list[str], io: ShellIO) -> int:
    args, parents, mode = argv[1:], False, 0o777
    rest = []
    while args:
        a = args.pop(0)
        if a == "-p":
            parents = True
        elif a == "-m" and args:
            mode = int(args.pop(0), 8)
        elif a.startswith("-") and set(a[1:]) <= {"p"}:
            parents = True
        else:
            rest.append(a)
    if not rest:
        return _usage(io, "mkdir", "Need 1 argument")
    status = 0
    for p in rest:
        try:
            res = sh.fs.resolve(p, sh.cwd, write=True)
            if parents:
                res.host.mkdir(parents=True, exist_ok=True)
            else:
                res.host.mkdir()
            os.chmod(res.host, mode & 0o777 & ~0o022 if mode != 0o777 else 0o771)
        except FileExistsError:
            status = _err(io, "mkdir", p, errno.EEXIST)
        except (FsError, OSError) as e:
            status = _err(io, "mkdir", p, e)
    return status


@builtin("rmdir")
def _rmdir(sh: Shell, argv: list[str], io: ShellIO) -> int:
    status = 0
    for p in argv[1:]:
        try:
            sh.fs.resolve(p, sh.cwd, write=True).host.rmdir()
        except (FsError, OSError) as e:
            status = _err(io, "rmdir", p, e)
    return status


def _is_writable_top(sh: Shell, dev: str) -> bool:
    return dev in ("/", "/data", "/data/local", "/data/local/tmp", "/sdcard")


@builtin("rm")
def _rm(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, paths = _flags(argv, "rRf")
    recursive, force = bool(flags & {"r", "R"}), "f" in flags
    status = 0
    for p in paths:
        try:
            res = sh.fs.resolve(p, sh.cwd, follow=False)  # a symlink is removed, never followed
        except FsError:
            if not force:
                status = _err(io, "rm", p, errno.ENOENT)
            continue
        if not res.host.exists() and not res.host.is_symlink():
            if not force:
                status = _err(io, "rm", p, errno.ENOENT)
            continue
        if not res.writable or _is_writable_top(sh, res.device):
            status = _err(io, "rm", p, errno.EACCES if res.writable else errno.EROFS)
            continue
        try:
            if res.host.is_dir() and not res.host.is_symlink():
                if not recursive:
                    status = _err(io, "rm", p, errno.EISDIR)
                    continue
                shutil.rmtree(res.host)
            else:
                res.host.unlink()
        except OSError as e:
            status = _err(io, "rm", p, e)
    return status


@builtin("touch")
def _touch(sh: Shell, argv: list[str], io: ShellIO) -> int:
    _, paths = _flags(argv, "acm")
    status = 0
    for p in paths:
        try:
            res = sh.fs.resolve(p, sh.cwd, write=True)
            res.host.touch()
        except (FsError, OSError) as e:
            status = _err(io, "touch", p, e)
    return status


_CHMOD_RE = re.compile(r"([ugoa]*)([-+=])([rwxXst]*)")


def _chmod_mode(spec: str, old: int, is_dir: bool) -> int:
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = old
    for clause in spec.split(","):
        m = _CHMOD_RE.fullmatch(clause)
        if not m:
            raise ValueError(spec)
        who, op, perms = m.groups()
        who = who or "a"
        mask = 0
        for w in "ugo" if "a" in who else who:
            shift = {"u": 6, "g": 3, "o": 0}[w]
            bits = sum({"r": 4, "w": 2, "x": 1}.get(c, 0) for c in perms)
            if "X" in perms and (is_dir or old & 0o111):
                bits |= 1
            mask |= bits << shift
        if op == "+":
            mode |= mask
        elif op == "-":
            mode &= ~mask
        else:
            clear = sum(0o7 << {"u": 6, "g": 3, "o": 0}[w] for w in ("ugo" if "a" in who else who))
            mode = (mode & ~clear) | mask
    return mode


@builtin("chmod")
def _chmod(sh: Shell, argv: list[str], io: ShellIO) -> int:
    # Not _flags: "-x" is a mode here, not an option.
    args = argv[1:]
    flags = set()
    while args and args[0] in ("-R", "-f", "-v"):
        flags.add(args.pop(0)[1])
    rest = args
    if len(rest) < 2:
        return _usage(io, "chmod", "Need 2 arguments")
    spec, paths = rest[0], rest[1:]
    status = 0
    for p in paths:
        try:
            res = sh.fs.resolve(p, sh.cwd, write=True)
            targets = [res.host]
            if "R" in flags and res.host.is_dir():
                # never through a symlink: one copied from /lib would lead to the host's sysroot
                targets += sorted(t for t in res.host.rglob("*") if not t.is_symlink())
            for t in targets:
                st = t.stat()
                os.chmod(t, _chmod_mode(spec, statmod.S_IMODE(st.st_mode), t.is_dir()) & 0o7777)
        except ValueError:
            return _usage(io, "chmod", f"bad mode '{spec}'")
        except (FsError, OSError) as e:
            status = _err(io, "chmod", p, e)
    return status


def _copy_tree_size(path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


@builtin("cp", "mv")
def _cp_mv(sh: Shell, argv: list[str], io: ShellIO) -> int:
    cmd = argv[0]
    flags, rest = _flags(argv, "rRfpa")
    if len(rest) < 2:
        return _usage(io, cmd, "Need 2 arguments")
    *sources, dest = rest
    try:
        dres = sh.fs.resolve(dest, sh.cwd, write=True)
    except FsError as e:
        return _err(io, cmd, dest, e)
    if len(sources) > 1 and not dres.host.is_dir():
        return _err(io, cmd, dest, errno.ENOTDIR)
    status = 0
    for s in sources:
        try:
            sres = sh.fs.resolve(s, sh.cwd, write=(cmd == "mv"), follow=(cmd == "cp"))
            if not sres.host.exists() and not sres.host.is_symlink():
                raise FsError(errno.ENOENT, s)
            target = dres.host / sres.host.name if dres.host.is_dir() else dres.host
            if cmd == "cp":
                if sres.host.is_dir() and not flags & {"r", "R", "a"}:
                    io.err(f"cp: Skipped dir '{s}'\n")
                    status = 1
                    continue
                if _copy_tree_size(sres.host) > sh.fs.free_bytes():
                    raise FsError(errno.ENOSPC, str(dest))
                if sres.host.is_dir():
                    shutil.copytree(sres.host, target, symlinks=True, dirs_exist_ok=True)
                else:
                    shutil.copy2(sres.host, target) if flags & {"p", "a"} else shutil.copy(sres.host, target)
            else:
                if _is_writable_top(sh, sres.device):
                    raise FsError(errno.EACCES, s)
                os.replace(sres.host, target) if not (target.is_dir() and sres.host.is_dir()) else shutil.move(str(sres.host), str(target))
        except FsError as e:
            status = _err(io, cmd, e.path or s, e)
        except OSError as e:
            status = _err(io, cmd, s, e)
    return status


@builtin("df")
def _df(sh: Shell, argv: list[str], io: ShellIO) -> int:
    total = sh.fs.quota_bytes // 1024
    used = sh.fs.used_bytes() // 1024
    io.out("Filesystem      1K-blocks    Used Available Use% Mounted on\n")
    for mount in ("/data", "/sdcard"):
        pct = (100 * used + total - 1) // total if total else 0
        io.out(f"/dev/block/emu {total:>12} {used:>7} {total - used:>9} {pct:>3}% {mount}\n")
    return 0


@builtin("basename")
def _basename(sh: Shell, argv: list[str], io: ShellIO) -> int:
    if len(argv) < 2:
        return _usage(io, "basename", "Need 1 argument")
    name = posixpath.basename(argv[1].rstrip("/")) or "/"
    if len(argv) > 2 and name.endswith(argv[2]) and name != argv[2]:
        name = name[: -len(argv[2])]
    io.out(name + "\n")
    return 0


@builtin("dirname")
def _dirname(sh: Shell, argv: list[str], io: ShellIO) -> int:
    if len(argv) < 2:
        return _usage(io, "dirname", "Need 1 argument")
    io.out((posixpath.dirname(argv[1].rstrip("/")) or ".") + "\n")
    return 0


@builtin("which")
def _which(sh: Shell, argv: list[str], io: ShellIO) -> int:
    from .programs import _find

    status = 0
    for name in argv[1:]:
        if "/" not in name and name in BUILTINS:
            io.out(f"/system/bin/{name}\n")
            continue
        path = _find(sh, name)
        if path and sh.fs.resolve(path, sh.cwd).host.is_file():
            io.out(sh.fs.normalize(path, sh.cwd) + "\n")
        else:
            status = 1
    return status


@builtin("command")
def _command(sh: Shell, argv: list[str], io: ShellIO) -> int:
    if len(argv) >= 3 and argv[1] == "-v":
        return _which(sh, ["which", *argv[2:]], io)
    return _run_argv(sh, argv[1:], io) if len(argv) > 1 else 0


# ------------------------------------------------------------------------------------------- tests


def _test_eval(sh: Shell, args: list[str]) -> bool:
    if not args:
        return False
    if "-o" in args:
        i = args.index("-o")
        return _test_eval(sh, args[:i]) or _test_eval(sh, args[i + 1 :])
    if "-a" in args[1:]:
        i = args.index("-a", 1)
        return _test_eval(sh, args[:i]) and _test_eval(sh, args[i + 1 :])
    if args[0] == "!":
        return not _test_eval(sh, args[1:])
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, x = args
        if op == "-z":
            return x == ""
        if op == "-n":
            return x != ""
        try:
            res = sh.fs.resolve(x, sh.cwd, follow=op not in ("-L", "-h"))
        except FsError:
            return False
        h = res.host
        checks = {
            "-e": h.exists, "-f": h.is_file, "-d": h.is_dir,
            "-s": lambda: h.exists() and h.stat().st_size > 0,
            "-x": lambda: os.access(h, os.X_OK) and h.exists(),
            "-r": h.exists, "-w": lambda: h.exists() and res.writable, "-L": h.is_symlink, "-h": h.is_symlink,
        }
        if op not in checks:
            raise ValueError(f"unknown operator {op}")
        return bool(checks[op]())
    if len(args) == 3:
        a, op, b = args
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        ints = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__, "-gt": int.__gt__, "-ge": int.__ge__}
        if op in ints:
            return bool(ints[op](int(a), int(b)))
    raise ValueError(f"syntax error near {' '.join(args)}")


@builtin("test", "[")
def _test(sh: Shell, argv: list[str], io: ShellIO) -> int:
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            io.err("[: missing ]\n")
            return 2
        args = args[:-1]
    try:
        return 0 if _test_eval(sh, args) else 1
    except ValueError as e:
        io.err(f"{argv[0]}: {e}\n")
        return 2


# ----------------------------------------------------------------------------------- device / system


@builtin("getprop")
def _getprop(sh: Shell, argv: list[str], io: ShellIO) -> int:
    props = _props(sh)
    if len(argv) == 1:
        for k in sorted(props):
            io.out(f"[{k}]: [{props[k]}]\n")
        return 0
    io.out(props.get(argv[1], argv[2] if len(argv) > 2 else "") + "\n")
    return 0


def _props(sh: Shell) -> dict[str, str]:
    props = dict(sh.profile.props)
    props.setdefault("ro.product.cpu.abi", "arm64-v8a" if sh.profile.arch == "armv8" else "armeabi-v7a")
    props.setdefault("sys.boot_completed", "1")
    props.setdefault("ro.hardware.egl", "emulation")
    return props


def _kernel_release(sh: Shell) -> str:
    parts = sh.profile.kernel.split()
    return parts[2] if len(parts) > 2 and parts[:2] == ["Linux", "version"] else "4.14.0"


@builtin("uname")
def _uname(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, _ = _flags(argv, "asnrvmpio")
    machine = "aarch64" if sh.profile.arch == "armv8" else "armv7l"
    fields = [("s", "Linux"), ("n", "localhost"), ("r", _kernel_release(sh)), ("v", "#1 SMP PREEMPT"), ("m", machine)]
    if "a" in flags:
        flags = {"s", "n", "r", "v", "m"}
    flags = flags or {"s"}
    io.out(" ".join(v for k, v in fields if k in flags) + ("  Toybox" if len(flags) == 5 else "") + "\n")
    return 0


@builtin("id")
def _id(sh: Shell, argv: list[str], io: ShellIO) -> int:
    if "-u" in argv or "-g" in argv:
        io.out("2000\n")
        return 0
    if "-un" in argv or "-nu" in argv:
        io.out("shell\n")
        return 0
    io.out("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),"
           "1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet),3006(net_bw_stats) context=u:r:shell:s0\n")
    return 0


@builtin("whoami")
def _whoami(sh: Shell, argv: list[str], io: ShellIO) -> int:
    io.out("shell\n")
    return 0


@builtin("nproc")
def _nproc(sh: Shell, argv: list[str], io: ShellIO) -> int:
    io.out(f"{sh.profile.ncpu}\n")
    return 0


@builtin("date")
def _date(sh: Shell, argv: list[str], io: ShellIO) -> int:
    fmt = next((a[1:] for a in argv[1:] if a.startswith("+")), "%a %b %e %H:%M:%S %Z %Y")
    now = time.time()
    io.out(time.strftime(fmt.replace("%s", str(int(now))).replace("%N", f"{int(now % 1 * 1e9):09d}"), time.localtime(now)) + "\n")
    return 0


@builtin("logcat")
def _logcat(sh: Shell, argv: list[str], io: ShellIO) -> int:
    """The emulated device logs nothing: ``logcat -d`` prints the buffer header and ends; plain ``logcat``
    waits (like the real one with no new messages) until interrupted or the stream closes."""
    flags, _ = _flags(argv, "dcvbsTtDBe")
    if "c" in flags:
        return 0
    io.out("--------- beginning of main\n")
    if "d" in flags:
        return 0
    sh.cancel.wait(10**9)
    return 128 + sh.cancel.how_to_stop()[0]


@builtin("sync")
def _sync(sh: Shell, argv: list[str], io: ShellIO) -> int:
    return 0


@builtin("ps")
def _ps(sh: Shell, argv: list[str], io: ShellIO) -> int:
    io.out("USER           PID  PPID     VSZ    RSS WCHAN            ADDR S NAME\n")
    for p in sh.procs.list():
        io.out(f"shell     {p.pid:>9}     1       0      0 0                   0 R {p.name}\n")
    return 0


@builtin("pidof")
def _pidof(sh: Shell, argv: list[str], io: ShellIO) -> int:
    pids = [str(p.pid) for p in sh.procs.list() if p.name in argv[1:]]
    if pids:
        io.out(" ".join(pids) + "\n")
    return 0 if pids else 1


_SIGNALS = {name[3:]: int(getattr(signal, name)) for name in dir(signal) if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(getattr(signal, name), int)}


@builtin("kill")
def _kill(sh: Shell, argv: list[str], io: ShellIO) -> int:
    args = argv[1:]
    sig = signal.SIGTERM
    if args and args[0] == "-l":
        io.out(" ".join(sorted(_SIGNALS, key=_SIGNALS.get)) + "\n")
        return 0
    if args and args[0] == "-s" and len(args) > 1:
        args.pop(0)
        args[0] = "-" + args[0]
    if args and args[0].startswith("-"):
        name = args.pop(0)[1:].upper().removeprefix("SIG")
        if name.isdigit():
            sig = int(name)
        elif name in _SIGNALS:
            sig = _SIGNALS[name]
        else:
            return _usage(io, "kill", f"Unknown signal '{name}'")
    if not args:
        return _usage(io, "kill", "Need 1 argument")
    status = 0
    for a in args:
        job = sh.jobs.get(int(a)) if a.isdigit() else None
        if job is not None:  # a background job of this shell ($!): its programs get the signal
            job.cancel.set(sig)
            continue
        proc = sh.procs.get(int(a)) if a.isdigit() else None
        if proc is None:
            io.err(f"kill: {a}: No such process\n")
            status = 1
            continue
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            io.err(f"kill: {a}: No such process\n")
            status = 1
    return status


@builtin("pkill", "killall")
def _pkill(sh: Shell, argv: list[str], io: ShellIO) -> int:
    """``pkill [-SIG] NAME`` / ``killall [-SIG] NAME``: signal the device's programs with that name."""
    args = argv[1:]
    sig = signal.SIGTERM
    if args and args[0].startswith("-") and len(args) > 1:
        name = args.pop(0)[1:].upper().removeprefix("SIG")
        sig = int(name) if name.isdigit() else _SIGNALS.get(name, signal.SIGTERM)
    if not args:
        return _usage(io, argv[0], "Need 1 argument")
    hits = [p for p in sh.procs.list() if p.name in args]
    for p in hits:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
    if not hits and argv[0] == "killall":
        io.err(f"killall: {args[0]}: no process killed\n")
    return 0 if hits else 1


@builtin("time")
def _time(sh: Shell, argv: list[str], io: ShellIO) -> int:
    """toybox ``time CMD…``: run it, then print wall time to stderr (user/sys are not measured here)."""
    if len(argv) < 2:
        return 0
    t0 = time.monotonic()
    status = _run_argv(sh, argv[1:], io)
    real = time.monotonic() - t0
    io.err(f"real {real:.3f}\nuser 0.000\nsys 0.000\n")
    return status


@builtin("taskset")
def _taskset(sh: Shell, argv: list[str], io: ShellIO) -> int:
    """``taskset MASK CMD…`` runs CMD; the emulated device accepts a CPU mask but does not pin (the host schedules)."""
    args = argv[1:]
    if args and args[0] == "-a":
        args.pop(0)
    if len(args) < 2 or not re.fullmatch(r"(0x)?[0-9a-fA-F]+", args[0]):
        return _usage(io, "taskset", "usage: taskset MASK COMMAND...")
    mask = int(args[0], 16)
    if mask == 0 or mask >> sh.profile.ncpu:
        io.err(f"taskset: failed to set pid's affinity: {os.strerror(errno.EINVAL)}\n")
        return 1
    return _run_argv(sh, args[1:], io)


@builtin("realpath", "readlink")
def _realpath(sh: Shell, argv: list[str], io: ShellIO) -> int:
    _, paths = _flags(argv, "fenmq")
    if argv[0] == "readlink" and not any(a.startswith("-") and "f" in a for a in argv[1:]):
        return 1  # no symlinks are visible on the device: plain readlink finds none
    status = 0
    for p in paths:
        try:
            res = sh.fs.resolve(p, sh.cwd)
        except FsError as e:
            status = _err(io, argv[0], p, e)
            continue
        io.out(res.device + "\n")
    return status


@builtin("seq")
def _seq(sh: Shell, argv: list[str], io: ShellIO) -> int:
    try:
        nums = [int(a) for a in argv[1:]]
    except ValueError:
        return _usage(io, "seq", "not integer")
    if not 1 <= len(nums) <= 3:
        return _usage(io, "seq", "Need 1 to 3 arguments")
    first, step, last = (1, 1, nums[0]) if len(nums) == 1 else (nums[0], 1, nums[1]) if len(nums) == 2 else nums
    if step == 0:
        return _usage(io, "seq", "increment must not be 0")
    io.out("".join(f"{v}\n" for v in range(first, last + (1 if step > 0 else -1), step)))
    return 0


@builtin("tee")
def _tee(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, files = _flags(argv, "a")
    data = io.stdin.read_all()
    io.stdout.write(data)
    status = 0
    for f in files:
        try:
            res = sh.fs.resolve(f, sh.cwd, write=True)
            if len(data) > sh.fs.free_bytes():
                raise FsError(errno.ENOSPC, f)
            with open(res.host, "ab" if "a" in flags else "wb") as out:
                out.write(data)
        except (FsError, OSError) as e:
            status = _err(io, "tee", f, e)
    return status


def _lines(sh: Shell, cmd: str, files: list[str], io: ShellIO) -> list[bytes] | None:
    out: list[bytes] = []
    ok = _each_input(sh, cmd, files, io, lambda _n, d: out.extend(d.splitlines()))
    return None if ok else out


@builtin("sort")
def _sort(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, files = _flags(argv, "nru")
    lines = _lines(sh, "sort", files, io)
    if lines is None:
        return 1

    def numeric(line: bytes) -> float:
        m = re.match(rb"\s*-?\d+(\.\d*)?", line)
        return float(m.group()) if m else 0.0

    key = numeric if "n" in flags else (lambda line: line)
    lines.sort(key=key, reverse="r" in flags)
    if "u" in flags:  # equal keys are duplicates (with -n: equal numbers), the first one stays
        seen: set = set()
        lines = [l for l in lines if not (key(l) in seen or seen.add(key(l)))]
    io.stdout.write(b"".join(l + b"\n" for l in lines))
    return 0


@builtin("uniq")
def _uniq(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, files = _flags(argv, "c")
    lines = _lines(sh, "uniq", files[:1], io)
    if lines is None:
        return 1
    groups: list[list] = []
    for line in lines:
        if groups and groups[-1][0] == line:
            groups[-1][1] += 1
        else:
            groups.append([line, 1])
    io.stdout.write(b"".join((f"{n:>7} ".encode() if "c" in flags else b"") + l + b"\n" for l, n in groups))
    return 0


@builtin("cut")
def _cut(sh: Shell, argv: list[str], io: ShellIO) -> int:
    args, delim, fields, files = argv[1:], "\t", None, []
    while args:
        a = args.pop(0)
        if a.startswith("-d"):
            delim = a[2:] or (args.pop(0) if args else "")
        elif a.startswith("-f"):
            fields = a[2:] or (args.pop(0) if args else "")
        else:
            files.append(a)
    if fields is None or len(delim) != 1:
        return _usage(io, "cut", "usage: cut -d CHAR -f LIST [FILE…]")
    wanted: set[int] = set()
    try:
        for part in fields.split(","):
            lo, _, hi = part.partition("-")
            wanted.update(range(int(lo or 1), int(hi or 10_000) + 1) if "-" in part else [int(lo)])
    except ValueError:
        return _usage(io, "cut", f"bad list '{fields}'")
    lines = _lines(sh, "cut", files, io)
    if lines is None:
        return 1
    d = delim.encode()
    for line in lines:
        cols = line.split(d)
        io.stdout.write((d.join(c for k, c in enumerate(cols, 1) if k in wanted) if len(cols) > 1 else line) + b"\n")
    return 0


def _tr_set(spec: str) -> str:
    spec = _unescape(spec)
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


@builtin("tr")
def _tr(sh: Shell, argv: list[str], io: ShellIO) -> int:
    flags, sets = _flags(argv, "d")
    if not sets or ("d" not in flags and len(sets) != 2):
        return _usage(io, "tr", "usage: tr [-d] SET1 [SET2]")
    text = io.stdin.read_all().decode("utf-8", "surrogateescape")
    src = _tr_set(sets[0])
    if "d" in flags:
        table = {ord(c): None for c in src}
    else:
        dst = _tr_set(sets[1])
        dst = (dst + dst[-1:] * len(src))[: len(src)] if dst else ""
        table = {ord(a): b for a, b in zip(src, dst)}
    io.stdout.write(text.translate(table).encode("utf-8", "surrogateescape"))
    return 0
