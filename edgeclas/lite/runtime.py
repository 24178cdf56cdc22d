"""How edgeclas reaches Paddle Lite: three routes, tried in order, and the compat runtime it sets up.

(a) ``opt-bin``: an opt executable the user names (``--opt-bin``, ``$EDGECLAS_LITE_OPT``) or one on
    PATH (``paddle_lite_opt``, ``opt_linux``; a bare ``opt`` on PATH is usually LLVM's, so it must be
    named explicitly). Converts only; it cannot run models.
(b) ``module``: an importable ``paddlelite`` on a Python the wheel supports (≤ 3.10).
(c) ``compat``: PyPI's cp310 ``paddlelite==2.13rc0`` wheel unpacked into the edgeclas cache with
    numpy < 2 for this interpreter and a version shim compiled from ``shim/pyversion_shim.c``,
    preloaded into a separate worker process (never this one); the unpacked ``lite.so`` has its
    ``Py_GetVersion`` import renamed to the shim's symbol (see the shim's comment for why).

Everything that touches Paddle Lite runs in a subprocess with a timeout (:func:`run_worker`,
:func:`run_opt_bin`); a failure keeps stderr and reports its last meaningful lines, a crash names
the signal.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConversionError, ToolchainError
from ..fsutil import sha256_file, staging_dir
from ..paths import cache_dir
from ..sdk.download import safe_extract
from .worker import read_message

__all__ = [
    "LITE_VERSION",
    "COMPAT_NAME",
    "OPT_ENV",
    "Route",
    "RouteStatus",
    "compat_dir",
    "compat_route",
    "install_compat",
    "route_statuses",
    "resolve_route",
    "run_worker",
    "run_opt_bin",
    "worker_command",
    "summarize_stderr",
    "describe_returncode",
    "parse_opt_version",
]

LITE_VERSION = "v2.13-rc"
COMPAT_NAME = "paddlelite-2.13rc0-compat"

# The only Paddle Lite wheel that exists for a Python we can still run (cp310, x86_64 Linux).
_WHEEL_REQ = "paddlelite==2.13rc0"
_WHEEL_FILE = "paddlelite-2.13rc0-cp310-cp310-manylinux1_x86_64.whl"
_WHEEL_SHA256 = "b1e6081c4154e50479426df9c7390c0d1d99dd9d832a270d1fe925894768fb62"
_WHEEL_MAX_BYTES = 512 << 20  # unpacked size limit (the real wheel unpacks to ~175 MB)
_LAYOUT = 2  # bump when the compat runtime's contents change: older ones are set up again
_SHIM_NAME = "libpyversion_shim.so"
_SHIM_SYMBOL = b"EdgeclasPyVer"  # defined by shim/pyversion_shim.c; as long as b"Py_GetVersion"
OPT_ENV = "EDGECLAS_LITE_OPT"
_OPT_PATH_NAMES = ("paddle_lite_opt", "opt_linux")
_WORKER = Path(__file__).with_name("worker.py")
_SHIM_SRC = Path(__file__).with_name("shim") / "pyversion_shim.c"
_INSTALL_HINT = "edgeclas sdk install lite-opt"


@dataclass(frozen=True)
class Route:
    """A usable way to Paddle Lite. ``opt-bin`` routes convert only; the others also run ``.nb`` models."""

    kind: str  # "opt-bin" | "module" | "compat"
    where: str  # the opt executable, or the directory the paddlelite package is imported from
    why: str
    version: str = ""
    python_paths: tuple[str, ...] = ()
    preload: str = ""
    source: str = ""  # as the SDK layer says it: flag | env | system | cache

    @property
    def can_run_models(self) -> bool:
        return self.kind != "opt-bin"


@dataclass(frozen=True)
class RouteStatus:
    kind: str
    found: bool
    where: str = ""
    version: str = ""
    how: str = ""
    note: str = ""


@dataclass
class _Probe:
    """What was found for each route, with the reason a route is missing."""

    routes: list[Route] = field(default_factory=list)
    missing: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> (note, how)


def compat_dir() -> Path:
    return cache_dir("sdk", COMPAT_NAME)


def _py_tag() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def compat_route() -> Route | None:
    """The installed compat runtime if it is complete and made for this interpreter, else None."""
    root = compat_dir()
    try:
        info = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    paths = (root / "numpy", root / "site")
    complete = all(p.is_dir() for p in paths) and (root / _SHIM_NAME).is_file()
    if info.get("layout") != _LAYOUT or info.get("python") != _py_tag() or not complete:
        return None
    return Route(
        "compat",
        str(root / "site"),
        f"compat runtime: Python {_py_tag()} has no paddlelite wheel; set up in {root}",
        info.get("lite_version", LITE_VERSION),
        tuple(str(p) for p in paths),
        str(root / _SHIM_NAME),
        "cache",
    )


def _opt_bin_candidate(opt_bin: str | os.PathLike[str] | None) -> tuple[str, str, str] | None:
    """(path, how it was found, SDK source) for route (a); a named but unusable binary is an error, not a fallthrough."""
    for value, source, kind in ((opt_bin, "--opt-bin", "flag"), (os.environ.get(OPT_ENV), f"${OPT_ENV}", "env")):
        if value:
            path = shutil.which(str(value)) or (str(value) if os.path.isfile(value) else None)
            if not path or not os.access(path, os.X_OK):
                raise ToolchainError(
                    f"{source} {value}: not an executable file",
                    hint=f"point {source} at Paddle Lite's opt (or unset it to use the compat runtime)",
                )
            return str(Path(path).resolve()), f"given by {source}", kind
    for name in _OPT_PATH_NAMES:
        path = shutil.which(name)
        if path:
            return path, f"'{name}' found on PATH", "system"
    return None


# Paddle Lite prints its version as "v2.13-rc" (paddle_lite_opt --version) or "opt version:v2.13-rc" (C++ opt's
# help); anything else with digits (a gflags version, a path) must not be taken for it.
_VERSION_RE = re.compile(r"(?:\bversion[:\s]*|(?<![\w.]))(v\d+\.\d+(?:\.\d+)?(?:-?rc\d*)?)(?![\w.])", re.I)


def parse_opt_version(text: str) -> str:
    """The Paddle Lite version in an opt's ``--version``/help text, or "" when it names none."""
    m = _VERSION_RE.search(text)
    return m.group(1) if m else ""


