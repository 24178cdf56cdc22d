"""``edgeclas build``: configure and build ``native/`` for a target, then publish binary + runtime libs + manifest.

The CMake build lives in a cached directory (``cache_dir("build", "<os>-<arch>-<engine>-<hash>")``)
keyed by everything that changes the configuration, so a second build is incremental. The output
directory is written atomically::

    OUT/bin/clas_system (+ native test binaries)   OUT/lib/<runtime libs>   OUT/python/<host module>
    OUT/logs/build.log, ctest.log                 OUT/manifest.json  (kind "build", docs/artifacts.md)

Everything the build needs is resolved first through the SDK layer; whatever is missing is reported
in one error that lists each missing piece and the command that provides it. What a target or an
engine needs comes from the tables in :mod:`edgeclas.targets`.

:func:`locate` is the one way deploy, bench and the pipeline get a device build: a given directory
that fits, else ``ROOT/<os>-<arch>-<engine>`` when it fits, else a build made there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import sdk, targets
from .device.base import DeviceInfo
from .errors import BuildError, ConfigError, DeviceError, EdgeclasError, IntegrityError, ToolchainError
from .fsutil import atomic_write_text, staging_dir
from .manifest import check_files, read_manifest, write_manifest
from .paths import cache_dir, source_dir
from .targets import Target

__all__ = [
    "BuildResult",
    "TestRun",
    "default_engine",
    "build",
    "build_dir",
    "device_target",
    "locate",
    "parse_ctest_summary",
    "doctor_rows",
]

BINARY = "clas_system"


@dataclass(frozen=True)
class TestRun:
    """The native tests (ctest) of a build: run here, under qemu for ARM Linux, or not at all (Android)."""

    __test__ = False  # not a pytest class, despite the name

    ran: bool
    passed: int = 0
    failed: int = 0
    total: int = 0
    runner: str = ""  # "host" | "qemu-aarch64-static -L …"
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.ran and self.failed == 0 and self.total > 0


@dataclass(frozen=True)
class BuildResult:
    out: Path
    target: Target
    engine: str
    engine_version: str
    compiler: str
    binary: Path
    libs: list[Path]
    build_dir: Path
    python_module: Path | None = None
    tests: TestRun | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    def check_tests(self) -> None:
        """Raise :class:`BuildError` when native tests ran and did not all pass (the outputs stay in place)."""
        r = self.tests
        if r is None or not r.ran or r.ok:
            return
        where = f" under {r.runner}" if r.runner and r.runner != "host" else ""
        raise BuildError(
            f"native tests of {self.target.key}: {r.failed} of {r.total} failed{where}" if r.total
            else f"native tests of {self.target.key}: ctest found no tests ({r.note or 'no summary line'})",
            hint=f"the build is in {self.out}; see {self.out / 'logs' / 'ctest.log'}",
        )

    def command(self, *args: str | os.PathLike[str]) -> list[str]:
        """Command line that runs ``clas_system`` here: directly on the host, under qemu for ARM Linux."""
        return self.runner() + [str(self.binary), *map(str, args)]

    def runner(self) -> list[str]:
        if self.target.is_host:
            return []
        if self.target.os == "linux":
            from .sdk.cross import qemu_command

            return qemu_command(self.target.arch)
        raise ToolchainError(f"{self.target.key} binaries run on an Android device, not here",
                             hint="edgeclas deploy --device SERIAL ...")

    def env(self) -> dict[str, str]:
        """Environment for :meth:`command`: the runtime libs directory on the loader path."""
        env = dict(os.environ)
        lib = str(self.out / "lib")
        env["LD_LIBRARY_PATH"] = lib + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        return env


def _buildable(row: targets.DeviceEngine, t: Target) -> bool:
    """Whether the engine's SDK item exists for ``t`` at all (installed or not)."""
    return row.sdk is None or t in sdk.targets(row.sdk)


def default_engine(t: Target) -> str:
    """The first engine of the table that is the default on ``t.os`` and exists for ``t``: Paddle Lite on
    phones, ONNX Runtime on Linux, none on armhf Linux (no ONNX Runtime exists for it)."""
    return next(row.name for row in targets.ENGINES.values() if t.os in row.default_on and _buildable(row, t))


