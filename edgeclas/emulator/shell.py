"""The emulated device's shell: a small, documented subset of POSIX sh, interpreted here in Python.

It never hands a command line to the host's ``/bin/sh``: every path goes through the sandbox
(:mod:`.fs`) and every command is either a builtin (:mod:`.builtins`: the toybox commands a deploy
or benchmark driver uses) or a program file inside the device root (:mod:`.programs`: ARM ELF under
qemu-user, or a shell script run by this interpreter).

Supported grammar (see docs/emulator.md):

* words and quoting as POSIX sh: ``'…'``, ``"…"`` (with ``$`` expansion), backslash, ``#`` comments;
* expansions: ``$NAME``, ``${NAME}``, ``${NAME:-default}``, ``$?``, ``$$``, ``$#``, ``$0``…``$9``,
  ``$@``/``$*``, ``$(cmd)`` and backquotes; unquoted expansions are split on blanks; unquoted
  ``*``, ``?``, ``[…]`` glob inside the sandbox;
* lists ``a; b``, ``a && b``, ``a || b``, newlines; pipelines ``a | b`` (stages run at once, joined by
  bounded pipes; a stage whose reader is gone gets a broken pipe, a program SIGPIPE);
* ``NAME=value`` assignments and ``NAME=value cmd`` prefixes;
* redirections ``> f``, ``>> f``, ``< f``, ``N> f``, ``N>> f``, ``N>&M``, ``>&N``, ``&> f``, ``/dev/null``,
  here-documents ``<<EOF`` / ``<<-EOF`` (``<<'EOF'``: no expansion);
* ``if … then … [elif …] [else …] fi``, ``for NAME in WORDS; do …; done``, ``while``/``until … do … done``,
  ``case WORD in PAT|PAT) …;; esac``.

* background jobs ``cmd &`` (a thread in a forked shell, stdin empty), ``$!``, ``wait [ID…]``,
  ``kill [-SIG] $!``; the session waits for jobs still writing to it, others end with it.

Not supported (a clear syntax error): subshells ``( … )``, functions.
"""

from __future__ import annotations

import errno
import fnmatch
import itertools
import os
import posixpath
import queue
import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Union

from .fs import DeviceFS, FsError

if TYPE_CHECKING:
    from .profile import DeviceProfile
    from .programs import ProcessTable

__all__ = [
    "ShellSyntaxError",
    "Cancel",
    "Sink",
    "Source",
    "ShellIO",
    "Shell",
    "tokenize",
    "parse",
    "SH",
]

SH = "/system/bin/sh"  # how Android's shell names itself in its errors

# ---------------------------------------------------------------------------------------------- lexer


class ShellSyntaxError(Exception):
    pass


@dataclass
class Word:
    # parts: (kind, text, quoted); kind is "lit", "var" (text = NAME or NAME:-default), "cmd" (text = source)
    # or "arith" (text = the expression inside $(( )))
    parts: list[tuple[str, str, bool]] = field(default_factory=list)

    def literal(self) -> str | None:
        """The text when the word has no expansions (used for keywords and assignment names)."""
        if all(k == "lit" for k, _, _ in self.parts):
            return "".join(t for _, t, _ in self.parts)
        return None

    def is_keyword(self, kw: str) -> bool:
        return len(self.parts) == 1 and self.parts[0] == ("lit", kw, False)


@dataclass(frozen=True)
class Op:
    text: str  # ; && || | & newline-as-;


@dataclass(frozen=True)
class RedirTok:
    fd: int | None  # explicit N in N>file
    op: str  # > >> < >& <& &>


Token = Union[Word, Op, RedirTok]

_SPECIAL_VARS = "?$#@*!0123456789"
_NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | set("0123456789")


def _scan_parens(src: str, i: int) -> int:
    """Index just past the ``)`` matching the ``(`` before ``i``, skipping quotes."""
    depth = 1
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'":
            j = src.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("unterminated quoted string")
            i = j + 1
            continue
        if ch == '"':
            i += 1
            while i < len(src) and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ShellSyntaxError("missing ')'")


def _read_dollar(src: str, i: int, quoted: bool) -> tuple[tuple[str, str, bool], int]:
    """``src[i] == '$'``: return the part and the index after it."""
    nxt = src[i + 1] if i + 1 < len(src) else ""
    if src.startswith("((", i + 1):
        end = src.find("))", i + 3)
        if end < 0:
            raise ShellSyntaxError("missing '))'")
        return ("arith", src[i + 3 : end], quoted), end + 2
    if nxt == "(":
        end = _scan_parens(src, i + 2)
        return ("cmd", src[i + 2 : end - 1], quoted), end
    if nxt == "{":
        end = src.find("}", i + 2)
        if end < 0:
            raise ShellSyntaxError("missing '}'")
        return ("var", src[i + 2 : end], quoted), end + 1
    if nxt and nxt in _SPECIAL_VARS:
        return ("var", nxt, quoted), i + 2
    if nxt in _NAME_START:
        j = i + 1
        while j < len(src) and src[j] in _NAME_CHARS:
            j += 1
        return ("var", src[i + 1 : j], quoted), j
    return ("lit", "$", quoted), i + 1


def _heredoc_parts(body: str) -> list[tuple[str, str, bool]]:
    """A here-document body with an unquoted delimiter: ``$`` expansions and ``\\$ \\` \\\\`` escapes, no splitting."""
    parts: list[tuple[str, str, bool]] = []
    buf, i = "", 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and body[i + 1] in "$`\\\n":
            if body[i + 1] != "\n":
                buf += body[i + 1]
            i += 2
        elif c == "$":
            if buf:
                parts.append(("lit", buf, True))
                buf = ""
            part, i = _read_dollar(body, i, True)
            parts.append(part)
        else:
            buf += c
            i += 1
    parts.append(("lit", buf, True))
    return parts