def _opt_bin_version(path: str) -> str:
    for args in (["--version"], []):  # the C++ opt prints its version with its help (no arguments)
        try:
            out = subprocess.run([path, *args], capture_output=True, text=True, timeout=30,
                                 stdin=subprocess.DEVNULL, errors="replace")
        except (OSError, subprocess.TimeoutExpired):
            return ""
        version = parse_opt_version(out.stdout + "\n" + out.stderr)
        if version:
            return version
    return ""


def _probe(opt_bin: str | os.PathLike[str] | None = None) -> _Probe:
    probe = _Probe()
    cand = _opt_bin_candidate(opt_bin)
    if cand:
        path, why, source = cand
        probe.routes.append(Route("opt-bin", path, f"opt binary {why}", _opt_bin_version(path), source=source))
    else:
        probe.missing["opt-bin"] = (
            f"no --opt-bin, no ${OPT_ENV}, no {' / '.join(_OPT_PATH_NAMES)} on PATH",
            f"set {OPT_ENV}=/path/to/opt (Paddle Lite {LITE_VERSION} release asset)",
        )
    spec = importlib.util.find_spec("paddlelite")
    if spec and spec.submodule_search_locations and sys.version_info[:2] <= (3, 10):
        where = str(Path(list(spec.submodule_search_locations)[0]).parent)
        try:
            version = importlib.metadata.version("paddlelite")
        except importlib.metadata.PackageNotFoundError:
            version = ""
        probe.routes.append(
            Route("module", where, f"paddlelite importable on Python {_py_tag()}", version, (where,), source="system"))
    else:
        why = (
            f"Python {_py_tag()} has no paddlelite wheel (PyPI stops at cp310)"
            if sys.version_info[:2] > (3, 10)
            else "paddlelite is not installed"
        )
        probe.missing["module"] = (why, "pip install paddlelite==2.13rc0  (Python <= 3.10 only)")
    route = compat_route()
    if route:
        probe.routes.append(route)
    else:
        probe.missing["compat"] = (f"not set up in {compat_dir()}", _INSTALL_HINT)
    return probe


def route_statuses(opt_bin: str | os.PathLike[str] | None = None) -> list[RouteStatus]:
    """Every route, found or missing, for doctor; never installs anything."""
    try:
        probe = _probe(opt_bin)
    except ToolchainError as e:  # a broken $EDGECLAS_LITE_OPT is a row, not a crash
        return [RouteStatus("opt-bin", False, how=e.hint or "", note=e.message)]
    rows = [RouteStatus(r.kind, True, r.where, r.version, note=r.why) for r in probe.routes]
    rows += [RouteStatus(k, False, how=how, note=note) for k, (note, how) in probe.missing.items()]
    order = ("opt-bin", "module", "compat")
    return sorted(rows, key=lambda r: order.index(r.kind))


def resolve_route(opt_bin: str | os.PathLike[str] | None = None, *, run_models: bool = False) -> Route:
    """The first usable route in the order opt-bin → module → compat. Never installs anything: the compat
    runtime is set up by ``edgeclas sdk install lite-opt`` (``make setup`` runs it), and its absence is an
    error naming that command."""
    probe = _probe(None if run_models else opt_bin)
    for route in probe.routes:
        if run_models and not route.can_run_models:
            continue
        return route
    raise ToolchainError(
        "no way to reach Paddle Lite: " + "; ".join(note for note, _ in probe.missing.values()),
        hint=f"run: {_INSTALL_HINT}   (or set {OPT_ENV})",
    )