_CTEST_SUMMARY = re.compile(r"(\d+)% tests passed, (\d+) tests? failed out of (\d+)")


def parse_ctest_summary(text: str) -> tuple[int, int, int] | None:
    """``(passed, failed, total)`` from ctest's closing line, or None when it has none."""
    m = None
    for m in _CTEST_SUMMARY.finditer(text):
        pass
    if m is None:
        return (0, 0, 0) if "No tests were found" in text else None
    failed, total = int(m.group(2)), int(m.group(3))
    return total - failed, failed, total


def build(
    arch: str = "host",
    os_: str | None = None,
    engine: str | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    python: bool = False,
    tests: bool = False,
    jobs: int = 2,
    build_type: str = "Release",
    engine_root: str | os.PathLike[str] | None = None,
    ndk: str | os.PathLike[str] | None = None,
    android_platform: str = "android-24",
    image_libs: bool = True,
    sanitize: bool | str = False,
    fuzzers: bool = False,
    test_env: dict[str, str] | None = None,
    log: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build ``clas_system`` for ``arch``/``os_`` with ``engine`` and publish it in ``out``.

    ``os_`` defaults to android for armv7/armv8 and linux for host; ``engine`` to :func:`default_engine`;
    ``out`` to ``build/<os>-<arch>-<engine>``; ``engine_root`` is the engine's SDK directory (instead of
    the SDK layer's environment variable or cache). ``tests`` builds and runs the native tests (under qemu
    for ARM Linux) and records the result in ``BuildResult.tests`` and the manifest;
    :meth:`BuildResult.check_tests` turns a failure into :class:`BuildError`.
    ``image_libs=False`` decodes JPEG/PNG with stb_image instead of libjpeg-turbo/libpng (what Android
    builds always do); ``sanitize`` builds with ASan + UBSan (``True`` or ``"address"``) or ThreadSanitizer
    (``"thread"``), host only: the runtimes are the host's;
    ``fuzzers`` adds the fuzz targets of ``native/fuzz`` (with gcc: corpus replayers, ``bin/fuzz_*``).
    ``test_env``: variables for the native tests only (e.g. ``EDGECLAS_TEST_NB``, the model the Lite engine
    tests run); not part of the build.
    """
    say = log or (lambda _msg: None)
    t = targets.target(arch, os_)
    row = targets.engine(engine or default_engine(t))
    engine = row.name
    if python and not t.is_host:
        raise ConfigError(f"--python builds the host Python module; it cannot be built for {t.key}",
                          hint="drop --python, or build it with --arch host")
    if jobs < 1:
        raise ConfigError(f"--jobs must be ≥ 1, got {jobs}")
    if sanitize not in (False, True, "address", "thread"):
        raise ConfigError(f"sanitize={sanitize!r}: expected False, True/'address' (ASan + UBSan) or 'thread' (TSan)")
    if sanitize and not t.is_host:
        raise ConfigError(f"sanitizer builds run here, on the host; {t.key} is not supported",
                          hint="build with --arch host")
    out = (Path(out) if out else build_dir("build", t, engine)).absolute()
    _check_out(out)

    image_libs = image_libs and t.os != "android"  # no libjpeg/libpng SDK piece for Android: stb_image there
    deps = _resolve_deps(t, row, python=python, engine_root=engine_root, ndk=ndk, image_libs=image_libs)
    cmake_args, env = _cmake_args(t, row, deps, python=python, tests=tests, build_type=build_type,
                                  android_platform=android_platform, image_libs=image_libs, sanitize=sanitize,
                                  fuzzers=fuzzers)
    # Toolchain files (and what they include) are part of the key: CMake keeps cached compiler settings
    # across edits of them, so an edited toolchain gets a fresh build directory.
    toolchains = "".join(p.read_text() for p in sorted(deps["toolchain"].parent.glob("*.cmake"))) \
        if deps["toolchain"] else ""
    # The source tree too: a CMake build dir belongs to one source dir (another checkout gets its own).
    source = str(source_dir("native"))
    key = hashlib.sha256(json.dumps([source, cmake_args, toolchains]).encode()).hexdigest()[:12]
    bdir = cache_dir("build", f"{t.key}-{engine}-{key}")
    bdir.mkdir(parents=True, exist_ok=True)

    with _locked(bdir / ".edgeclas.lock"):
        log_path = bdir / "edgeclas-build.log"
        say(f"configure {t.key} ({engine}) in {bdir}")
        _run([deps["cmake"], "-S", source, "-B", str(bdir), *cmake_args],
             "configure (cmake)", t, log_path, env, mode="w")
        say(f"build with ninja -j{jobs}")
        _run([deps["cmake"], "--build", str(bdir), "--parallel", str(jobs)], "build (ninja)", t, log_path, env)
        compiler = _compiler(bdir)
        test_run, ctest_log = _ctest(bdir, t, deps, {**env, **(test_env or {})}) if tests else (None, "")
        if tests and test_run is not None:
            say(f"native tests: {test_run.passed}/{test_run.total} passed ({test_run.runner or test_run.note})")
        return _publish(out, bdir, t, row, deps, compiler, python, test_run, ctest_log, log_path, cmake_args)


# --------------------------------------------------------------------------------------- locator

def build_dir(root: str | os.PathLike[str], t: Target, engine: str) -> Path:
    """Where builds of ``engine`` for ``t`` live under ``root``: ``ROOT/<os>-<arch>-<engine>``."""
    return Path(root) / f"{t.key}-{engine}"


def _damage(d: Path, t: Target, engine: str) -> list[str] | None:
    """None when ``d`` is no build of ``engine`` for ``t``'s OS and ABI; else its damaged files (empty: intact)."""
    try:
        m = read_manifest(d, "build")
    except EdgeclasError:
        return None
    tm, em = m.get("target") or {}, m.get("engine") or {}
    if tm.get("os") != t.os or tm.get("abi") != t.abi or em.get("name") != engine:
        return None
    return check_files(d, m)