def tokenize(src: str) -> list[Token]:
    toks: list[Token] = []
    word: Word | None = None
    i, n = 0, len(src)
    heredocs: list[tuple[Word, str, bool, bool]] = []  # (target word to fill, delimiter, quoted, strip tabs)

    def add(kind: str, text: str, quoted: bool) -> None:
        nonlocal word
        if word is None:
            word = Word()
        word.parts.append((kind, text, quoted))

    def end_word() -> None:
        nonlocal word
        if word is not None:
            toks.append(word)
            word = None

    while i < n:
        ch = src[i]
        if ch in " \t\r":
            end_word()
            i += 1
        elif ch == "\n":
            end_word()
            if not (toks and isinstance(toks[-1], Op) and toks[-1].text in ("&&", "||", "|")):
                toks.append(Op(";"))
            i += 1
            for target, delim, quoted, strip in heredocs:  # bodies start on the line after the command
                lines = []
                while True:
                    if i >= n:
                        raise ShellSyntaxError(f"here document '{delim}' unclosed")
                    end = src.find("\n", i)
                    line = src[i:] if end < 0 else src[i:end]
                    i = n if end < 0 else end + 1
                    if strip:
                        line = line.lstrip("\t")
                    if line == delim:
                        break
                    lines.append(line + "\n")
                body = "".join(lines)
                target.parts = [("lit", body, True)] if quoted else _heredoc_parts(body)
            heredocs.clear()
        elif ch == "#" and word is None:
            while i < n and src[i] != "\n":
                i += 1
        elif ch == "'":
            j = src.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("unterminated quoted string")
            add("lit", src[i + 1 : j], True)
            i = j + 1
        elif ch == '"':
            i += 1
            buf = ""
            if word is None:
                word = Word()  # "" is an (empty) word
            while True:
                if i >= n:
                    raise ShellSyntaxError("unterminated quoted string")
                c = src[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and src[i + 1] in '$`"\\\n':
                    if src[i + 1] != "\n":
                        buf += src[i + 1]
                    i += 2
                elif c == "$":
                    if buf:
                        add("lit", buf, True)
                        buf = ""
                    part, i = _read_dollar(src, i, True)
                    add(*part)
                elif c == "`":
                    j = src.find("`", i + 1)
                    if j < 0:
                        raise ShellSyntaxError("unterminated `")
                    if buf:
                        add("lit", buf, True)
                        buf = ""
                    add("cmd", src[i + 1 : j], True)
                    i = j + 1
                else:
                    buf += c
                    i += 1
            add("lit", buf, True)
        elif ch == "\\":
            if i + 1 < n:
                if src[i + 1] != "\n":  # backslash-newline continues the line
                    add("lit", src[i + 1], True)
                i += 2
            else:
                i += 1
        elif ch == "$":
            part, i = _read_dollar(src, i, False)
            add(*part)
        elif ch == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise ShellSyntaxError("unterminated `")
            add("cmd", src[i + 1 : j], False)
            i = j + 1
        elif ch in ";|&<>()":
            fd = None
            lit = word.literal() if word is not None else None
            if ch in "<>" and lit is not None and lit.isdigit() and not any(q for _, _, q in word.parts):  # type: ignore[union-attr]
                fd = int(lit)
                word = None
            end_word()
            two = src[i : i + 2]
            if ch in "()":  # only `case` patterns use them; the parser rejects subshells and functions
                toks.append(Op(ch))
                i += 1
            elif two == "<<":
                strip = src.startswith("<<-", i)
                i += 3 if strip else 2
                while i < n and src[i] in " \t":
                    i += 1
                j = i
                while j < n and src[j] not in " \t\r\n;|&<>()":
                    j += 1
                raw = src[i:j]
                if not raw:
                    raise ShellSyntaxError("syntax error: here document without a delimiter")
                delim = raw.replace("'", "").replace('"', "").replace("\\", "")
                target = Word([("lit", "", True)])
                toks.append(RedirTok(fd, "<<"))
                toks.append(target)
                heredocs.append((target, delim, delim != raw, strip))
                i = j
            elif two in ("&&", "||", ";;"):
                toks.append(Op(two))
                i += 2
            elif two == "&>":
                toks.append(RedirTok(None, "&>"))
                i += 2
            elif ch in ";|&":
                toks.append(Op(ch))
                i += 1
            else:
                op = two if two in (">>", ">&", "<&", ">|") else ch
                toks.append(RedirTok(fd, ">" if op == ">|" else op))
                i += len(op)
        else:
            j = i
            while j < n and src[j] not in " \t\r\n'\"\\$`;|&<>()":
                j += 1
            add("lit", src[i:j], False)
            i = j
    end_word()
    if heredocs:
        raise ShellSyntaxError(f"here document '{heredocs[0][1]}' unclosed")
    return toks


# --------------------------------------------------------------------------------------------- parser


@dataclass
class Redirect:
    fd: int
    op: str
    target: Word


@dataclass
class Simple:
    assigns: list[tuple[str, Word]]
    words: list[Word]
    redirects: list[Redirect]


@dataclass
class Pipeline:
    commands: list["Command"]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]]  # ("&&"|"||", pipeline)
    background: bool = False  # ended by '&'


@dataclass
class If:
    branches: list[tuple[list[AndOr], list[AndOr]]]  # (condition, body)
    orelse: list[AndOr] | None


@dataclass
class For:
    name: str
    items: list[Word] | None  # None: "$@"
    body: list[AndOr]


@dataclass
class While:
    cond: list[AndOr]
    body: list[AndOr]
    until: bool


@dataclass
class Case:
    subject: Word
    items: list[tuple[list[Word], list[AndOr]]]  # (patterns, body)


Command = Union[Simple, If, For, While, Case]
_RESERVED_END = ("then", "elif", "else", "fi", "do", "done", "esac")