# ---------------------------------------------------------------------------------------------
# The compat runtime


def install_compat(*, force: bool = False, log=None) -> Route:
    """Set up route (c) once in the cache (pip download + sha256 + safe unzip + numpy<2 + shim); reused after."""
    if not force and compat_route():
        return compat_route()
    root = compat_dir()
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:  # concurrent test runs: one sets it up
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and compat_route():
            return compat_route()
        return _install_compat(log)


def _install_compat(log) -> Route:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise ToolchainError(
            f"the paddlelite wheel exists for x86_64 Linux only; this is {sys.platform} {platform.machine()}",
            hint=f"use an opt binary built for this machine: --opt-bin PATH or ${OPT_ENV}",
        )
    if sys.version_info[:2] > (3, 12):
        raise ToolchainError(
            f"Python {_py_tag()}: numpy < 2 (which the 2.13rc0 runtime needs) has no wheel for it",
            hint=f"run edgeclas from Python 3.10-3.12, or set ${OPT_ENV}",
        )
    say = log or (lambda msg: print(msg, file=sys.stderr))
    root = compat_dir()
    with staging_dir(root) as tmp:
        os.chmod(tmp, 0o755)
        say(f"setting up the Paddle Lite compat runtime in {root} (once) ...")
        wheel = _download_wheel(tmp / "download")
        safe_extract(wheel, tmp / "site", max_total_bytes=_WHEEL_MAX_BYTES)
        shutil.rmtree(tmp / "download")
        _rename_import(tmp / "site" / "paddlelite" / "lite.so", b"Py_GetVersion", _SHIM_SYMBOL)
        _pip(["install", "--target", str(tmp / "numpy"), "--python-version", _py_tag(), "--only-binary=:all:",
              "--no-deps", "numpy<2"], "numpy<2 for the worker")
        shim = _compile_shim(tmp / _SHIM_NAME)
        paths = (str(tmp / "numpy"), str(tmp / "site"))
        info = run_worker(Route("compat", str(tmp / "site"), "smoke test", "", paths, str(shim)), ["info"], timeout=120)
        (tmp / "manifest.json").write_text(json.dumps({
            "kind": "sdk", "name": "lite-opt", "route": "compat", "python": _py_tag(),
            "lite_version": info["lite"], "numpy": info["numpy"], "wheel": _WHEEL_FILE,
            "wheel_sha256": _WHEEL_SHA256, "shim_sha256": sha256_file(shim), "layout": _LAYOUT,
            "lite_so_sha256": sha256_file(tmp / "site" / "paddlelite" / "lite.so"),
        }, indent=2) + "\n")
    route = compat_route()
    assert route is not None  # just written
    say(f"compat runtime ready: Paddle Lite {route.version}, numpy {info['numpy']}")
    return route