def _fits(d: Path, t: Target, engine: str) -> bool:
    """``d`` is an intact build of ``engine`` for ``t``'s OS and ABI."""
    return _damage(d, t, engine) == []


def device_target(info: DeviceInfo, os_name: str | None = None) -> Target:
    """The target whose builds run on a device (its best ABI; ``os_name`` overrides the detected userland)."""
    if not info.build_arch:
        raise DeviceError(
            f"device {info.serial} has ABIs {', '.join(info.abilist) or '(none reported)'}: no edgeclas build fits",
            hint="edgeclas builds for " + ", ".join(f"{abi} ({arch})" for abi, arch in targets.ABI_TO_ARCH.items()),
        )
    return targets.target(info.build_arch, os_name or info.os)


def locate(
    t: Target,
    engine: str,
    *,
    given: Sequence[str | os.PathLike[str]] = (),
    root: str | os.PathLike[str] = "build",
    allow_build: bool = True,
    log: Callable[[str], None] | None = None,
    verify: bool = True,
) -> Path:
    """A build of ``engine`` for ``t``: the first of ``given`` that fits, else ``build_dir(root, t, engine)``
    when it fits, else one built there (a ConfigError naming the command when ``allow_build`` is False).

    A given build of the right target and engine whose files differ from its manifest is an
    :class:`IntegrityError` (it is the user's, so never passed over for another), or used as it is
    with ``verify=False``; a damaged default build is rebuilt."""
    for d in given:
        damage = _damage(Path(d), t, engine)
        if damage and verify:
            more = f" (and {len(damage) - 1} more)" if len(damage) > 1 else ""
            raise IntegrityError(f"{damage[0]}{more}",
                                 hint=f"rebuild it: edgeclas build {t.flags()} --engine {engine} --out {d}; "
                                      "or pass --no-verify to use it as it is")
        if damage is not None:
            return Path(d)
    default = build_dir(root, t, engine)
    if _fits(default, t, engine):
        return default
    if not allow_build:
        among = "among the given build dirs or " if given else ""
        raise ConfigError(f"no {engine} build for {t.os}/{t.abi} {among}in {root}",
                          hint=f"edgeclas build {t.flags()} --engine {engine} --out {default}")
    build(t.arch, t.os, engine, default, log=log)
    return default


# ---------------------------------------------------------------------------------------- doctor