class _Parser:
    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def at_keyword(self, *kws: str) -> bool:
        t = self.peek()
        return isinstance(t, Word) and any(t.is_keyword(k) for k in kws)

    def expect_keyword(self, kw: str) -> None:
        if not self.at_keyword(kw):
            t = self.peek()
            got = "end of input" if t is None else f"'{t.literal() if isinstance(t, Word) else getattr(t, 'text', getattr(t, 'op', '?'))}'"
            raise ShellSyntaxError(f"syntax error: expected '{kw}', got {got}")
        self.i += 1

    def skip_separators(self) -> None:
        while isinstance(self.peek(), Op) and self.peek().text == ";":  # type: ignore[union-attr]
            self.i += 1

    def at_op(self, *ops: str) -> bool:
        t = self.peek()
        return isinstance(t, Op) and t.text in ops

    def list_until(self, *ends: str) -> list[AndOr]:
        """Commands up to one of the keywords ``ends`` (``;;`` always ends a list: a case item's)."""
        out: list[AndOr] = []
        self.skip_separators()
        while self.peek() is not None and not self.at_keyword(*ends) and not self.at_op(";;"):
            out.append(self.and_or())
            t = self.peek()
            if isinstance(t, Op) and t.text == "&":
                out[-1].background = True
                self.i += 1
                self.skip_separators()
            elif isinstance(t, Op) and t.text == ";":
                self.skip_separators()
            elif t is not None and not self.at_keyword(*ends) and not self.at_op(";;"):
                raise ShellSyntaxError(f"syntax error: unexpected '{getattr(t, 'text', None) or t}'")
        return out

    def and_or(self) -> AndOr:
        first = self.pipeline()
        rest = []
        while isinstance(self.peek(), Op) and self.peek().text in ("&&", "||"):  # type: ignore[union-attr]
            op = self.peek().text  # type: ignore[union-attr]
            self.i += 1
            while isinstance(self.peek(), Op) and self.peek().text == ";":  # type: ignore[union-attr]
                self.i += 1  # a newline may follow && / ||
            rest.append((op, self.pipeline()))
        return AndOr(first, rest)

    def pipeline(self) -> Pipeline:
        negate = False
        if self.at_keyword("!"):
            negate = True
            self.i += 1
        cmds = [self.command()]
        while isinstance(self.peek(), Op) and self.peek().text == "|":  # type: ignore[union-attr]
            self.i += 1
            cmds.append(self.command())
        return Pipeline(cmds, negate)

    def command(self) -> Command:
        if self.at_keyword("if"):
            self.i += 1
            branches = []
            cond = self.list_until("then")
            self.expect_keyword("then")
            body = self.list_until("elif", "else", "fi")
            branches.append((cond, body))
            orelse = None
            while True:
                if self.at_keyword("elif"):
                    self.i += 1
                    cond = self.list_until("then")
                    self.expect_keyword("then")
                    branches.append((cond, self.list_until("elif", "else", "fi")))
                    continue
                if self.at_keyword("else"):
                    self.i += 1
                    orelse = self.list_until("fi")
                self.expect_keyword("fi")
                return If(branches, orelse)
        if self.at_keyword("for"):
            self.i += 1
            name_tok = self.peek()
            name = name_tok.literal() if isinstance(name_tok, Word) else None
            if not name or not name.isidentifier():
                raise ShellSyntaxError("syntax error: bad for loop variable")
            self.i += 1
            items = None
            self.skip_separators()
            if self.at_keyword("in"):
                self.i += 1
                items = []
                while isinstance(self.peek(), Word) and not self.at_keyword("do"):
                    items.append(self.peek())  # type: ignore[arg-type]
                    self.i += 1
            self.skip_separators()
            self.expect_keyword("do")
            body = self.list_until("done")
            self.expect_keyword("done")
            return For(name, items, body)
        if self.at_keyword("case"):
            self.i += 1
            subject = self.peek()
            if not isinstance(subject, Word):
                raise ShellSyntaxError("syntax error: case needs a word")
            self.i += 1
            self.skip_separators()
            self.expect_keyword("in")
            items: list[tuple[list[Word], list[AndOr]]] = []
            self.skip_separators()
            while not self.at_keyword("esac"):
                if self.at_op("("):
                    self.i += 1
                patterns = []
                while True:
                    w = self.peek()
                    if not isinstance(w, Word):
                        raise ShellSyntaxError("syntax error: bad case pattern")
                    patterns.append(w)
                    self.i += 1
                    if self.at_op("|"):
                        self.i += 1
                        continue
                    if self.at_op(")"):
                        self.i += 1
                        break
                    raise ShellSyntaxError("syntax error: expected ')' after a case pattern")
                body = self.list_until("esac")
                items.append((patterns, body))
                if self.at_op(";;"):
                    self.i += 1
                    self.skip_separators()
                elif not self.at_keyword("esac"):
                    raise ShellSyntaxError("syntax error: expected ';;' or 'esac'")
            self.i += 1
            return Case(subject, items)
        if self.at_keyword("while", "until"):
            until = self.at_keyword("until")
            self.i += 1
            cond = self.list_until("do")
            self.expect_keyword("do")
            body = self.list_until("done")
            self.expect_keyword("done")
            return While(cond, body, until)
        return self.simple()

    def simple(self) -> Simple:
        assigns: list[tuple[str, Word]] = []
        words: list[Word] = []
        redirects: list[Redirect] = []
        while True:
            t = self.peek()
            if isinstance(t, RedirTok):
                self.i += 1
                target = self.peek()
                if not isinstance(target, Word):
                    raise ShellSyntaxError("syntax error: redirection without a target")
                self.i += 1
                fd = t.fd if t.fd is not None else (0 if t.op in ("<", "<&", "<<") else 1)
                redirects.append(Redirect(fd, t.op, target))
            elif isinstance(t, Word):
                if not words and not assigns and any(t.is_keyword(k) for k in _RESERVED_END):
                    raise ShellSyntaxError(f"syntax error: unexpected '{t.literal()}'")
                if not words and t.parts and t.parts[0][0] == "lit" and not t.parts[0][2] and "=" in t.parts[0][1]:
                    name, _, first = t.parts[0][1].partition("=")
                    if name.isidentifier():
                        value = Word([("lit", first, True)] + t.parts[1:]) if first else Word(t.parts[1:])
                        assigns.append((name, value))
                        self.i += 1
                        continue
                if not words and not assigns and redirects == [] and any(t.is_keyword(k) for k in ("if", "for", "while", "until", "case")):
                    break
                words.append(t)
                self.i += 1
            else:
                break
        if not words and not assigns and not redirects:
            t = self.peek()
            if isinstance(t, Op) and t.text in "()":
                raise ShellSyntaxError(f"'{t.text}' (subshells and functions) is not supported by the emulated shell")
            raise ShellSyntaxError(f"syntax error: unexpected {'end of input' if t is None else repr(getattr(t, 'text', t))}")
        return Simple(assigns, words, redirects)


