"""Fetching SDK artifacts: pinned sha256, registry clients, plain HTTP(S), and archive extraction that cannot escape.

Every SDK artifact edgeclas installs is named in a table with its sha256; a file whose digest differs is
deleted and rejected. Archives are extracted member by member after checking each one: no absolute
paths, no ``..``, no links pointing outside the target, no device files, bounded size and count.
Extraction goes to a staging directory that replaces the target only when everything succeeded.
Debian packages (``.deb``, fetched with ``apt-get download``) are read in Python: the ``ar``
container is parsed here and its ``data.tar.*`` goes through the same checked extraction.

:func:`fetch_url` is for files published at a plain address without a digest (PaddleClas's pretrained
weights): it resumes an interrupted download, checks the size the server announced, lets the caller
validate the content, and only then gives the file its final name.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ToolchainError
from ..fsutil import sha256_file, staging_dir

__all__ = [
    "Artifact",
    "UnsafeArchiveError",
    "verify_sha256",
    "fetch",
    "safe_extract",
    "fetch_url",
    "partial_path",
    "DownloadError",
    "MAX_TOTAL_BYTES",
    "MAX_MEMBERS",
    "deb_data_tar",
    "DEB_ARCH",
]

# Bounds for extraction: large enough for an NDK (~2 GB unpacked, ~10k files per toolchain dir would
# be more; the NDK itself is installed by the user), small enough to stop a zip bomb early.
MAX_TOTAL_BYTES = 4 << 30
MAX_MEMBERS = 200_000


class UnsafeArchiveError(ToolchainError):
    """An archive member would land outside the target directory, or the archive is too big."""


class DownloadError(ToolchainError):
    """A plain HTTP(S) download failed (unreachable, refused, cut short, or not what was expected)."""


@dataclass(frozen=True)
class Artifact:
    """One downloadable file, pinned by sha256.

    ``via`` says which registry client fetches it: ``pip`` (``spec`` is the requirement, ``args`` extra
    pip options such as ``--platform``), ``npm`` (``spec`` is ``name@version``, fetched with
    ``npm pack``) or ``apt`` (``spec`` is ``package:debian-arch=version``, fetched with ``apt-get
    download`` from the Debian mirrors this machine's apt uses, through a private package index so the
    system's architectures and lists stay untouched). Nothing is fetched from a plain URL: only
    registries are reachable where edgeclas is tested, and nothing unpinned is downloaded.
    """

    name: str  # file name as the client writes it
    via: str
    spec: str
    sha256: str
    args: tuple[str, ...] = ()
    size: int = 0  # bytes, for messages only


def verify_sha256(path: str | os.PathLike[str], expected: str, *, delete: bool = True) -> None:
    """Raise :class:`ToolchainError` (and delete the file) when ``path``'s sha256 is not ``expected``."""
    got = sha256_file(path)
    if got != expected.lower():
        if delete:
            Path(path).unlink(missing_ok=True)
        raise ToolchainError(
            f"{path}: sha256 mismatch (expected {expected}, got {got}); the file was "
            + ("deleted" if delete else "left in place"),
            hint="the download is corrupt or not the pinned release; retry, or check where it came from",
        )


def fetch(artifact: Artifact, dest_dir: str | os.PathLike[str], *, timeout: int = 900) -> Path:
    """Bring ``artifact`` into ``dest_dir`` (reusing a verified copy) and return its path."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / artifact.name
    if path.is_file():
        try:
            verify_sha256(path, artifact.sha256)
            return path
        except ToolchainError:
            pass  # stale or partial copy: fetch again
    tmp = Path(dest_dir / f".{artifact.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        got = _FETCHERS[artifact.via](artifact, tmp, timeout)
        verify_sha256(got, artifact.sha256)
        os.replace(got, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _run_client(cmd: list[str], what: str, timeout: int, cwd: Path | None = None) -> None:
    exe = shutil.which(cmd[0]) if not os.path.isabs(cmd[0]) else cmd[0]
    if not exe:
        raise ToolchainError(f"'{cmd[0]}' is not on PATH; it is needed to fetch {what}",
                             hint=f"apt-get install {cmd[0]}")
    try:
        out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"fetching {what} timed out after {timeout} s",
                             hint="check the network connection to the package registry and retry") from None
    if out.returncode != 0:
        tail = " | ".join((out.stderr or out.stdout).strip().splitlines()[-3:])
        raise ToolchainError(f"fetching {what} failed ({' '.join(cmd[:3])} …): {tail}",
                             hint="this needs access to the package registry; offline, copy the file into the "
                                  "edgeclas cache by hand (see docs/sdk.md)")


def _single_file(directory: Path, artifact: Artifact) -> Path:
    path = directory / artifact.name
    if not path.is_file():
        found = ", ".join(p.name for p in directory.iterdir()) or "nothing"
        raise ToolchainError(f"fetching {artifact.spec} produced {found}, not {artifact.name}",
                             hint="the registry serves a different file than the pinned one; update the pin table")
    return path


def _fetch_pip(a: Artifact, tmp: Path, timeout: int) -> Path:
    _run_client([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "--disable-pip-version-check", "-q", *a.args, "-d", str(tmp), a.spec], a.spec, timeout)
    return _single_file(tmp, a)


def _fetch_npm(a: Artifact, tmp: Path, timeout: int) -> Path:
    _run_client(["npm", "pack", "--silent", "--pack-destination", str(tmp), a.spec], a.spec, timeout)
    return _single_file(tmp, a)


# Debian's names for the ARM architectures edgeclas emulates.
DEB_ARCH = {"aarch64": "arm64", "armv7": "armhf"}


def _apt_state() -> Path:
    """A private apt state (package lists, cache) in the edgeclas cache: foreign-architecture indexes are
    fetched there, never into the system's lists, and no ``dpkg --add-architecture`` is needed."""
    from ..paths import cache_dir

    root = cache_dir("sdk", "apt")
    for sub in ("lists/partial", "cache/archives/partial"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "status").touch()
    return root


def _apt_options(state: Path) -> list[str]:
    opts = [f"Dir::State::Lists={state / 'lists'}", f"Dir::State::status={state / 'status'}",
            f"Dir::Cache={state / 'cache'}", "Debug::NoLocking=true", "Acquire::Languages=none",
            "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
            "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"]
    # Only the ARM indexes: the sources stay the system's (its mirrors, proxies and keys).
    opts += [f"APT::Architectures::={a}" for a in DEB_ARCH.values()]
    if os.geteuid() == 0:
        opts.append("APT::Sandbox::User=root")  # the private dirs are root's; apt's _apt user cannot write them
    return [w for o in opts for w in ("-o", o)]


def _fetch_apt(a: Artifact, tmp: Path, timeout: int) -> Path:
    state = _apt_state()
    opts = _apt_options(state)
    try:
        _run_client(["apt-get", "-q", *opts, "download", a.spec], a.spec, timeout, cwd=tmp)
    except ToolchainError:
        # First use, or the index is older than the pin: refresh the private index once and retry. A
        # suite whose index fails (a mirror mid-sync, seen for armhf) does not matter when the pinned
        # package is in another one, so the update's failure only counts if the download fails too.
        update_problem = ""
        try:
            _run_client(["apt-get", "-q", *opts, "update"], "the Debian package index", timeout)
        except ToolchainError as e:
            update_problem = f" (the index update also said: {e.message})"
        try:
            _run_client(["apt-get", "-q", *opts, "download", a.spec], a.spec, timeout, cwd=tmp)
        except ToolchainError as e:
            raise ToolchainError(e.message + update_problem,
                                 hint="the pinned Debian package is not on this machine's apt mirrors (a newer "
                                 "point release replaced it?): update the pin table, or put the pinned file "
                                 f"{a.name} into the edgeclas cache's sdk/downloads/ by hand") from None
    return _single_file(tmp, a)


_FETCHERS: dict[str, Callable[[Artifact, Path, int], Path]] = {
    "pip": _fetch_pip,
    "npm": _fetch_npm,
    "apt": _fetch_apt,
}


def deb_data_tar(deb: str | os.PathLike[str], dest_dir: str | os.PathLike[str]) -> Path:
    """Copy the ``data.tar.*`` member of a Debian package into ``dest_dir``; returns its path.

    A ``.deb`` is an ``ar`` archive: the magic ``!<arch>\\n``, then per member a 60-byte header (name
    16, mtime 12, uid 6, gid 6, mode 8, size 10, ``\\x60\\n``) and the data padded to an even size.
    """
    deb = Path(deb)
    with open(deb, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ToolchainError(f"{deb}: not a Debian package (no ar magic)")
        while True:
            head = f.read(60)
            if len(head) < 60:
                break
            if head[58:60] != b"\x60\n":
                raise ToolchainError(f"{deb}: damaged ar member header")
            name = head[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(head[48:58].decode("ascii").strip())
            except ValueError:
                raise ToolchainError(f"{deb}: damaged ar member size for '{name}'") from None
            if name.startswith("data.tar"):
                out = Path(dest_dir) / name
                with open(out, "wb") as w:
                    left = size
                    while left:
                        block = f.read(min(left, _COPY_BLOCK))
                        if not block:
                            raise ToolchainError(f"{deb}: member '{name}' is truncated")
                        w.write(block)
                        left -= len(block)
                return out
            f.seek(size + (size & 1), os.SEEK_CUR)
    raise ToolchainError(f"{deb}: no data.tar member")


_COPY_BLOCK = 1 << 20


# ----------------------------------------------------------------------------------------------
# Plain HTTP(S), resumable

_BLOCK = 1 << 16


def partial_path(dest: str | os.PathLike[str]) -> Path:
    """Where :func:`fetch_url` keeps the bytes of an unfinished download of ``dest`` (hidden, beside it)."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.partial")


def fetch_url(url: str, dest: str | os.PathLike[str], *, validate: Callable[[Path], None] | None = None,
              timeout: float = 60.0, progress: bool = True, what: str | None = None) -> Path:
    """Download ``url`` to ``dest``; the file appears under its final name only when complete and valid.

    The bytes go to :func:`partial_path` first. An interrupted download leaves them there and a later
    call resumes with an HTTP ``Range`` request (a server that ignores it starts over). The finished
    file must have the size the server announced; ``validate(path)`` may then reject the content
    (raise), which deletes it. Concurrent callers for the same ``dest`` wait for each other (flock).
    A progress bar goes to stderr when ``progress`` and stderr is a terminal.
    """
    import fcntl
    import urllib.error
    import urllib.request

    dest = Path(dest)
    what = what or dest.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest)
    with open(dest.with_name(f".{dest.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if dest.is_file():  # another process finished it while we waited
            return dest
        have = part.stat().st_size if part.is_file() else 0
        req = urllib.request.Request(url, headers={"User-Agent": "edgeclas", **({"Range": f"bytes={have}-"} if have else {})})
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - http(s) addresses from a fixed table
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # asked past the end: the partial file is already whole
                resp = None
            else:
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason} while fetching {what}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(f"{url}: cannot connect ({reason}) while fetching {what}") from None
        total = have
        if resp is not None:
            with resp:
                if resp.status == 200:
                    have = 0  # the server ignored the Range header: start over
                length = resp.headers.get("Content-Length")
                total = have + int(length) if length is not None and length.isdigit() else None
                _stream(resp, part, have, total, what, progress, url)
        got = part.stat().st_size
        if total is not None and got != total:
            raise DownloadError(f"{url}: got {got} of {total} bytes of {what}; the rest is kept in {part}",
                                hint="run the same command again to resume the download")
        if validate is not None:
            try:
                validate(part)
            except BaseException:
                part.unlink(missing_ok=True)
                raise
        os.replace(part, dest)
    return dest


def _stream(resp, part: Path, have: int, total: int | None, what: str, progress: bool, url: str) -> None:
    import http.client

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    console = Console(stderr=True)
    bar = Progress(TextColumn(f"downloading {what}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   console=console, transient=True, disable=not (progress and console.is_terminal))
    with bar, open(part, "ab" if have else "wb") as out:
        task = bar.add_task("", total=total, completed=have)
        while True:
            try:
                block = resp.read(_BLOCK)
            except (OSError, http.client.HTTPException) as e:  # reset, timeout or cut short: keep what arrived
                out.flush()
                raise DownloadError(f"{url}: connection lost after {out.tell()} bytes of {what} ({e})",
                                    hint="run the same command again to resume the download") from None
            if not block:
                break
            out.write(block)
            bar.advance(task, len(block))
        out.flush()
        os.fsync(out.fileno())


# ----------------------------------------------------------------------------------------------
# Safe extraction

@dataclass(frozen=True)
class _Member:
    name: str  # normalised relative posix path inside the target
    kind: str  # "file" | "dir" | "symlink" | "hardlink"
    size: int
    link: str = ""
    mode: int = 0o644


def _normalise(name: str, archive: Path) -> str:
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member '{name}' has an absolute path; refusing to extract",
                                 hint="the archive is malformed or hostile; get it from the official source")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member '{name}' contains '..'; refusing to extract",
                                 hint="the archive is malformed or hostile; get it from the official source")
    return "/".join(parts)


def _inside(rel_target: str) -> bool:
    norm = posixpath.normpath(rel_target)
    return not (norm == ".." or norm.startswith("../") or norm.startswith("/"))


def _check_link(m: _Member, archive: Path) -> None:
    if m.kind == "symlink":
        if m.link.startswith("/") or not _inside(posixpath.join(posixpath.dirname(m.name), m.link)):
            raise UnsafeArchiveError(f"{archive}: symlink '{m.name}' -> '{m.link}' points outside the target; "
                                     "refusing to extract",
                                     hint="the archive is malformed or hostile; get it from the official source")
    elif m.kind == "hardlink":
        if m.link.startswith("/") or not _inside(m.link):
            raise UnsafeArchiveError(f"{archive}: hard link '{m.name}' -> '{m.link}' points outside the target; "
                                     "refusing to extract",
                                     hint="the archive is malformed or hostile; get it from the official source")


def _tar_members(tf: tarfile.TarFile, archive: Path) -> list[tuple[_Member, tarfile.TarInfo]]:
    out = []
    for ti in tf.getmembers():
        name = _normalise(ti.name, archive)
        if ti.isdir():
            kind = "dir"
        elif ti.isreg():
            kind = "file"
        elif ti.issym():
            kind = "symlink"
        elif ti.islnk():
            kind = "hardlink"
        else:
            raise UnsafeArchiveError(f"{archive}: member '{ti.name}' is a device, fifo or other special file; "
                                     "refusing to extract")
        link = _normalise(ti.linkname, archive) if kind == "hardlink" else ti.linkname
        out.append((_Member(name, kind, ti.size if kind == "file" else 0, link, ti.mode & 0o755), ti))
    return out


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> list[tuple[_Member, zipfile.ZipInfo]]:
    out = []
    for zi in zf.infolist():
        name = _normalise(zi.filename, archive)
        unix_mode = zi.external_attr >> 16
        if zi.is_dir():
            kind, link = "dir", ""
        elif stat.S_ISLNK(unix_mode):
            kind, link = "symlink", zf.read(zi).decode("utf-8", "replace")
        else:
            kind, link = "file", ""
        out.append((_Member(name, kind, zi.file_size, link, (unix_mode & 0o755) or 0o644), zi))
    return out


def safe_extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    select: Callable[[str], str | None] | None = None,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_members: int = MAX_MEMBERS,
) -> list[str]:
    """Extract a tar (any compression) or zip ``archive`` into ``dest`` atomically; return written paths.

    ``select(name)`` maps a member's relative path to its path under ``dest`` (or None to skip it),
    e.g. ``headers/x.h`` → ``include/x.h``. Every member is checked before anything is written, so a
    rejected archive leaves ``dest`` untouched.
    """
    archive = Path(archive)
    if zipfile.is_zipfile(archive):
        opener, lister = zipfile.ZipFile, _zip_members
    elif tarfile.is_tarfile(archive):
        opener, lister = tarfile.open, _tar_members
    else:
        raise ToolchainError(f"{archive}: not a zip or tar archive")
    with opener(archive) as af:  # type: ignore[operator]
        members = lister(af, archive)
        if len(members) > max_members:
            raise UnsafeArchiveError(f"{archive}: {len(members)} members, more than the limit of {max_members}")
        chosen = []
        total = 0
        links: set[str] = set()
        files: set[str] = set()
        for m, info in members:
            target = select(m.name) if select else m.name
            if target is None or target == "":
                continue
            target = _normalise(target, archive)
            m = _Member(target, m.kind, m.size, m.link, m.mode)
            _check_link(m, archive)
            # Never write through a link the archive made: that is how lexical checks get fooled.
            parts = m.name.split("/")
            if any("/".join(parts[:i]) in links for i in range(1, len(parts) + 1)):
                raise UnsafeArchiveError(f"{archive}: member '{m.name}' would be written through a link; refusing")
            if m.kind == "hardlink" and m.link not in files:
                raise UnsafeArchiveError(f"{archive}: hard link '{m.name}' refers to '{m.link}', "
                                         "which is not an earlier regular file; refusing")
            if m.kind == "symlink":
                links.add(m.name)
            elif m.kind in ("file", "hardlink"):
                files.add(m.name)
            total += m.size
            if total > max_total_bytes:
                raise UnsafeArchiveError(f"{archive}: unpacks to more than {max_total_bytes >> 20} MiB; refusing")
            chosen.append((m, info))
        written = []
        with staging_dir(dest) as tmp:
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the result is an ordinary shared directory
            for m, info in chosen:
                out = tmp / m.name
                if m.kind == "dir":
                    out.mkdir(mode=0o755, parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                if m.kind == "symlink":
                    os.symlink(m.link, out)
                elif m.kind == "hardlink":
                    shutil.copyfile(tmp / m.link, out)
                else:
                    src_f = af.open(info) if isinstance(af, zipfile.ZipFile) else af.extractfile(info)
                    with src_f as r, open(out, "wb") as w:
                        copied = _bounded_copy(r, w, m.size, archive, m.name)
                    if copied != m.size:
                        raise UnsafeArchiveError(f"{archive}: member '{m.name}' is truncated or lies about its size")
                    os.chmod(out, m.mode | 0o600)
                written.append(m.name)
            # Symlinks may chain through each other; only the resolved path tells where one ends.
            root = os.path.realpath(tmp)
            for m, _ in chosen:
                if m.kind == "symlink":
                    real = os.path.realpath(tmp / m.name)
                    if real != root and not real.startswith(root + os.sep):
                        raise UnsafeArchiveError(f"{archive}: symlink '{m.name}' -> '{m.link}' resolves outside "
                                                 "the target; refusing to extract")
    return written


def _bounded_copy(r, w, declared: int, archive: Path, name: str) -> int:
    # A zip header can understate the size; stop copying past what was declared.
    copied = 0
    while True:
        block = r.read(1 << 20)
        if not block:
            return copied
        copied += len(block)
        if copied > declared:
            raise UnsafeArchiveError(f"{archive}: member '{name}' is larger than its header says; refusing")
        w.write(block)