def doctor_rows() -> list:
    """``edgeclas doctor`` rows from the tables: per target, whether its toolchain is here and which engines
    could be built for it now; per device engine, its backend, where it can be built and how to get the rest."""
    from functools import lru_cache

    from .doctor import ToolStatus

    @lru_cache(maxsize=None)
    def resolve(name: str, *, arch: str, os: str, flag: Any = None) -> sdk.SdkItem:
        return sdk.resolve(name, arch=arch, os=os, flag=flag)

    def library_missing(row: targets.DeviceEngine, t: Target) -> ToolchainError | None:
        try:
            if row.sdk:
                resolve(row.sdk, arch=t.arch, os=t.os)
            return None
        except ToolchainError as e:
            return e

    every = [targets.target(s.arch, s.os) for s in targets.TARGETS]
    toolchain = {t.key: _collect_deps(t, targets.ENGINES["none"], resolve=resolve, prepare=False)[1] for t in every}
    # (target, engine) → the engine's library problem, for every pair the engine's SDK item exists for
    library = {(t.key, row.name): library_missing(row, t)
               for row in targets.ENGINES.values() for t in every if _buildable(row, t)}
    ready = [pair for pair, err in library.items() if err is None and not toolchain[pair[0]]]
    rows = []
    for t in every:
        missing = toolchain[t.key]
        engines = [e for k, e in ready if k == t.key]
        rows.append(ToolStatus(
            "targets", t.key, not missing, f"{t.abi}, {t.triple}",
            str(t.toolchain) if t.toolchain else "this machine's compiler",
            "; ".join(dict.fromkeys(e.hint for e in missing if e.hint)),
            "; ".join(e.message for e in missing) if missing else f"engines ready: {', '.join(engines) or 'none'}",
        ))
    for row in targets.ENGINES.values():
        ok = [k for k, e in ready if e == row.name]
        lacking = [(k, err) for (k, e), err in library.items() if e == row.name and err is not None]
        source = source_dir("native") / "src" / row.native_source
        note = [f"model {row.format_label}" if row.runs_models else "runs no model",
                f"library: sdk item {row.sdk}" if row.sdk else "no library",
                f"ready for {', '.join(ok) or 'no target here'}"]
        if lacking:
            note.append(f"library missing for {', '.join(k for k, _ in lacking)}")
        if not source.is_file():
            note.append(f"its backend {source.name} is missing from native/src")
        rows.append(ToolStatus("engines", row.name, bool(ok) and source.is_file(), "", str(source),
                               lacking[0][1].hint or "" if lacking else "", "; ".join(note)))
    return rows


# ----------------------------------------------------------------------------------------------