def parse(src: str) -> list[AndOr]:
    p = _Parser(tokenize(src))
    out = p.list_until()
    if p.peek() is not None:
        t = p.peek()
        raise ShellSyntaxError(f"syntax error: unexpected '{t.literal() if isinstance(t, Word) else t}'")
    return out


# ------------------------------------------------------------------------------------------------ I/O


class Cancel:
    """A stop signal: set by a stream closing, by Ctrl-C in a pty session, or by a ``timeout`` deadline."""

    def __init__(self, parent: Cancel | None = None, deadline: float | None = None, *, signal: int = 15,
                 kill_after: float = 2.0) -> None:
        self.parent = parent
        self.deadline = deadline
        self.signal = signal  # what a timeout sends first (``timeout -s``), then SIGKILL after ``kill_after``
        self.kill_after = kill_after
        self.fired_signal: int | None = None  # the signal a set() asked for (Ctrl-C: SIGINT); None: kill outright
        self._event = threading.Event()

    def set(self, signal: int | None = None) -> None:
        self.fired_signal = signal
        self._event.set()

    def how_to_stop(self) -> tuple[int, float]:
        """(first signal, seconds before SIGKILL) for whatever stopped this chain; SIGKILL at once for a closed stream."""
        c: Cancel | None = self
        while c is not None:
            if c._event.is_set():
                return (c.fired_signal, 2.0) if c.fired_signal else (9, 0.0)
            if c.timed_out():
                return c.signal, c.kill_after
            c = c.parent
        return 9, 0.0

    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def is_set(self) -> bool:
        return self._event.is_set() or self.timed_out() or (self.parent is not None and self.parent.is_set())

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when cancelled meanwhile."""
        end = time.monotonic() + seconds
        while True:
            if self.is_set():
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            self._event.wait(min(left, 0.05))


class Sink:
    """Where a command's output goes: ``write(bytes)``; ``fileno()`` when a program can write to it directly."""

    def __init__(self, write: Callable[[bytes], None] | None = None) -> None:
        self._write = write
        self.data = bytearray() if write is None else None

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._write is None:
            self.data += data  # type: ignore[operator]
        else:
            self._write(data)

    def fileno(self) -> int | None:
        return None

    def close(self) -> None:
        pass


class NullSink(Sink):
    def write(self, data: bytes) -> None:
        pass


class FileSink(Sink):
    """A redirection target inside /data or /sdcard; writes count against the device quota."""

    def __init__(self, fs: DeviceFS, host: str, append: bool) -> None:
        super().__init__(lambda b: None)
        existing = os.path.getsize(host) if not append and os.path.isfile(host) else 0
        self.free = fs.free_bytes() + existing  # measured once: walking /data per write would be slow
        self.f = open(host, "ab" if append else "wb")  # noqa: SIM115 - closed by the shell after the command

    def write(self, data: bytes) -> None:
        if len(data) > self.free:
            raise FsError(errno.ENOSPC, "write")
        self.free -= len(data)
        self.f.write(data)
        self.f.flush()

    def fileno(self) -> int | None:
        return self.f.fileno()

    def close(self) -> None:
        self.f.close()


class Source:
    """A command's stdin: fixed bytes, a file, or the adb stream (``read`` returns b'' at EOF)."""

    def __init__(self, data: bytes = b"", reader: Callable[[], bytes] | None = None, path: str | None = None) -> None:
        self._data = data
        self._reader = reader
        self.path = path  # host path for a file redirection (programs get the file itself)

    @property
    def empty(self) -> bool:
        """Nothing to give (no bytes, no stream): a program gets /dev/null."""
        return self._reader is None and not self._data and self.path is None

    def read(self) -> bytes:
        if self._reader is not None:
            return self._reader()
        data, self._data = self._data, b""
        return data

    def read_all(self) -> bytes:
        out = bytearray()
        while chunk := self.read():
            out += chunk
        return bytes(out)


class _Pipe:
    """A bounded byte pipe between two pipeline stages (back-pressure, EOF, and broken pipe like the kernel's)."""

    def __init__(self, depth: int = 16) -> None:
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._reader_gone = threading.Event()

    def write(self, data: bytes) -> None:
        while True:
            if self._reader_gone.is_set():
                raise BrokenPipeError(errno.EPIPE, "Broken pipe")
            try:
                self._q.put(bytes(data), timeout=0.05)
                return
            except queue.Full:
                continue

    def read(self) -> bytes:
        if self._reader_gone.is_set():
            return b""
        data = self._q.get()
        if data is None:
            self._q.put(None)  # EOF stays visible to later reads
            return b""
        return data

    def close_writer(self) -> None:
        while not self._reader_gone.is_set():
            try:
                self._q.put(None, timeout=0.05)
                return
            except queue.Full:
                continue

    def close_reader(self) -> None:
        self._reader_gone.set()

    def sink(self) -> Sink:
        return Sink(self.write)

    def source(self) -> Source:
        return Source(reader=self.read)


