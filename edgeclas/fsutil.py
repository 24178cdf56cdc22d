"""Filesystem helpers: sha256, atomic file writes and atomic directory publishing.

Stages never leave half-written outputs: files are written beside their target and renamed into
place; whole output directories are built in a sibling temporary directory and swapped in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import ConfigError

__all__ = [
    "sha256_file",
    "file_digest",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "append_jsonl",
    "json_text",
    "read_yaml",
    "printable_name",
    "is_utf8_name",
    "staging_dir",
    "safe_name",
]

_CHUNK = 1 << 20
# os.fsdecode turns each byte of a file name that is not UTF-8 into a lone surrogate (U+DC80..U+DCFF)
_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_name(text: str) -> str:
    """``text`` as one file-name component: every character outside ``A-Za-z0-9_.-`` becomes ``_``
    (a device serial such as ``127.0.0.1:5555`` or a model name with spaces)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def sha256_file(path: str | os.PathLike[str]) -> str:
    return file_digest(path, "sha256")


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex ``sha256`` or ``md5`` of a file, or (``size``) its size in bytes as text."""
    if algorithm == "size":
        return str(os.path.getsize(path))
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def is_utf8_name(name: str) -> bool:
    """False for a file name whose bytes are not UTF-8 (``os.fsdecode`` left lone surrogates in it)."""
    return not _SURROGATE.search(name)


def printable_name(name: str) -> str:
    """A file name as text that can be printed or stored anywhere: bytes that are not UTF-8 become ``\\xNN``
    (``b"x\\xff.png"`` → ``x\\xff.png``); other names are returned as they are."""
    return name if is_utf8_name(name) else os.fsencode(name).decode("utf-8", "backslashreplace")


_YAML_MAX = 16 << 20  # recipes and pipelines are a few KiB


def read_yaml(path: str | os.PathLike[str], what: str) -> Any:
    """A YAML file (a recipe, a pipeline, a device profile) as Python data; a :class:`ConfigError` naming
    the file, and the line when YAML knows it, when it cannot be read, is not UTF-8 text or is not YAML."""
    import yaml

    p = Path(path)
    if p.exists() and not p.is_file():  # a folder, or /dev/zero and friends, which would be read forever
        raise ConfigError(f"{p}: not a regular file; a {what} is a YAML file")
    if p.is_file() and p.stat().st_size > _YAML_MAX:
        raise ConfigError(f"{p}: {p.stat().st_size} bytes is not a {what} (at most {_YAML_MAX >> 20} MiB)",
                          hint=f"pass the {what} file itself, not a binary or an archive")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the {what} ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not a text file (byte {e.start} is not UTF-8); a {what} is YAML text",
                          hint=f"pass the {what} file itself, not a binary or an archive") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}{line}: not valid YAML ({getattr(e, 'problem', None) or e})") from None


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_text(obj: Any, *, indent: int | None = None) -> str:
    """``obj`` as strict JSON text, the form of every JSON file edgeclas writes.

    NaN and ±inf are not JSON (``json.dumps`` writes bare ``NaN`` tokens other parsers reject): they
    become ``null``. A file name that is not UTF-8 reaches Python as ``str`` with lone surrogates
    (``os.fsdecode``); those are written as ``\\udcXX`` escapes, so the text stays valid UTF-8 and
    ``json.loads`` gives back the very same ``str`` (``os.fsencode`` of it: the original bytes).
    """
    seps = (",", ": ") if indent is not None else (",", ":")
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, indent=indent, separators=seps)
    except ValueError:  # a non-finite float somewhere
        text = json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False, indent=indent, separators=seps)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json_text(obj, indent=2) + "\n")


def append_jsonl(path: str | os.PathLike[str], obj: Any) -> None:
    """Append one JSON object as a single line with one ``write`` (O_APPEND), then fsync.

    A reader never sees a partial line unless the process dies inside the write itself; readers
    of JSONL files written here skip a final line without a newline.
    """
    line = (json_text(obj) + "\n").encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def staging_dir(target: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Yield a fresh sibling directory; on success it replaces ``target``, on error it is removed.

    >>> with staging_dir("out/model") as tmp:   # doctest: +SKIP
    ...     (tmp / "a.txt").write_text("x")       # out/model appears only if this block succeeds
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        if not replace:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(target)
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