def _pip(args: list[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q", *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"pip timed out fetching {what}", hint="check access to PyPI, then retry") from None
    if out.returncode != 0:
        raise ToolchainError(
            f"pip could not fetch {what}: {summarize_stderr(out.stderr)}",
            hint=f"check access to PyPI (or a mirror via PIP_INDEX_URL), then: {_INSTALL_HINT}",
        )


def _download_wheel(dest: Path) -> Path:
    _pip(["download", _WHEEL_REQ, "--python-version", "3.10", "--only-binary=:all:", "--no-deps", "-d", str(dest)],
         f"the {_WHEEL_REQ} wheel")
    wheel = dest / _WHEEL_FILE
    if not wheel.is_file():
        raise ToolchainError(f"pip did not produce {_WHEEL_FILE} in {dest}", hint=_INSTALL_HINT)
    digest = sha256_file(wheel)
    if digest != _WHEEL_SHA256:
        raise ToolchainError(
            f"{_WHEEL_FILE}: sha256 {digest} does not match the pinned {_WHEEL_SHA256}; refusing to use it",
            hint="the index served a different file; check PIP_INDEX_URL",
        )
    return wheel


def _rename_import(lib: Path, old: bytes, new: bytes) -> None:
    """Rename one undefined dynamic symbol of a 64-bit little-endian ELF in place (names of equal length).

    Only the string of that one .dynsym entry changes; it is checked to be shared with no other symbol.
    """
    assert len(old) == len(new)
    data = bytearray(lib.read_bytes())
    if data[:6] != b"\x7fELF\x02\x01":
        raise ToolchainError(f"{lib}: not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    dynsym = next(s for s in sections if s[1] == 11)  # SHT_DYNSYM; its sh_link is .dynstr
    strtab = sections[dynsym[6]][4]
    spans, hits = [], []
    for i in range(dynsym[5] // 24):
        name, _, _, shndx = struct.unpack_from("<IBBH", data, dynsym[4] + i * 24)
        start = strtab + name
        end = data.index(0, start)
        spans.append((start, end))
        if data[start:end] == old and shndx == 0:
            hits.append(start)
    if len(hits) != 1 or any(a < hits[0] + len(old) and hits[0] < b and a != hits[0] for a, b in spans):
        raise ToolchainError(f"{lib}: cannot retarget its {old.decode()} import ({len(hits)} candidates)",
                             hint="this is not the pinned paddlelite 2.13rc0 wheel; use --opt-bin instead")
    data[hits[0] : hits[0] + len(new)] = new
    lib.write_bytes(bytes(data))


def _compile_shim(out: Path) -> Path:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise ToolchainError("no C compiler to build the Paddle Lite version shim", hint="apt-get install gcc")
    cmd = [cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(_SHIM_SRC)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise ToolchainError(f"building {_SHIM_SRC.name} failed: {summarize_stderr(res.stderr)}")
    return out


# ---------------------------------------------------------------------------------------------
# Running things


def worker_command(route: Route, mode_args: list[str]) -> tuple[list[str], dict[str, str]]:
    """argv and environment of a worker process for ``route`` (module/compat only)."""
    if not route.can_run_models:
        raise ToolchainError(f"{route.where} is an opt binary; it cannot run a worker", hint=_INSTALL_HINT)
    argv = [sys.executable, "-I", str(_WORKER)]
    for p in route.python_paths:
        argv += ["--path", p]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if route.preload:
        env["LD_PRELOAD"] = " ".join(x for x in (route.preload, env.get("LD_PRELOAD", "")) if x)
    return argv + list(mode_args), env


def run_worker(route: Route, mode_args: list[str], *, timeout: float = 600, what: str = "Paddle Lite") -> dict:
    """Run a one-shot worker mode (info/opt/ops); its JSON result, or a ConversionError with the reason."""
    argv, env = worker_command(route, mode_args)
    try:
        res = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise ConversionError(
            f"{what} did not finish within {timeout:.0f} s ({route.kind} route); stopped it",
            hint=f"last output: {summarize_stderr((e.stderr or b'').decode(errors='replace'))}",
        ) from None
    stderr = res.stderr.decode(errors="replace")
    if res.returncode != 0:
        raise ConversionError(
            f"{what} {describe_returncode(res.returncode)} ({route.kind} route): {summarize_stderr(stderr)}",
            hint=_failure_hint(stderr),
        )
    msg = read_message(io.BytesIO(res.stdout))
    if msg is None or not msg[0].get("ok"):
        raise ConversionError(f"{what} gave no result ({route.kind} route): {summarize_stderr(stderr)}")
    return msg[0]


def run_opt_bin(route: Route, args: list[str], *, timeout: float = 600, what: str = "opt") -> str:
    """Run an opt executable with gflags-style ``--key=value`` args; its stdout, or a ConversionError."""
    try:
        res = subprocess.run([route.where, *args], capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired as e:
        out = e.stderr if isinstance(e.stderr, str) else (e.stderr or b"").decode(errors="replace")
        raise ConversionError(f"{what} ({route.where}) did not finish within {timeout:.0f} s; stopped it",
                              hint=f"last output: {summarize_stderr(out)}") from None
    if res.returncode != 0:
        raise ConversionError(
            f"{what} ({route.where}) {describe_returncode(res.returncode)}: "
            f"{summarize_stderr(res.stderr + chr(10) + res.stdout)}",
            hint=_failure_hint(res.stderr),
        )
    return res.stdout


def describe_returncode(rc: int) -> str:
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"crashed with {name}"
    return f"failed (exit code {rc})"


_NOISE = re.compile(r"^\s*$|^[IW]\d{4} |^\s*File \"|^Traceback|^\s+\^+\s*$")


def summarize_stderr(text: str, lines: int = 4, width: int = 240) -> str:
    """The last meaningful lines of a tool's stderr, joined on one line (no walls of text)."""
    keep = [ln.strip() for ln in text.splitlines() if not _NOISE.match(ln)]
    tail = [ln if len(ln) <= width else ln[: width - 3] + "..." for ln in keep[-lines:]]
    return " | ".join(tail) if tail else "(no output)"


def _failure_hint(stderr: str) -> str | None:
    if "Python version mismatch" in stderr:
        return f"lite.so still checks the Python version (not the compat runtime's copy?); delete {compat_dir()} and run: {_INSTALL_HINT}"
    if "No module named 'numpy'" in stderr or ("numpy" in stderr and "ImportError" in stderr):
        return f"the compat runtime looks incomplete; delete {compat_dir()} and run: {_INSTALL_HINT}"
    return None