def _check_out(out: Path) -> None:
    """The output directory is replaced as a whole: refuse one that holds something other than a build."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out {out} is a file", hint="choose a new directory")
    if any(out.iterdir()):
        try:
            read_manifest(out, "build")
        except EdgeclasError:
            raise ConfigError(f"--out {out} is not empty and is not an edgeclas build directory; it would be replaced",
                              hint="choose a new or empty directory (an earlier build directory is replaced)") from None


Resolver = Callable[..., sdk.SdkItem]


def _collect_deps(t: Target, row: targets.DeviceEngine, *, python: bool = False, engine_root=None, ndk=None,
                  image_libs: bool = True, resolve: Resolver = sdk.resolve,
                  prepare: bool = True) -> tuple[dict[str, Any], list[ToolchainError]]:
    """Every tool and library a build of ``row`` for ``t`` needs: (what was found, what is missing).

    ``prepare`` makes the local pieces a build makes for itself (the qemu prefix: a symlink and a text
    file); doctor passes False, so looking never changes anything.
    """
    missing: list[ToolchainError] = []
    deps: dict[str, Any] = {}

    def need(key: str, fn: Callable[[], Any]) -> None:
        try:
            deps[key] = fn()
        except ToolchainError as e:
            missing.append(e)

    need("cmake", lambda: _host_tool("cmake", "cmake"))
    need("ninja", lambda: _host_tool("ninja", "ninja-build"))
    if t.os == "android":
        need("ndk", lambda: resolve("ndk", arch=t.arch, os=t.os, flag=ndk))
    elif not t.is_host:
        need("cross-gcc", lambda: resolve("cross-gcc", arch=t.arch, os=t.os))
    if row.sdk:
        need(row.sdk, lambda: resolve(row.sdk, arch=t.arch, os=t.os, flag=engine_root))
    if t.os == "linux" and not t.is_host:
        if image_libs:  # libjpeg-turbo/libpng for the decoder, linked statically
            need("image-libs", lambda: resolve("image-libs", arch=t.arch, os=t.os))
        need("qemu", lambda: resolve("qemu", arch=t.arch, os=t.os))
        if prepare:
            def prefix() -> Path:
                from .sdk.cross import qemu_prefix

                return qemu_prefix(t.arch)

            need("qemu-prefix", prefix)
    if python:
        need("pybind11", _pybind11_dir)
    toolchain = t.toolchain
    if toolchain is not None and not toolchain.is_file():
        missing.append(ToolchainError(f"toolchain file {toolchain} is missing from the source tree",
                                      hint="restore toolchains/ from the edgeclas repository"))
    deps["toolchain"] = toolchain
    return deps, missing


def _resolve_deps(t: Target, row: targets.DeviceEngine, **options: Any) -> dict[str, Any]:
    """Resolve every tool and library; collect all that are missing into one ToolchainError."""
    deps, missing = _collect_deps(t, row, **options)
    if missing:
        what = "".join(f"\n  - {e.message}" for e in missing)
        raise ToolchainError(f"cannot build {t.key} with engine {row.name}; missing:{what}",
                             hint=_hints(missing) or None)
    return deps


def _hints(missing: list[ToolchainError]) -> str:
    return "".join(f"\n  - {h}" for h in dict.fromkeys(e.hint for e in missing if e.hint))


def _host_tool(exe: str, apt: str) -> str:
    path = shutil.which(exe)
    if not path:
        raise ToolchainError(f"{exe} not found on PATH", hint=f"apt-get install {apt}")
    return path


def _pybind11_dir() -> str:
    try:
        import pybind11
    except ImportError:
        raise ToolchainError("pybind11 is not installed in this Python (needed for --python)",
                             hint="pip install 'edgeclas[native]'") from None
    return pybind11.get_cmake_dir()


def _cmake_args(t: Target, row: targets.DeviceEngine, deps: dict, *, python: bool, tests: bool, build_type: str,
                android_platform: str, image_libs: bool, sanitize: bool | str,
                fuzzers: bool) -> tuple[list[str], dict[str, str]]:
    args = ["-G", "Ninja", f"-DCMAKE_BUILD_TYPE={build_type}", f"-DCMAKE_MAKE_PROGRAM={deps['ninja']}",
            f"-DEDGECLAS_ENGINE={row.name}",
            f"-DEDGECLAS_BUILD_TESTS={'ON' if tests else 'OFF'}",
            f"-DEDGECLAS_BUILD_PYTHON={'ON' if python else 'OFF'}",
            f"-DEDGECLAS_IMAGE_LIBS={'ON' if image_libs else 'OFF'}",
            f"-DEDGECLAS_SANITIZE={'ON' if sanitize in (True, 'address') else 'OFF'}",
            f"-DEDGECLAS_SANITIZE_THREAD={'ON' if sanitize == 'thread' else 'OFF'}",
            f"-DEDGECLAS_BUILD_FUZZERS={'ON' if fuzzers else 'OFF'}"]
    if image_libs and "image-libs" in deps:
        args.append(f"-DEDGECLAS_IMAGE_LIBS_ROOT={deps['image-libs'].path}")
    env = dict(os.environ)
    if deps["toolchain"]:
        args.append(f"-DCMAKE_TOOLCHAIN_FILE={deps['toolchain']}")
    if t.os == "android":
        ndk: sdk.SdkItem = deps["ndk"]
        env["ANDROID_NDK_HOME"] = str(ndk.path)
        args += [f"-DEDGECLAS_NDK={ndk.path}", f"-DANDROID_PLATFORM={android_platform}"]
    elif not t.is_host:
        args.append(f"-DEDGECLAS_QEMU_LD_PREFIX={deps['qemu-prefix']}")
    if row.sdk and row.cmake_root:
        args.append(f"-D{row.cmake_root}={deps[row.sdk].path}")
        args += _library_facts(row, deps)["cmake"]
    if python:
        args += [f"-Dpybind11_DIR={deps['pybind11']}", f"-DPython_EXECUTABLE={sys.executable}",
                 f"-DPython3_EXECUTABLE={sys.executable}"]
    return args, env


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Several test sessions may build the same cached configuration at once; ninja must not race itself.
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: list[str], step: str, t: Target, log_path: Path, env: dict[str, str], mode: str = "a") -> str:
    with open(log_path, mode) as logf:
        logf.write(f"$ {' '.join(cmd)}\n")
        logf.flush()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        logf.write(proc.stdout)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip() and not ln.startswith("-- ")]
        # Each error line with the few lines after it (CMake puts the reason below "CMake Error at").
        picked: list[str] = []
        for i, ln in enumerate(lines):
            if "error" in ln.lower() or "undefined reference" in ln:
                picked += [x for x in lines[i:i + 4] if x not in picked[-4:]]
        tail = "\n    ".join((picked or lines)[:16])
        raise BuildError(f"{step} failed for {t.key} (exit {proc.returncode}):\n    {tail}",
                         hint=f"full log: {log_path}")
    return proc.stdout


def _compiler(bdir: Path) -> str:
    """``aarch64-linux-gnu-g++ 12.2.0`` from the configured cache (what actually compiled the code)."""
    cxx = version = ident = ""
    for f in sorted(bdir.glob("CMakeFiles/*/CMakeCXXCompiler.cmake")):
        text = f.read_text()
        m = re.search(r'set\(CMAKE_CXX_COMPILER "([^"]+)"\)', text)
        cxx = m.group(1) if m else cxx
        m = re.search(r'set\(CMAKE_CXX_COMPILER_VERSION "([^"]+)"\)', text)
        version = m.group(1) if m else version
        m = re.search(r'set\(CMAKE_CXX_COMPILER_ID "([^"]+)"\)', text)
        ident = m.group(1) if m else ident
    return " ".join(x for x in (Path(cxx).name, f"({ident})" if ident else "", version) if x) or "unknown"


def _read_cmake_cache(bdir: Path) -> dict[str, str]:
    out = {}
    try:
        for line in (bdir / "CMakeCache.txt").read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_]+):[A-Z]+=(.*)$", line)
            if m:
                out[m.group(1)] = m.group(2)
    except OSError:
        pass
    return out


def _ctest(bdir: Path, t: Target, deps: dict, env: dict[str, str]) -> tuple[TestRun, str]:
    if t.os == "android":
        return TestRun(False, note="Android binaries need a device; run them with edgeclas deploy"), ""
    runner = "" if t.is_host else f"{Path(str(deps['qemu'].path)).name} -L {deps['qemu-prefix']}"
    ctest = shutil.which("ctest") or str(Path(deps["cmake"]).with_name("ctest"))
    proc = subprocess.run([ctest, "--test-dir", str(bdir), "--output-on-failure", "--timeout", "300"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    summary = parse_ctest_summary(proc.stdout)
    if summary is None:
        return TestRun(True, 0, 0, 0, runner or "host", note=f"ctest exited {proc.returncode} without a summary"), \
            proc.stdout
    passed, failed, total = summary
    if proc.returncode != 0 and failed == 0:
        failed = max(1, total - passed)
    return TestRun(True, passed, failed, total, runner or "host"), proc.stdout


def _library_facts(row: targets.DeviceEngine, deps: dict) -> dict[str, Any]:
    """What the engine's SDK piece says about its library (``row.library_facts``): extra CMake definitions,
    runtime libraries beside it to ship, and a ``library`` section for the build manifest."""
    if not (row.sdk and row.library_facts):
        return {"cmake": [], "libs": [], "manifest": {}}
    module, func = row.library_facts.split(":")
    return getattr(importlib.import_module(module), func)(Path(deps[row.sdk].path))


def _check_runpath(binary: Path) -> None:
    """The shipped binary finds its libraries next to itself only: an empty RUNPATH entry would make the loader
    search the working directory on the device, an absolute one would name this machine's cache there."""
    from .sdk._elf import runpath

    entries = runpath(binary) or []
    bad = [e for e in entries if not e.startswith("$ORIGIN")]
    if bad:
        raise BuildError(f"{binary}: RUNPATH {':'.join(entries)!r} has entries outside the bundle "
                         f"({', '.join(repr(e) for e in bad)}; '' is the working directory)",
                         hint="native/CMakeLists.txt must link clas_system with BUILD_WITH_INSTALL_RPATH and "
                              "INSTALL_RPATH $ORIGIN/../lib only")


