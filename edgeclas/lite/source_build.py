"""Paddle Lite built from its official source: ``edgeclas sdk build paddle-lite``.

Paddle Lite publishes its ARM libraries only as GitHub release files. Its source cross-compiles with
the toolchains edgeclas already uses (Debian's cross gcc for ARM Linux, the NDK for Android), and a
build *tailored* to a model's ops is what Paddle Lite recommends for apps (a 0.5 MB library instead
of 2.6 MB). Steps::

    source (a git URL, a local clone, or a git bundle) at --ref  →  commit + version tag (git ls-remote)
    → cache hit?  cache/build/paddle-lite-<target>-<key>/install  (key: commit, target, options, ops)
    → clone into that directory, check it is Paddle Lite at a version tag, generate the flatbuffers
      headers its tree expects (Debian's flatc), configure with edgeclas's toolchain file, ninja
      publish_inference, copy headers + the light-API library + manifest into install/

The version comes from ``git describe --tags --exact-match`` (Paddle Lite's own CMake does the same
and compiles it into the library, which must equal the opt version that wrote the ``.nb``), so a
source without a version tag is refused. One Paddle Lite build runs at a time on a machine
(``cache/build/.paddle-lite.lock``); a second waits. A failed build keeps its log and says where.

The host (``--arch host``, x86-64 Linux) builds too, for clas_system's Lite engine on this machine: Paddle
Lite's x86 build fetches its third-party code (eigen, xbyak, xxhash, openblas, gflags, protobuf, ...) from
URLs with no digest or from submodules a clone lacks, so edgeclas applies its recipe
(:mod:`edgeclas.lite.x86_recipe`: the system's packages instead, and a few small checked source edits) and
builds only the light-API library target.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..errors import BuildError, ConfigError, ToolchainError
from ..fsutil import sha256_file, staging_dir
from ..manifest import read_manifest, write_manifest
from ..paths import cache_dir, checkout_root
from ..sdk import Target
from ..sdk import target as make_target
from . import x86_recipe
from .source_edits import TAILOR_FP16, apply_edits
from .formats import Tailoring, merge_tailorings

__all__ = [
    "SOURCE_ENV",
    "DEFAULT_REF",
    "UPSTREAM",
    "LiteSource",
    "LiteBuildOptions",
    "LiteBuild",
    "default_source",
    "resolve_source",
    "cmake_command",
    "build_paddle_lite",
    "tail_of_log",
    "resolve",
    "install",
    "targets",
]

SOURCE_ENV = "EDGECLAS_PADDLE_LITE_SOURCE"
DEFAULT_REF = "v2.13-rc"
UPSTREAM = "https://github.com/PaddlePaddle/Paddle-Lite"
# Bump when the recipe below changes what a build produces: every cached build is then redone.
_RECIPE = 1
_LIB = "libpaddle_light_api_shared.so"
_BUNDLE_NAME = "paddle-lite-v2.13-rc.bundle"
# Files that make a tree Paddle Lite (the light API edgeclas links, and the OS files its CMake includes).
_MARKERS = ("lite/api/paddle_api.h", "lite/api/light_api.h", "cmake/os/armlinux.cmake", "cmake/os/android.cmake")
# The flatbuffers schemas Paddle Lite's tree expects pre-generated under third-party/flatbuffers/pre-build.
_FBS = ("lite/model_parser/flatbuffers/framework.fbs", "lite/model_parser/flatbuffers/param.fbs",
        "lite/backends/opencl/utils/cache.fbs", "lite/backends/opencl/utils/tune_cache.fbs")
_FLATC_FLAGS = ("--cpp", "--gen-mutable", "--gen-object-api", "--reflect-names", "--no-includes", "--gen-compare",
                "--force-empty")  # what Paddle Lite's cmake/external/flatbuffers.cmake passes to flatc


@dataclass(frozen=True)
class LiteSource:
    """Where the source comes from and what it is at ``ref``."""

    origin: str  # the URL or path given
    kind: str  # "url" | "clone" | "bundle"
    ref: str
    commit: str
    tags: tuple[str, ...]  # version tags pointing at commit (empty: refused when building)


@dataclass(frozen=True)
class LiteBuildOptions:
    """What changes the library besides the source and target (each one is part of the cache key)."""

    fp16: bool = False  # LITE_WITH_ARM82_FP16: ARMv8.2 half-precision kernels (armv8 only)
    extra: bool = True  # LITE_BUILD_EXTRA: PP-LCNet needs hard_swish, which only the extra set has
    android_api: int = 24  # Android 7.0, as edgeclas's own Android builds
    android_stl: str = "c++_shared"  # one libc++ shared by clas_system and Paddle Lite in an app

    def check(self, t: Target) -> "LiteBuildOptions":
        if self.fp16 and t.machine != "aarch64":
            raise ConfigError(f"--fp16: Paddle Lite's FP16 kernels need ARMv8.2 (armv8), not {t.key}",
                              hint="drop --fp16 for armv7")
        if self.android_stl not in ("c++_shared", "c++_static"):
            raise ConfigError(f"--android-stl {self.android_stl!r}: use c++_shared or c++_static")
        if not 21 <= self.android_api <= 35:
            raise ConfigError(f"--android-api {self.android_api}: Paddle Lite builds for API levels 21..35")
        return self


@dataclass(frozen=True)
class LiteBuild:
    """A finished build in the cache (``root``: ``cxx/include``, ``cxx/lib``, ``manifest.json``)."""

    target: Target
    root: Path
    version: str
    source: LiteSource
    options: LiteBuildOptions
    tailoring: Tailoring | None
    tailored_models: tuple[str, ...]
    key: str
    library: Path
    seconds: float  # how long the build took when it ran (the cached manifest keeps the first figure)
    cached: bool  # True: found in the cache, nothing was built now
    log: Path
    manifest: dict[str, Any]


# ----------------------------------------------------------------------------------------------
# The source


def default_source() -> tuple[str, str] | None:
    """(source, where that came from): ``$EDGECLAS_PADDLE_LITE_SOURCE``, else the bundle CI keeps in
    ``shared/third_party/`` next to the checkout (or next to its parent, for git worktrees)."""
    env = os.environ.get(SOURCE_ENV)
    if env:
        return env, f"${SOURCE_ENV}"
    root = checkout_root()  # an installed edgeclas has no checkout next to a shared/ folder
    for base in (root.parent, root.parent.parent) if root else ():
        bundle = base / "shared" / "third_party" / _BUNDLE_NAME
        if bundle.is_file():
            return str(bundle), str(bundle.parent)
    return None


def source_hint() -> str:
    return (f"pass --source {UPSTREAM} (needs internet) or a local clone / git bundle of it, "
            f"or set {SOURCE_ENV}=PATH_OR_URL")


def _git(args: Sequence[str], what: str, *, cwd: Path | None = None, timeout: float = 600) -> str:
    git = shutil.which("git")
    if not git:
        raise ToolchainError("git is not on PATH (Paddle Lite's source is a git repository)",
                             hint="apt-get install git")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        res = subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{what}: git did not finish within {timeout:.0f} s",
                             hint="check the network connection (or use a local clone / bundle)") from None
    if res.returncode != 0:
        last = [ln for ln in res.stderr.strip().splitlines() if ln.strip()][-2:]
        raise ToolchainError(f"{what}: {' | '.join(last) or f'git exited {res.returncode}'}", hint=source_hint())
    return res.stdout


def _kind(origin: str) -> str:
    if re.match(r"^[a-z][a-z0-9+.-]*://", origin) or re.match(r"^[\w.-]+@[\w.-]+:", origin):
        return "url"
    p = Path(origin)
    if p.is_dir():
        return "clone"
    if p.is_file():
        return "bundle"
    raise ConfigError(f"--source {origin}: no such file or directory, and not a git URL", hint=source_hint())


def _check_bundle_digest(bundle: Path) -> None:
    """A bundle with a ``.sha256`` beside it (CI's copy has one) must match it."""
    side = bundle.with_name(bundle.name + ".sha256")
    if not side.is_file():
        return
    want = side.read_text().split()[0].lower() if side.read_text().split() else ""
    got = sha256_file(bundle)
    if got != want:
        raise ToolchainError(f"{bundle}: sha256 {got} does not match {side.name} ({want})",
                             hint="the bundle is damaged or was replaced; copy it again from where it came from")


def resolve_source(source: str | os.PathLike[str] | None = None, ref: str = DEFAULT_REF) -> LiteSource:
    """What ``source`` holds at ``ref`` (a tag, branch or commit), without cloning it."""
    if source is None:
        found = default_source()
        if found is None:
            raise ToolchainError("no Paddle Lite source given and none found", hint=source_hint())
        source = found[0]
    origin = str(source)
    kind = _kind(origin)
    if kind == "bundle":
        _check_bundle_digest(Path(origin))
    if kind != "url":
        origin = str(Path(origin).resolve())
    if kind == "clone":
        try:
            _git(["-C", origin, "rev-parse", "--git-dir"], f"--source {origin}")
        except ToolchainError:
            raise ToolchainError(
                f"--source {origin}: a directory that is not a git checkout; Paddle Lite takes its version from "
                "git tags (an unpacked archive builds a library that reports no version, which opt's .nb check "
                "then rejects)", hint=f"clone it instead: git clone -b {DEFAULT_REF} {UPSTREAM}") from None
    listing = _git(["ls-remote", origin], f"reading refs of {origin}", timeout=300)
    refs: dict[str, str] = {}
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            refs[parts[1]] = parts[0]
    commit = None
    for name in (f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", f"refs/heads/{ref}", ref):
        if name in refs:
            commit = refs[name]
            break
    if commit is None and re.fullmatch(r"[0-9a-f]{7,40}", ref):
        matches = sorted({sha for sha in refs.values() if sha.startswith(ref)})
        commit = matches[0] if len(matches) == 1 else None
    if commit is None:
        tags = sorted(n[len("refs/tags/"):] for n in refs if n.startswith("refs/tags/") and not n.endswith("^{}"))
        raise ConfigError(f"--ref {ref}: not a tag, branch or advertised commit of {origin}",
                          hint="tags there: " + (", ".join(tags[-8:]) or "none") + f" (edgeclas pins {DEFAULT_REF})")
    peeled: dict[str, str] = {}
    for name, sha in refs.items():
        if name.startswith("refs/tags/"):
            tag = name[len("refs/tags/"):].removesuffix("^{}")
            if name.endswith("^{}") or tag not in peeled:
                peeled[tag] = sha
    tags = tuple(sorted(tag for tag, sha in peeled.items() if sha == commit))
    return LiteSource(str(source) if kind == "url" else origin, kind, ref, commit, tags)


def _clone(src: LiteSource, dest: Path) -> str:
    """Clone ``src`` at its commit into ``dest``; check it is Paddle Lite; return its version tag."""
    if dest.exists():
        shutil.rmtree(dest)
    args = ["clone", "--quiet"]
    if src.kind == "url":
        args += ["--depth", "1", "--branch", src.ref] if not re.fullmatch(r"[0-9a-f]{7,40}", src.ref) else []
    _git([*args, src.origin, str(dest)], f"cloning {src.origin}", timeout=1800)
    _git(["-C", str(dest), "checkout", "--quiet", "--detach", src.commit], f"checking out {src.commit[:12]}")
    missing = [m for m in _MARKERS if not (dest / m).is_file()]
    if missing:
        raise ToolchainError(f"{src.origin} at {src.ref}: not Paddle Lite's source (no {', '.join(missing[:2])})",
                             hint=f"use the official repository: {UPSTREAM} (or a clone / bundle of it)")
    try:
        tag = _git(["-C", str(dest), "describe", "--tags", "--exact-match", "HEAD"], "reading the version tag").strip()
    except ToolchainError:
        tag = ""
    if not tag:
        raise ToolchainError(
            f"{src.origin} at {src.ref} ({src.commit[:12]}): no version tag on this commit; Paddle Lite compiles "
            "`git describe --tags --exact-match` into the library as its version, and the .nb files' opt version "
            "must equal it",
            hint=f"build a release tag: --ref {DEFAULT_REF} (a clone without tags: git fetch --tags)")
    return tag


# ----------------------------------------------------------------------------------------------
# Configure


def _toolchain(t: Target) -> Path | None:
    """edgeclas's toolchain file for ARM Linux; Android builds use the NDK's own (Paddle Lite selects it)."""
    return None if t.os == "android" else t.toolchain


def cmake_command(src: Path, bdir: Path, t: Target, options: LiteBuildOptions, *, tailor_dir: Path | None = None,
                  ndk: Path | None = None, cmake: str = "cmake", ninja: str = "ninja") -> list[str]:
    """The configure command for ``t``: Paddle Lite's tiny publish (light API only) with edgeclas's toolchains.

    Linux ARM goes through ``toolchains/linux-<arch>.cmake`` (Debian's cross gcc); Android through the
    NDK's own ``android.toolchain.cmake``, which Paddle Lite's ``cmake/os/android.cmake`` selects from
    ``ANDROID_NDK`` itself, so it is passed as the same file.
    """
    _check_buildable(t)
    options.check(t)
    cmd = [cmake, str(src), "-B", str(bdir), "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}",
           "-DCMAKE_BUILD_TYPE=Release", "-DWITH_TESTING=OFF", f"-DLITE_BUILD_EXTRA={'ON' if options.extra else 'OFF'}",
           "-DLITE_WITH_PYTHON=OFF", "-DLITE_WITH_JAVA=OFF", "-DLITE_WITH_STATIC_LIB=OFF", "-DLITE_WITH_CV=OFF",
           "-DLITE_WITH_LOG=ON", "-DLITE_WITH_EXCEPTION=OFF", "-DLITE_WITH_OPENCL=OFF"]
    if tailor_dir is not None:
        cmd += ["-DLITE_BUILD_TAILOR=ON", f"-DLITE_OPTMODEL_DIR={tailor_dir}"]
    if t.is_host:  # the x86 recipe (edgeclas.lite.x86_recipe); its protobuf prefix sits beside the source tree
        return cmd + x86_recipe.cmake_options(src.parent)
    cmd += ["-DLITE_WITH_ARM=ON", "-DLITE_WITH_X86=OFF", "-DWITH_AVX=OFF", "-DLITE_ON_TINY_PUBLISH=ON",
            "-DWITH_ARM_DOTPROD=ON", f"-DLITE_WITH_ARM82_FP16={'ON' if options.fp16 else 'OFF'}"]
    abi = "armv8" if t.machine == "aarch64" else ("armv7" if t.os == "android" else "armv7hf")
    if t.os == "android":
        if ndk is None:
            raise ToolchainError("an Android build of Paddle Lite needs the NDK", hint="pass --ndk DIR or set ANDROID_NDK_HOME")
        cmd += ["-DARM_TARGET_OS=android", f"-DARM_TARGET_ARCH_ABI={abi}", "-DARM_TARGET_LANG=clang",
                f"-DANDROID_NDK={ndk}", f"-DCMAKE_TOOLCHAIN_FILE={ndk / 'build' / 'cmake' / 'android.toolchain.cmake'}",
                f"-DANDROID_NATIVE_API_LEVEL={options.android_api}", f"-DANDROID_PLATFORM=android-{options.android_api}",
                f"-DANDROID_STL_TYPE={options.android_stl}"]
    else:
        cmd += ["-DARM_TARGET_OS=armlinux", f"-DARM_TARGET_ARCH_ABI={abi}", "-DARM_TARGET_LANG=gcc",
                f"-DCMAKE_TOOLCHAIN_FILE={_toolchain(t)}"]
        if abi == "armv7hf":
            # Debian's armhf gcc defaults to Thumb, where an asm constraint in Paddle Lite's LTO link fails; the
            # FP16 sources that a tailored build keeps need an explicit half-precision format.
            cmd += ["-DCMAKE_C_FLAGS=-marm -mfp16-format=ieee", "-DCMAKE_CXX_FLAGS=-marm -mfp16-format=ieee"]
    return cmd


def _check_buildable(t: Target) -> None:
    if t.is_host and t.machine != "x86_64":
        raise ToolchainError(f"Paddle Lite for {t.key}: edgeclas's host recipe is for x86-64 Linux",
                             hint="on an ARM Linux machine, build --arch armv8 or armv7 instead")
    if not t.is_host and t.machine not in ("aarch64", "armv7"):
        raise ToolchainError(f"Paddle Lite for {t.key}: edgeclas builds it for armv8, armv7 and the x86-64 host")


def _compiler_version(t: Target, ndk: Path | None) -> str:
    if t.os == "android":
        props = ndk / "source.properties" if ndk else None
        text = props.read_text() if props and props.is_file() else ""
        m = re.search(r"Pkg\.Revision\s*=\s*(\S+)", text)
        return f"ndk {m.group(1) if m else 'unknown'}"
    gxx = "c++" if t.is_host else {"aarch64": "aarch64-linux-gnu-g++", "armv7": "arm-linux-gnueabihf-g++"}[t.machine]
    path = shutil.which(gxx)
    if not path:
        raise ToolchainError(f"cross compiler {gxx} not found on PATH",
                             hint="apt-get install g++" if t.is_host else f"apt-get install g++-{gxx.removesuffix('-g++')}")
    out = subprocess.run([path, "-dumpfullversion"], capture_output=True, text=True, timeout=30)
    return f"{gxx} {out.stdout.strip()}"


def _flatc() -> tuple[str, str]:
    flatc = shutil.which("flatc")
    header = Path("/usr/include/flatbuffers/flatbuffers.h")
    if not flatc or not header.is_file():
        raise ToolchainError("flatc and the flatbuffers headers are needed: Paddle Lite's tree expects its model "
                             "format's headers pre-generated, and edgeclas generates them from its .fbs schemas",
                             hint="apt-get install flatbuffers-compiler libflatbuffers-dev")
    out = subprocess.run([flatc, "--version"], capture_output=True, text=True, timeout=30)
    return flatc, out.stdout.strip()


def _prepare_tree(src: Path, flatc: str) -> None:
    """What Paddle Lite's own build scripts do before CMake, and the flatbuffers headers its tree lacks."""
    gen = src / "lite" / "gen_code" / "__generated_code__.cc"
    if not gen.exists():
        gen.parent.mkdir(parents=True, exist_ok=True)
        gen.write_text("")
    pre = src / "third-party" / "flatbuffers" / "pre-build"
    if (pre / "framework_generated.h").is_file():
        return  # a tree that ships them (upstream checkouts with third-party/) is used as is
    pre.mkdir(parents=True, exist_ok=True)
    shutil.copytree("/usr/include/flatbuffers", pre / "flatbuffers", dirs_exist_ok=True)
    for fbs in _FBS:
        res = subprocess.run([flatc, *_FLATC_FLAGS, "-o", str(pre), str(src / fbs)], capture_output=True, text=True,
                             timeout=120)
        if res.returncode != 0:
            raise BuildError(f"flatc could not compile {fbs}: {res.stderr.strip()[-300:]}",
                             hint="is this Paddle Lite's source at a release tag?")


# ----------------------------------------------------------------------------------------------
# Build


def _key(src: LiteSource, t: Target, options: LiteBuildOptions, tailoring: Tailoring | None, compiler: str,
         flatc: str) -> str:
    toolchain = ""
    tc = _toolchain(t)
    if tc is not None:
        toolchain = "".join(p.read_text() for p in sorted(tc.parent.glob("linux-*.cmake")))
    # Extra key parts only where they apply, so the other builds' keys stay what they were.
    recipe = [x86_recipe.fingerprint()] if t.is_host else []
    if _fp16_edits(t, options, tailoring):
        recipe.append(repr(TAILOR_FP16))
    payload = json.dumps([_RECIPE, src.commit, t.key, asdict(options), tailoring and tailoring.files(), compiler,
                          flatc, toolchain, *recipe], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _fp16_edits(t: Target, options: LiteBuildOptions, tailoring: Tailoring | None) -> bool:
    """A tailored ARM --fp16 build needs TAILOR_FP16 (edgeclas.lite.source_edits) to keep the FP16 depthwise conv."""
    return options.fp16 and tailoring is not None and not t.is_host


@contextlib.contextmanager
def _lock(path: Path, say: Callable[[str], None], what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            say(f"waiting for {what} ({f.read().strip() or 'another process'}) to finish ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)


_NOISE = re.compile(r"^\[\d+/\d+\] |^-- |^\s*$")


def tail_of_log(log: Path, lines: int = 25) -> list[str]:
    """The last meaningful lines of a build log (ninja's progress lines and CMake's status lines dropped), with
    the first error line and what follows it when the error is further up."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    keep = [ln for ln in text if not _NOISE.match(ln)]
    first_err = next((i for i, ln in enumerate(keep) if re.search(r"\berror\b|FAILED:|Error ", ln)), None)
    tail = keep[-lines:]
    if first_err is not None and first_err < len(keep) - lines:
        tail = keep[first_err:first_err + 6] + ["..."] + keep[-(lines - 7):]
    return [ln[:300] for ln in tail]


def _run_logged(cmd: list[str], step: str, log: Path, env: dict[str, str], say: Callable[[str], None],
                cwd: Path | None = None) -> None:
    """Run ``cmd`` with its output appended to ``log``; report ninja's progress now and then; fail with the tail."""
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd,
                              errors="replace") as proc:
            assert proc.stdout is not None
            last = time.monotonic()
            for line in proc.stdout:
                f.write(line)
                f.flush()  # the log is live: `tail -f` it while a long build runs
                m = re.match(r"^\[(\d+)/(\d+)\]", line)
                if m and time.monotonic() - last > 30:
                    say(f"  {step}: {m.group(1)}/{m.group(2)} steps")
                    last = time.monotonic()
        rc = proc.returncode
    if rc != 0:
        tail = "\n    ".join(tail_of_log(log))
        raise BuildError(f"Paddle Lite {step} failed (exit {rc}); the end of the build log:\n    {tail}",
                         hint=f"the whole log: {log}")


def registered_kernels(header: Path) -> set[str]:
    """The kernels a build links in: ``USE_LITE_KERNEL(op, target, precision, layout, alias)`` lines of its
    ``paddle_use_kernels.h``, as ``op,target,precision,layout,alias`` (the form opt's tailoring lists use)."""
    try:
        text = header.read_text()
    except OSError:
        return set()
    return {re.sub(r"\s+", "", m) for m in re.findall(r"USE_LITE_KERNEL\(([^)]*)\)", text)}


def _check_registered(header: Path, tailoring: Tailoring | None, log: Path) -> None:
    """A build whose kernel list lacks kernels it was tailored to (or has none) links without them and aborts on
    the first model: refuse it here, naming them."""
    got = registered_kernels(header)
    want = set(tailoring.kernel_specs) if tailoring is not None else set()
    missing = sorted(want - got)
    if missing or not got:
        raise BuildError(f"the build registered {len(got & want) if want else len(got)} of the "
                         f"{len(want) if want else 'expected'} kernels in {header.name} (missing: "
                         f"{', '.join(missing[:4]) or 'all'}); its library would abort on a model needing them",
                         hint=f"see {log}")


def _version_compiled_in(bdir: Path) -> str:
    """The tag Paddle Lite's CMake wrote into ``lite/core/version.h`` (what ``GetVersion()`` returns)."""
    try:
        text = (bdir / "lite" / "core" / "version.h").read_text()
    except OSError:
        return ""
    m = re.search(r'paddlelite_tag\(\)\s*\{\s*return\s*"([^"]*)"', text)
    return m.group(1) if m else ""


def _runtime_libs(t: Target) -> list[Path]:
    """Shared libraries the Linux library needs that a board may lack: libgomp (its OpenMP runtime)."""
    if t.os != "linux" or t.is_host:  # the host has its own (and its system libraries: OpenBLAS, protobuf)
        return []
    sysroot = {"aarch64": "/usr/aarch64-linux-gnu", "armv7": "/usr/arm-linux-gnueabihf"}[t.machine]
    gomp = Path(sysroot) / "lib" / "libgomp.so.1"
    return [gomp] if gomp.exists() else []


def _build_dir(t: Target, key: str) -> Path:
    return cache_dir("build", f"paddle-lite-{t.key}-{key}")


def _load(root: Path, t: Target, src: LiteSource, options: LiteBuildOptions, tailoring: Tailoring | None,
          models: tuple[str, ...], key: str, log: Path) -> LiteBuild:
    m = read_manifest(root, "sdk")
    return LiteBuild(t, root, str(m["version"]), src, options, tailoring, models, key,
                     root / "cxx" / "lib" / _LIB, float(m["build"]["seconds"]), True, log, m)


def build_paddle_lite(
    source: str | os.PathLike[str] | None = None,
    *,
    ref: str = DEFAULT_REF,
    arch: str = "armv8",
    os_: str | None = None,
    tailor: Sequence[str | os.PathLike[str]] = (),
    options: LiteBuildOptions | None = None,
    jobs: int = 2,
    ndk: str | os.PathLike[str] | None = None,
    opt_bin: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> LiteBuild:
    """Build (or find in the cache) Paddle Lite's light-API library for a target; see the module doc.

    ``tailor``: model directories; the library then holds only the kernels their arm ``.nb`` files need
    (recorded with opt, :func:`edgeclas.lite.record_tailoring`).
    """
    say = log or (lambda _m: None)
    t = make_target(arch, os_)
    options = (options or LiteBuildOptions()).check(t)
    if jobs < 1:
        raise ConfigError(f"--jobs must be ≥ 1, got {jobs}")
    ndk_path: Path | None = None
    if t.os == "android":
        from ..sdk import resolve

        ndk_path = Path(resolve("ndk", arch=t.arch, os=t.os, flag=ndk).path)
    cmake_command(Path("SRC"), Path("BUILD"), t, options, ndk=ndk_path)  # refuses what cannot be built, early
    if t.is_host:
        x86_recipe.check_system()
    cmake, ninja = shutil.which("cmake"), shutil.which("ninja")
    if not cmake or not ninja:
        raise ToolchainError("cmake and ninja are needed to build Paddle Lite", hint="apt-get install cmake ninja-build")
    flatc, flatc_version = _flatc()
    compiler = _compiler_version(t, ndk_path)
    src = resolve_source(source, ref)

    tailoring: Tailoring | None = None
    models = tuple(str(Path(m).resolve()) for m in tailor)
    if models:
        from .convert import record_tailoring

        say(f"recording the ops of {len(models)} model(s) for tailoring ...")
        # With --fp16 the library must run both: FP32 .nb files (FP16 chosen at run time by precision FP16)
        # and .nb files converted --fp16, whose kernels opt records separately.
        tailoring = merge_tailorings([record_tailoring(m, target="x86" if t.is_host else "arm", fp16=fp16,
                                                       opt_bin=opt_bin)
                                      for m in models for fp16 in ((False, True) if options.fp16 else (False,))])
    key = _key(src, t, options, tailoring, compiler, flatc_version)
    bdir_root = _build_dir(t, key)
    root, log_path = bdir_root / "install", bdir_root / "build.log"
    if (root / "manifest.json").is_file():
        say(f"Paddle Lite for {t.key} is in the cache: {root}")
        return _load(root, t, src, options, tailoring, models, key, log_path)

    with _lock(cache_dir("build", ".paddle-lite.lock"), say, "another Paddle Lite build"):
        if (root / "manifest.json").is_file():  # built by whoever held the lock
            return _load(root, t, src, options, tailoring, models, key, log_path)
        bdir_root.mkdir(parents=True, exist_ok=True)
        log_path.write_text("")
        started = time.monotonic()
        tree = bdir_root / "src"
        say(f"cloning {src.origin} at {src.ref} ({src.commit[:12]}) ...")
        version = _clone(src, tree)
        _prepare_tree(tree, flatc)
        if t.is_host:
            x86_recipe.prepare(tree, bdir_root)
        if _fp16_edits(t, options, tailoring):
            apply_edits(tree, TAILOR_FP16)
        tailor_dir = None
        if tailoring is not None:
            tailor_dir = bdir_root / "tailor"
            tailor_dir.mkdir(exist_ok=True)
            for name, text in tailoring.files().items():
                (tailor_dir / name).write_text(text)
        # Paddle Lite's build only works from a directory inside its tree (tailoring writes next to it).
        bdir = tree / "build.edgeclas"
        env = {k: v for k, v in os.environ.items() if k not in ("CC", "CXX")}  # its armlinux.cmake prefers $CC/$CXX
        if ndk_path is not None:
            env["ANDROID_NDK_HOME"] = str(ndk_path)
        cmd = cmake_command(tree, bdir, t, options, tailor_dir=tailor_dir, ndk=ndk_path, cmake=cmake, ninja=ninja)
        say(f"configuring Paddle Lite {version} for {t.key}" + (f", tailored to {len(tailoring.kernels)} kernels"
                                                                if tailoring else "") + f" (log: {log_path})")
        _run_logged(cmd, "configure", log_path, env, say)
        compiled = _version_compiled_in(bdir)
        if compiled != version:
            raise BuildError(f"Paddle Lite's CMake compiled version '{compiled}' into the library, not the tag "
                             f"'{version}'", hint=f"see {log_path}; build from a clone at a release tag")
        say(f"building with ninja -j{jobs} (Paddle Lite: minutes; tailored builds are the short ones) ...")
        # x86: the light-API library alone (its publish target builds the full API and demos too)
        _run_logged([ninja, "-C", str(bdir), f"-j{jobs}", "paddle_light_api_shared" if t.is_host else "publish_inference"],
                    "build", log_path, env, say)
        libs = [bdir / x86_recipe.LIBRARY] if t.is_host else sorted(bdir.glob(f"inference_lite_lib*/cxx/lib/{_LIB}"))
        libs = [p for p in libs if p.is_file()]
        if len(libs) != 1:
            raise BuildError(f"the build finished but {_LIB} was not published exactly once in {bdir} "
                             f"({len(libs)} found)", hint=f"see {log_path}")
        # A shared library links with undefined symbols; Paddle Lite's own ones mean a kernel's code was left out
        # (seen with --fp16 --tailor in v2.13-rc: the FP16 depthwise conv). It would fail only on the device.
        from ..sdk._elf import undefined_symbols

        own = [sym for sym in undefined_symbols(libs[0]) if sym.startswith("_ZN6paddle")]
        if own:
            raise BuildError(
                f"the built {_LIB} leaves {len(own)} of Paddle Lite's own symbols undefined (first: {own[0]}): the "
                "build left out code it calls" + ("; Paddle Lite's tailoring misses FP16 kernel sources"
                                                 if options.fp16 and tailoring else ""),
                hint=f"build without --tailor{' (or without --fp16)' if options.fp16 else ''}; the log: {log_path}")
        published = libs[0].parent.parent
        header = (published / "include" if not t.is_host else bdir / "lite" / "api") / "paddle_use_kernels.h"
        _check_registered(header, tailoring, log_path)
        seconds = round(time.monotonic() - started, 1)
        with staging_dir(root) as tmp:
            os.chmod(tmp, 0o755)
            if t.is_host:
                (tmp / "cxx" / "include").mkdir(parents=True)
                for where, rel in x86_recipe.HEADERS:
                    shutil.copy2((tree if where == "src" else bdir) / rel, tmp / "cxx" / "include" / Path(rel).name)
            else:
                shutil.copytree(published / "include", tmp / "cxx" / "include")
            (tmp / "cxx" / "lib").mkdir(parents=True)
            shutil.copy2(libs[0], tmp / "cxx" / "lib" / _LIB)
            runtime = []
            for dep in _runtime_libs(t):
                shutil.copy2(dep.resolve(), tmp / "cxx" / "lib" / dep.name)
                runtime.append(f"cxx/lib/{dep.name}")
            files = [str(p.relative_to(tmp)) for p in sorted(tmp.rglob("*")) if p.is_file()]
            body = {
                "name": "paddle-lite",
                "route": "source",
                "version": version,
                "target": {"os": t.os, "arch": t.arch, "abi": t.abi, "triple": t.triple},
                "source": {"origin": src.origin, "kind": src.kind, "ref": src.ref, "commit": src.commit},
                "options": asdict(options),
                "tailored": None if tailoring is None else {
                    "models": list(models), "ops": tailoring.op_names, "kernels": tailoring.kernel_specs},
                "library": {"file": f"cxx/lib/{_LIB}", "bytes": libs[0].stat().st_size},
                "runtime_libs": runtime,
                "recipe": x86_recipe.record() if t.is_host else (
                    {"edited": sorted({rel for rel, *_ in TAILOR_FP16}),
                     "why": "tailored FP16: keep conv_depthwise_common.cc (the FP16 depthwise conv)"}
                    if _fp16_edits(t, options, tailoring) else None),
                "build": {"seconds": seconds, "jobs": jobs, "compiler": compiler, "flatc": flatc_version,
                          "key": key, "cmake": cmd[1:], "log": str(log_path)},
            }
            manifest = write_manifest(tmp, "sdk", body, files)
        shutil.rmtree(tree, ignore_errors=True)  # the key never builds again; keep install/ and the log only
        say(f"Paddle Lite {version} for {t.key}: {body['library']['bytes'] / 1e6:.2f} MB library in {seconds:.0f} s")
        return LiteBuild(t, root, version, src, options, tailoring, models, key, root / "cxx" / "lib" / _LIB,
                         seconds, False, log_path, manifest)



# ----------------------------------------------------------------------------------------------
# The ``paddle-lite-source`` SDK item: where ``sdk build paddle-lite`` takes the source from (doctor, sdk list)


def targets(name: str) -> list[Target]:
    return [make_target("host")]


def resolve(name: str, t: Target, flag: Path | None):
    from ..sdk import SdkItem

    if flag is not None:
        origin, where, source = str(flag), "--source", "flag"
    else:
        found = default_source()
        if found is None:
            raise ToolchainError(f"no Paddle Lite source: no --source, no ${SOURCE_ENV}, no {_BUNDLE_NAME} in "
                                 "shared/third_party/ beside the checkout", hint=source_hint())
        origin, where = found
        source = "env" if where.startswith("$") else "system"
    try:
        if _kind(origin) == "url":  # not contacted here: doctor must not wait on the network
            return SdkItem(name, DEFAULT_REF, Path(origin), source, note=f"git URL from {where}; fetched by sdk build")
        src = resolve_source(origin, DEFAULT_REF)
    except ConfigError as e:  # a missing path or ref is "not found" for the SDK layer (doctor shows it as a row)
        raise ToolchainError(f"{e.message} (from {where})", hint=e.hint or source_hint()) from None
    if not src.tags:
        raise ToolchainError(f"{origin}: {DEFAULT_REF} has no version tag", hint=source_hint())
    return SdkItem(name, src.tags[0], Path(origin), source, note=f"{src.kind} at {src.commit[:12]}, from {where}")


def install(name: str, t: Target, **_: object):
    raise ToolchainError("a source is not installed: edgeclas sdk build paddle-lite clones it from where it is",
                         hint=source_hint())