@dataclass
class ShellIO:
    stdin: Source
    stdout: Sink
    stderr: Sink

    def err(self, text: str) -> None:
        self.stderr.write(text.encode("utf-8", "replace"))

    def out(self, text: str) -> None:
        self.stdout.write(text.encode("utf-8", "replace"))


def _pid_max() -> int:
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 4194304


_JOB_IDS = itertools.count(_pid_max() + 1)


@dataclass
class Job:
    id: int
    cancel: Cancel
    io: ShellIO
    holds_output: bool  # still writes to the session (not `> f 2>&1`): the session waits for it
    status: int = 0
    thread: threading.Thread = field(default=None)  # type: ignore[assignment]


def _holds_output(item: AndOr) -> bool:
    """False when every command of a job sends both stdout and stderr elsewhere (``> log 2>&1``, ``&> f``)."""
    for pl in [item.first, *(p for _, p in item.rest)]:
        for cmd in pl.commands:
            if not isinstance(cmd, Simple):
                return True
            away = set()
            for r in cmd.redirects:
                if r.op == "&>":
                    away |= {1, 2}
                elif r.op in (">", ">>") or (r.op == ">&" and r.target.literal() not in ("1", "2")):
                    away.add(r.fd)
                elif r.op == ">&" and r.target.literal() in ("1", "2") and int(r.target.literal()) in away:
                    away.add(r.fd)
            if not {1, 2} <= away:
                return True
    return False


class ShellExit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class _LoopControl(Exception):
    def __init__(self, kind: str, levels: int) -> None:
        self.kind, self.levels = kind, levels


# ------------------------------------------------------------------------------------------ executor

ANDROID_PATH = "/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin"


def default_env(term: str | None = None) -> dict[str, str]:
    env = {
        "PATH": ANDROID_PATH,
        "HOME": "/",
        "TMPDIR": "/data/local/tmp",
        "ANDROID_DATA": "/data",
        "ANDROID_ROOT": "/system",
        "EXTERNAL_STORAGE": "/sdcard",
        "HOSTNAME": "localhost",
        "USER": "shell",
        "LOGNAME": "shell",
        "SHELL": SH,
    }
    if term:
        env["TERM"] = term
    return env