def _publish(out: Path, bdir: Path, t: Target, row: targets.DeviceEngine, deps: dict, compiler: str, python: bool,
             test_run: TestRun | None, ctest_log: str, log_path: Path, cmake_args: list[str]) -> BuildResult:
    binary = bdir / "bin" / BINARY
    if not binary.is_file():
        raise BuildError(f"the build finished but {binary} does not exist",
                         hint="native/CMakeLists.txt must put clas_system in the build dir's bin/")
    _check_runpath(binary)
    engine, engine_version = row.name, ""
    libs: list[tuple[Path, str]] = []  # (source, name in OUT/lib); copies follow symlinks
    library: dict[str, Any] | None = None
    if row.sdk:
        item: sdk.SdkItem = deps[row.sdk]
        engine_version = item.version
        facts = _library_facts(row, deps)
        library = facts["manifest"] or None
        libs += [(Path(item.path) / rel, Path(rel).name) for rel in (*row.libs.get(t.os, ()), *facts["libs"])]
    if t.os == "android":
        from .sdk.ndk import libcxx_shared

        libs.append((libcxx_shared(Path(deps["ndk"].path), t), "libc++_shared.so"))
    module = None
    if python:
        found = sorted(p for p in bdir.rglob("_native*.so") if p.is_file())
        if not found:
            raise BuildError(f"--python was given but no _native*.so was built in {bdir}",
                             hint="native/CMakeLists.txt must build the pybind11 module with EDGECLAS_BUILD_PYTHON=ON")
        module = found[0]

    with staging_dir(out) as tmp:
        os.chmod(tmp, 0o755)
        files = []
        (tmp / "bin").mkdir()
        for exe in sorted((bdir / "bin").iterdir()):
            if exe.is_file() and os.access(exe, os.X_OK):
                shutil.copy2(exe, tmp / "bin" / exe.name)
                files.append(f"bin/{exe.name}")
        (tmp / "lib").mkdir()
        for src, name in libs:
            if not src.is_file():
                raise ToolchainError(f"runtime library {src} is missing", hint="reinstall it with edgeclas sdk install")
            shutil.copy2(src, tmp / "lib" / name)
            files.append(f"lib/{name}")
        if module:
            (tmp / "python").mkdir()
            shutil.copy2(module, tmp / "python" / module.name)
            files.append(f"python/{module.name}")
        (tmp / "logs").mkdir()
        shutil.copy2(log_path, tmp / "logs" / "build.log")
        if ctest_log:
            atomic_write_text(tmp / "logs" / "ctest.log", ctest_log)
        body = {
            "target": {"os": t.os, "arch": t.arch, "abi": t.abi, "triple": t.triple},
            "engine": {"name": engine, "version": engine_version, **({"library": library} if library else {})},
            "compiler": compiler,
            "build_type": _read_cmake_cache(bdir).get("CMAKE_BUILD_TYPE", ""),
            "binary": f"bin/{BINARY}",
            "libs": [f"lib/{name}" for _, name in libs],
            "python_module": f"python/{module.name}" if module else None,
            "tests": None if test_run is None else {
                "ran": test_run.ran, "passed": test_run.passed, "failed": test_run.failed,
                "total": test_run.total, "runner": test_run.runner, "note": test_run.note,
                "log": "logs/ctest.log" if ctest_log else None,
            },
            "sdk": {k: {"version": v.version, "path": str(v.path), "source": v.source}
                    for k, v in deps.items() if isinstance(v, sdk.SdkItem)},
            "build_dir": str(bdir),
            "cmake_args": cmake_args,
        }
        manifest = write_manifest(tmp, "build", body, files)
        for written in (tmp / "manifest.json", tmp / "logs" / "ctest.log"):
            if written.exists():
                os.chmod(written, 0o644)  # atomic writes create 0600 files; a build dir is shared
    return BuildResult(
        out=out, target=t, engine=engine, engine_version=engine_version, compiler=compiler,
        binary=out / "bin" / BINARY, libs=[out / "lib" / name for _, name in libs], build_dir=bdir,
        python_module=out / "python" / module.name if module else None, tests=test_run, manifest=manifest,
    )