class Shell:
    """One shell session (the state of ``adb shell``): variables, cwd, last status."""

    def __init__(
        self,
        fs: DeviceFS,
        profile: DeviceProfile,
        procs: ProcessTable,
        *,
        env: dict[str, str] | None = None,
        cwd: str = "/",
        cancel: Cancel | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.fs = fs
        self.profile = profile
        self.procs = procs
        self.vars: dict[str, str] = dict(env if env is not None else default_env())
        self.exported: set[str] = set(self.vars)
        self.cwd = cwd
        self.status = 0
        self.cancel = cancel or Cancel()
        self.args = args or [SH]  # $0, $1…
        self.exited = False  # `exit` ran: an interactive session ends
        self.errexit = False  # set -e
        self.xtrace = False  # set -x
        self._testing = 0  # > 0 while running a condition or the left side of && / ||
        self.jobs: dict[int, Job] = {}  # background jobs ('&') by id
        self.last_job: int | None = None  # $!

    def child(self, args: list[str] | None = None, cancel: Cancel | None = None) -> Shell:
        """A new shell (``sh -c``, a script): sees exported variables and the cwd, not ``set`` options;
        its changes do not come back."""
        sub = Shell(self.fs, self.profile, self.procs, env={k: self.vars[k] for k in self.exported if k in self.vars},
                    cwd=self.cwd, cancel=cancel or self.cancel, args=args or self.args)
        sub.status = self.status
        return sub

    def env(self) -> dict[str, str]:
        return {k: v for k, v in self.vars.items() if k in self.exported}

    # -- entry points
    def run(self, src: str, io: ShellIO) -> int:
        """Run a command line or script; returns its exit status (0-255)."""
        try:
            tree = parse(src)
        except ShellSyntaxError as e:
            io.err(f"{SH}: {e}\n")
            self.status = 2
            return 2
        try:
            self.status = self.run_list(tree, io)
        except ShellExit as e:
            self.status = e.status
            self.exited = True
        except _LoopControl:
            pass
        except ShellSyntaxError as e:  # found while expanding, e.g. $(( 1 / 0 )): the script stops, as in sh
            io.err(f"{SH}: {e}\n")
            self.status = 2
        return self.status & 0xFF

    def run_list(self, items: list[AndOr], io: ShellIO) -> int:
        for item in items:
            if self.cancel.is_set():
                break
            if item.background:
                self._start_job(item, io)
                self.status = 0
            else:
                self.status = self.run_and_or(item, io)
        return self.status

    def _start_job(self, item: AndOr, io: ShellIO) -> None:
        """``cmd &``: run it on a thread in a forked shell, stdin empty; ``$!`` names it for ``kill``/``wait``.

        Job ids start above the kernel's pid_max, so they never collide with a program's pid.
        """
        sub = self.child()
        sub.vars, sub.exported = dict(self.vars), set(self.exported)
        sub.cancel = Cancel(parent=self.cancel)
        job = Job(next(_JOB_IDS), sub.cancel, ShellIO(Source(), io.stdout, io.stderr), _holds_output(item))

        def body() -> None:
            try:
                job.status = sub.run_and_or(item, job.io)
            except ShellExit as e:
                job.status = e.status
            except (_LoopControl, BrokenPipeError, ShellSyntaxError):
                job.status = 1
            except Exception:  # a job must never take the emulator down; the stream already closed
                job.status = 1

        job.thread = threading.Thread(target=body, daemon=True, name=f"sh-job-{job.id}")
        self.jobs[job.id] = job
        self.last_job = job.id
        job.thread.start()

    def wait_jobs(self, ids: list[int] | None = None) -> int:
        """``wait [ID…]``: the last job's status (127 for an unknown id); no ids: every job, status 0."""
        status = 0
        for jid in ids if ids is not None else list(self.jobs):
            job = self.jobs.get(jid)
            if job is None:
                status = 127
                continue
            while job.thread.is_alive() and not self.cancel.is_set():
                job.thread.join(0.05)
            status = job.status if ids is not None else 0
        return status

    def _condition(self, items: list[AndOr], io: ShellIO) -> int:
        """Run an if/while condition: set -e does not apply inside it."""
        self._testing += 1
        try:
            return self.run_list(items, io)
        finally:
            self._testing -= 1

    def run_and_or(self, ao: AndOr, io: ShellIO) -> int:
        if not ao.rest:
            return self.run_pipeline(ao.first, io)
        self._testing += 1  # all but the last pipeline of a && / || chain are tested
        try:
            status = self.run_pipeline(ao.first, io)
            for k, (op, pl) in enumerate(ao.rest):
                self.status = status
                if (op == "&&") == (status == 0):
                    if k == len(ao.rest) - 1:
                        self._testing -= 1
                        try:
                            status = self.run_pipeline(pl, io)
                        finally:
                            self._testing += 1
                    else:
                        status = self.run_pipeline(pl, io)
        finally:
            self._testing -= 1
        return status

    def run_pipeline(self, pl: Pipeline, io: ShellIO) -> int:
        if len(pl.commands) == 1:
            status = self.run_command(pl.commands[0], io)
        else:
            status = self._run_stages(pl.commands, io)
        if pl.negate:
            status = 0 if status else 1
        self.status = status
        # set -e: a failing pipeline ends the shell, except where its status is tested (if/while
        # conditions, the left side of && / ||) or inverted with !
        if self.errexit and status != 0 and not self._testing and not pl.negate:
            raise ShellExit(status)
        return status

    def _run_stages(self, commands: list[Command], io: ShellIO) -> int:
        """``a | b | c``: all stages at once, joined by bounded pipes; the earlier ones in forked shells
        (their variables do not come back), the last one in this shell, as ksh/mksh do."""
        pipes = [_Pipe() for _ in commands[:-1]]
        threads: list[threading.Thread] = []
        for k, cmd in enumerate(commands[:-1]):
            stdin = io.stdin if k == 0 else pipes[k - 1].source()
            sub = self.child()
            sub.vars, sub.exported = dict(self.vars), set(self.exported)
            stage_io = ShellIO(stdin, pipes[k].sink(), io.stderr)
            t = threading.Thread(target=self._stage, args=(sub, cmd, stage_io, pipes[k - 1] if k else None, pipes[k]),
                                 daemon=True)
            t.start()
            threads.append(t)
        try:
            status = self.run_command(commands[-1], ShellIO(pipes[-1].source(), io.stdout, io.stderr))
        finally:
            pipes[-1].close_reader()  # the stage before gets "broken pipe" from now on
            for t in threads:
                t.join()
        return status

    @staticmethod
    def _stage(sub: Shell, cmd: Command, io: ShellIO, upstream: _Pipe | None, downstream: _Pipe) -> None:
        try:
            sub.run_command(cmd, io)
        except (BrokenPipeError, ShellExit, _LoopControl):
            pass  # the reader went away (SIGPIPE), or `exit` in a stage: the stage ends either way
        finally:
            downstream.close_writer()
            if upstream is not None:
                upstream.close_reader()

    def run_command(self, cmd: Command, io: ShellIO) -> int:
        if isinstance(cmd, Simple):
            return self.run_simple(cmd, io)
        if isinstance(cmd, If):
            for cond, body in cmd.branches:
                if self._condition(cond, io) == 0:
                    return self.run_list(body, io)
            return self.run_list(cmd.orelse, io) if cmd.orelse is not None else 0
        if isinstance(cmd, For):
            items = self.args[1:] if cmd.items is None else [f for w in cmd.items for f in self.expand(w, io)]
            status = 0
            for item in items:
                if self.cancel.is_set():
                    break
                self.vars[cmd.name] = item
                status, stop = self._iteration(cmd.body, io, status)
                if stop:
                    break
            return status
        if isinstance(cmd, Case):
            subject = "".join(self.expand(cmd.subject, io, glob=False, split=False))
            for patterns, body in cmd.items:
                if any(fnmatch.fnmatchcase(subject, self._pattern(p, io)) for p in patterns):
                    return self.run_list(body, io)
            return 0
        status = 0
        while not self.cancel.is_set():
            ok = self._condition(cmd.cond, io) == 0
            if ok == cmd.until:
                break
            status, stop = self._iteration(cmd.body, io, status)
            if stop:
                break
        return status

    def _iteration(self, body: list[AndOr], io: ShellIO, status: int) -> tuple[int, bool]:
        """One loop iteration: (exit status, whether ``break`` ends the loop); ``break N``/``continue N`` go outward."""
        try:
            return self.run_list(body, io), False
        except _LoopControl as lc:
            if lc.levels > 1:
                raise _LoopControl(lc.kind, lc.levels - 1) from None
            return status, lc.kind == "break"

    # -- expansion
    def _var(self, spec: str) -> str:
        name, sep, default = spec.partition(":-")
        if name == "?":
            value = str(self.status)
        elif name == "$":
            value = str(os.getpid())
        elif name == "#":
            value = str(len(self.args) - 1)
        elif name in ("@", "*"):
            value = " ".join(self.args[1:])
        elif name == "!":
            value = str(self.last_job) if self.last_job is not None else ""
        elif name.isdigit():
            idx = int(name)
            value = self.args[idx] if idx < len(self.args) else ""
        else:
            value = self.vars.get(name, "")
        if sep and not value:
            value = default
        return value

    def _arith(self, expr: str) -> int:
        """``$(( ))``: integer arithmetic with C semantics (``/`` and ``%`` truncate toward zero)."""
        import ast
        import re as _re

        def value_of(m: _re.Match[str]) -> str:
            return self._var(m.group(1) or m.group(2))

        text = _re.sub(r"\$\{?([A-Za-z_][A-Za-z_0-9]*|[?#$0-9])\}?|\$(\w)", value_of, expr)
        text = text.replace("&&", " and ").replace("||", " or ")
        text = _re.sub(r"!(?!=)", " not ", text)
        try:
            tree = ast.parse(text.strip() or "0", mode="eval")
        except SyntaxError:
            raise ShellSyntaxError(f"arithmetic syntax error: '{expr}'") from None

        def ev(node: ast.AST) -> int:
            if isinstance(node, ast.Expression):
                return ev(node.body)
            if isinstance(node, ast.Constant) and isinstance(node.value, int):
                return int(node.value)
            if isinstance(node, ast.Name):
                raw = self.vars.get(node.id, "0") or "0"
                try:
                    return int(raw, 0)
                except ValueError:
                    raise ShellSyntaxError(f"{node.id}: bad number '{raw}'") from None
            if isinstance(node, ast.UnaryOp):
                v = ev(node.operand)
                if isinstance(node.op, ast.USub):
                    return -v
                if isinstance(node.op, ast.UAdd):
                    return v
                if isinstance(node.op, ast.Not):
                    return int(not v)
                if isinstance(node.op, ast.Invert):
                    return ~v
            if isinstance(node, ast.BoolOp):
                vals = [ev(v) for v in node.values]
                return int(all(vals) if isinstance(node.op, ast.And) else any(vals))
            if isinstance(node, ast.BinOp):
                a, b = ev(node.left), ev(node.right)
                if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and b == 0:
                    raise ShellSyntaxError("divide by zero")
                ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                       ast.Div: lambda: int(a / b), ast.FloorDiv: lambda: int(a / b),
                       ast.Mod: lambda: a - b * int(a / b), ast.LShift: lambda: a << b, ast.RShift: lambda: a >> b,
                       ast.BitAnd: lambda: a & b, ast.BitOr: lambda: a | b, ast.BitXor: lambda: a ^ b}
                if type(node.op) in ops:
                    return ops[type(node.op)]()
            if isinstance(node, ast.Compare) and len(node.ops) == 1:
                a, b = ev(node.left), ev(node.comparators[0])
                cmp = {ast.Lt: a < b, ast.LtE: a <= b, ast.Gt: a > b, ast.GtE: a >= b, ast.Eq: a == b, ast.NotEq: a != b}
                if type(node.ops[0]) in cmp:
                    return int(cmp[type(node.ops[0])])
            raise ShellSyntaxError(f"arithmetic syntax error: '{expr}'")

        return ev(tree)

    def _command_output(self, src: str, io: ShellIO) -> str:
        out = Sink()
        sub = self.child()
        # $( ) is the same shell, forked: all its variables and options, not only the exported ones
        sub.vars, sub.exported = dict(self.vars), set(self.exported)
        sub.errexit, sub.xtrace = self.errexit, self.xtrace
        sub.status = self.status
        sub.run(src, ShellIO(Source(), out, io.stderr))
        self.status = sub.status
        return bytes(out.data or b"").decode("utf-8", "replace").rstrip("\n")

    def expand(self, word: Word, io: ShellIO, *, glob: bool = True, split: bool = True) -> list[str]:
        """Expand one word into fields (variables, command output, field splitting, globbing)."""
        fields: list[list[tuple[str, bool]]] = [[]]  # each field: (text, is_literal_for_glob)
        started = False
        parts = list(word.parts)
        if parts and parts[0][0] == "lit" and not parts[0][2] and (parts[0][1] == "~" or parts[0][1].startswith("~/")):
            parts[0] = ("lit", self.vars.get("HOME", "/").rstrip("/") + parts[0][1][1:] or "/", True)  # tilde
        if split and any(p[:2] == ("var", "@") and p[2] for p in parts) and len(self.args) == 1 \
                and all(p[:2] == ("var", "@") or (p[0] == "lit" and not p[1]) for p in parts):
            return []  # "$@" without positional parameters: no field at all
        for kind, text, quoted in parts:
            if kind == "lit":
                fields[-1].append((text, quoted))
                started = True
                continue
            if kind == "var" and text == "@" and quoted and split:
                # "$@": one field per positional parameter, glued to the text around it
                for k, param in enumerate(self.args[1:]):
                    if k:
                        fields.append([])
                    fields[-1].append((param, True))
                started = True
                continue
            if kind == "var":
                value = self._var(text)
            elif kind == "arith":
                value = str(self._arith(text))
            else:
                value = self._command_output(text, io)
            if quoted or not split:
                fields[-1].append((value, True))
                started = True
                continue
            pieces = value.split()
            if not pieces:
                continue
            if value[:1].isspace() and (fields[-1] or started):
                fields.append([])
            for k, p in enumerate(pieces):
                if k:
                    fields.append([])
                fields[-1].append((p, True))
            started = True
            if value[-1:].isspace():
                fields.append([])
                started = False
        out: list[str] = []
        for f in fields:
            if not f and not (word.parts and all(q for _, _, q in word.parts)):
                continue
            text = "".join(t for t, _ in f)
            has_glob = any(not q and any(c in t for c in "*?[") for t, q in f)
            if glob and has_glob:
                matches = self._glob(f)
                out.extend(matches if matches else [text])
            else:
                out.append(text)
        if not out and word.parts and all(q for _, _, q in word.parts):
            out.append("")
        return out

    def _pattern(self, word: Word, io: ShellIO) -> str:
        """A ``case`` pattern for fnmatch: unquoted text keeps * ? [ ], quoted text and expansions match literally."""
        out = []
        for kind, text, quoted in word.parts:
            if kind == "lit" and not quoted:
                out.append(text)
                continue
            value = text if kind == "lit" else "".join(self.expand(Word([(kind, text, True)]), io, glob=False))
            out.append("".join("[" + c + "]" if c in "*?[" else c for c in value))
        return "".join(out)

    def _glob(self, field_parts: list[tuple[str, bool]]) -> list[str]:
        pattern = "".join(t if not q else "".join("[" + c + "]" if c in "*?[" else c for c in t) for t, q in field_parts)
        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        bases = ["/" if absolute else ""]
        for comp in parts:
            nxt = []
            for base in bases:
                if not any(c in comp for c in "*?["):
                    nxt.append(posixpath.join(base, comp) if base else comp)
                    continue
                try:
                    host = self.fs.resolve(base or ".", self.cwd).host
                    names = sorted(os.listdir(host))
                except (FsError, OSError):
                    continue
                for name in names:
                    if name.startswith(".") and not comp.startswith("."):
                        continue
                    if fnmatch.fnmatchcase(name, comp):
                        nxt.append(posixpath.join(base, name) if base else name)
            bases = nxt
        out = []
        for b in bases:
            try:
                if self.fs.resolve(b, self.cwd).host.exists():
                    out.append(b)
            except FsError:
                pass
        return sorted(out)

    # -- simple commands
    def _open_redirects(self, cmd: Simple, io: ShellIO) -> tuple[ShellIO, list[Sink]]:
        fds: dict[int, Sink | Source] = {0: io.stdin, 1: io.stdout, 2: io.stderr}
        opened: list[Sink] = []
        try:
            for r in cmd.redirects:
                targets = self.expand(r.target, io) if r.op != "<<" else [""]
                if len(targets) != 1:
                    raise ShellSyntaxError(f"{r.target.literal() or 'redirection'}: ambiguous redirect")
                target = targets[0]
                if r.op in (">&", "<&"):
                    if target == "-":
                        fds[r.fd] = NullSink()
                    elif target.isdigit() and int(target) in fds:
                        fds[r.fd] = fds[int(target)]
                    elif r.op == ">&" and not target.isdigit():  # >&file is &>file
                        sink = self._open_sink(target, append=False)
                        opened.append(sink)
                        fds[1] = fds[2] = sink
                    else:
                        raise ShellSyntaxError(f"{target}: bad file descriptor")
                elif r.op == "<<":
                    body = "".join(self.expand(r.target, io, glob=False, split=False))
                    fds[r.fd] = Source(body.encode("utf-8"))
                elif r.op == "<":
                    res = self.fs.resolve(target, self.cwd)
                    if not res.host.is_file():
                        raise FsError(errno.ENOENT if not res.host.exists() else errno.EISDIR, target)
                    fds[r.fd] = Source(res.host.read_bytes(), path=str(res.host))
                else:
                    sink = self._open_sink(target, append=r.op == ">>")
                    opened.append(sink)
                    if r.op == "&>":
                        fds[1] = fds[2] = sink
                    else:
                        fds[r.fd] = sink
        except BaseException:
            for s in opened:
                s.close()
            raise
        stdin = fds[0] if isinstance(fds[0], Source) else Source()
        stdout = fds[1] if isinstance(fds[1], Sink) else NullSink()
        stderr = fds[2] if isinstance(fds[2], Sink) else NullSink()
        return ShellIO(stdin, stdout, stderr), opened

    def _open_sink(self, target: str, append: bool) -> Sink:
        if target == "/dev/null":
            return NullSink()
        res = self.fs.resolve(target, self.cwd, write=True)
        if res.host.is_dir():
            raise FsError(errno.EISDIR, target)
        if not res.host.parent.is_dir():
            raise FsError(errno.ENOENT, target)
        return FileSink(self.fs, str(res.host), append)

    def run_simple(self, cmd: Simple, io: ShellIO) -> int:
        from .builtins import BUILTINS
        from .programs import run_path

        if self.cancel.is_set():
            return 130
        argv: list[str] = []
        for w in cmd.words:
            argv.extend(self.expand(w, io))
        assigns = {name: "".join(self.expand(value, io, glob=False, split=False)) for name, value in cmd.assigns}
        if self.xtrace:
            io.err("+ " + " ".join([f"{k}={shlex.quote(v)}" for k, v in assigns.items()] + [shlex.quote(a) for a in argv]) + "\n")
        try:
            cio, opened = self._open_redirects(cmd, io)
        except (FsError, ShellSyntaxError) as e:
            io.err(f"{SH}: {e}\n")
            return 1
        try:
            if not argv:
                self.vars.update(assigns)
                return 0
            name = argv[0]
            if "/" not in name and name in BUILTINS:
                # A prefix assignment is in the command's environment only for that command.
                saved = {k: self.vars.get(k) for k in assigns}
                newly_exported = set(assigns) - self.exported
                self.vars.update(assigns)
                self.exported |= newly_exported
                try:
                    return BUILTINS[name](self, argv, cio)
                finally:
                    self.exported -= newly_exported
                    for k, v in saved.items():
                        if v is None:
                            self.vars.pop(k, None)
                        else:
                            self.vars[k] = v
            env = self.env()
            env.update(assigns)
            return run_path(self, argv, cio, env)
        except FsError as e:
            cio.err(f"{argv[0] if argv else SH}: {e}\n")
            return 1
        finally:
            for s in opened:
                s.close()
