"""Paddle Lite for the host (x86-64 Linux), offline: what edgeclas does to a fresh clone before CMake.

Paddle Lite's x86 build fetches its third-party code while it builds: eigen, xbyak, xxhash, openblas, mklml
and mkldnn from URLs with no digest, gflags, glog and protobuf from git submodules that a clone or bundle of
the repository does not carry. edgeclas never fetches unpinned archives, so the host build takes them from
the system's package manager instead (Debian's packages, which ``scripts/bootstrap.sh`` installs):

* eigen, xbyak, xxhash, openblas, gflags: replacement ``cmake/external/*.cmake`` files
  (``edgeclas/resources/paddle_lite_x86/``) that define the targets Paddle Lite's CMake expects from the
  system's headers and libraries;
* protobuf (the x86 build is not a tiny publish, and its model parser reads protobuf programs): Paddle Lite's
  own ``PROTOBUF_ROOT`` option, given a prefix of links to the system's headers, libraries and protoc;
* mklml, mkldnn: off (``WITH_MKL=OFF``: BLAS is OpenBLAS);
* glog: not used (see the edits below).

Source edits, each small and checked: the recipe is written for v2.13-rc, and an edit that does not find its
text stops the build naming the file, rather than building something else.

1. Logging through Paddle Lite's own logger (``lite/utils/log``) on x86, as its ARM and Python builds do, instead
   of glog (3 files name the condition).
2. ``search_fc.h`` includes ``mklml.h`` without the ``PADDLE_WITH_MKLML`` guard every other includer has.
3. The tailoring script (``lite/tools/cmake_tools/ast.py``) gives up on kernel files without a ``namespace
   paddle`` block and leaves the kernel out silently; Paddle Lite's x86 kernel files are such files (only
   ``REGISTER_LITE_KERNEL``), so a tailored x86 build would miss pool2d, softmax, matmul_v2 and dropout.
4. The tailoring loop (``lite/kernels/CMakeLists.txt``) remembers kernel files by name, not by target: the
   host's and the x86 ``activation_compute.cc`` count as one, and the second one's stripped copy lacks its
   ``#include`` lines (PP-LCNet needs ``hard_sigmoid`` from the host and ``hard_swish`` from x86).
5. The optimizer passes are left out of ``core`` (``lite/core/CMakeLists.txt``): the light API runs none, and
   they are 147 of the build's ~330 compile steps.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import BuildError, ToolchainError
from .source_edits import HINT, Edit, apply_edits

__all__ = ["SystemPiece", "PIECES", "check_system", "fingerprint", "prepare", "cmake_options", "record", "LIBRARY",
           "HEADERS"]

# Where the light-API library lands in the build tree (the x86 publish target builds the full API and demos too;
# edgeclas builds this one target and copies the headers below itself).
LIBRARY = "lite/api/libpaddle_light_api_shared.so"
# (from the source tree | from the build tree, file): the headers Paddle Lite's own x86 publish copies.
HEADERS = (("src", "lite/api/paddle_api.h"), ("src", "lite/api/paddle_place.h"),
           ("src", "lite/api/paddle_use_passes.h"), ("src", "lite/api/paddle_lite_factory_helper.h"),
           ("build", "lite/api/paddle_use_kernels.h"), ("build", "lite/api/paddle_use_ops.h"))

_LIBDIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")


@dataclass(frozen=True)
class SystemPiece:
    """A third-party piece taken from the system: what must exist, and the package that has it."""

    name: str
    package: str  # Debian's
    headers: tuple[str, ...] = ()  # under /usr/include
    libs: tuple[str, ...] = ()  # file names in the library directories
    programs: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        out = [f"/usr/include/{h}" for h in self.headers if not Path("/usr/include", h).is_file()]
        out += [lib for lib in self.libs if _find_lib(lib) is None]
        out += [p for p in self.programs if shutil.which(p) is None]
        return out


PIECES = (
    SystemPiece("eigen", "libeigen3-dev", headers=("eigen3/unsupported/Eigen/CXX11/Tensor",
                                                   "eigen3/Eigen/src/Core/util/Macros.h")),
    SystemPiece("xbyak", "libxbyak-dev", headers=("xbyak/xbyak.h",)),
    SystemPiece("xxhash", "libxxhash-dev", headers=("xxhash.h",), libs=("libxxhash.a",)),
    SystemPiece("openblas", "libopenblas-dev", libs=("libopenblas.so",)),
    SystemPiece("gflags", "libgflags-dev", headers=("gflags/gflags.h",), libs=("libgflags.so",)),
    SystemPiece("protobuf", "libprotobuf-dev", headers=("google/protobuf/message.h",),
                libs=("libprotobuf.so", "libprotobuf-lite.so")),
    SystemPiece("protoc", "libprotoc-dev protobuf-compiler", libs=("libprotoc.so",), programs=("protoc",)),
)

# See the module doc (edgeclas.lite.source_edits: how an edit is checked).
_EDITS: tuple[Edit, ...] = (
    ("lite/utils/CMakeLists.txt",
     "LITE_WITH_PYTHON OR LITE_WITH_XPU OR (NOT LITE_WITH_LOG)",
     "LITE_WITH_PYTHON OR LITE_WITH_XPU OR LITE_WITH_X86 OR (NOT LITE_WITH_LOG)", 1),
    ("lite/utils/log/cp_logging.h",
     "    defined(LITE_WITH_PYTHON) || defined(LITE_WITH_XPU)\n",
     "    defined(LITE_WITH_PYTHON) || defined(LITE_WITH_XPU) || defined(LITE_WITH_X86)\n", 1),
    ("lite/utils/log/logging.cc",
     "    defined(LITE_WITH_PYTHON) || defined(LITE_WITH_XPU)\n",
     "    defined(LITE_WITH_PYTHON) || defined(LITE_WITH_XPU) || defined(LITE_WITH_X86)\n", 1),
    ("lite/backends/x86/math/search_fc.h",
     '#include "lite/backends/x86/mklml.h"\n',
     '#ifdef PADDLE_WITH_MKLML  // edgeclas: guarded as in every other includer\n'
     '#include "lite/backends/x86/mklml.h"\n#endif\n', 1),
    ("lite/tools/cmake_tools/ast.py",
     "            else:\n                sys.exit(-1)\n        if first_flag == \"True\":",
     "            else:\n"
     "                # edgeclas: a file that only registers kernels (the x86 ones) has no namespace block\n"
     "                main_idx = self.str.find(self.KEYWORD, 0) - 1\n"
     "                if main_idx < 0:\n"
     "                    sys.exit(-1)\n"
     "        if first_flag == \"True\":", 1),
    # The tailoring loop remembers kernel files by name only: host's and x86's activation_compute.cc are one
    # file to it, so the second target's copy lost its #include lines and did not compile.
    ("lite/kernels/CMakeLists.txt",
     "list(FIND tailored_kernel_files ${src} _index_1)",
     "list(FIND tailored_kernel_files ${target}/${src} _index_1)", 1),
    ("lite/kernels/CMakeLists.txt",
     "list(APPEND tailored_kernel_files ${src})",
     "list(APPEND tailored_kernel_files ${target}/${src})", 1),
    # The non-tiny framework compiles its 147 optimizer passes into core; the light API runs none (the .nb is
    # optimized already), and the link shows nothing refers to them (no Paddle Lite symbol left undefined).
    ("lite/core/CMakeLists.txt",
     "  set(CORE_SRC ${CORE_SRC} ${OPTIMIZER_SRC})\n",
     "  # edgeclas: the light API runs no optimizer passes (half the x86 build's compile steps)\n", 1),
)
_SHIMS = ("eigen", "xbyak", "xxhash", "openblas", "gflags", "glog")


def _find_lib(name: str) -> Path | None:
    for d in _LIBDIRS:
        p = Path(d) / name
        if p.exists():
            return p
    return None


def check_system() -> None:
    """Refuse early, naming the packages, when a piece the host build takes from the system is missing."""
    missing = [(p, m) for p in PIECES for m in p.missing()]
    if missing:
        packages = " ".join(dict.fromkeys(p.package for p, _ in missing))
        what = ", ".join(f"{p.name} ({m})" for p, m in missing[:4])
        raise ToolchainError(f"Paddle Lite's host (x86) build takes its third-party code from the system; missing: "
                             f"{what}", hint=f"apt-get install {packages}   (scripts/bootstrap.sh installs them)")


def _shim(name: str) -> str:
    return resources.files("edgeclas").joinpath("resources", "paddle_lite_x86", f"{name}.cmake").read_text()


def fingerprint() -> str:
    """What the host build depends on besides the source and compiler: the recipe itself and the system pieces'
    versions (a new Debian eigen or protobuf makes a new cache key)."""
    h = hashlib.sha256()
    for name in _SHIMS:
        h.update(_shim(name).encode())
    h.update(repr(_EDITS).encode())
    h.update(repr(cmake_options(Path("WORK"))).encode())
    for piece in PIECES:
        for rel in piece.headers:
            f = Path("/usr/include", rel)
            h.update(f.read_bytes() if f.is_file() and f.stat().st_size < 2_000_000 else rel.encode())
        for lib in piece.libs:
            found = _find_lib(lib)
            h.update(str(found.resolve() if found else lib).encode())  # the versioned file name
    protoc = shutil.which("protoc")
    if protoc:
        h.update(subprocess.run([protoc, "--version"], capture_output=True, text=True, timeout=30).stdout.encode())
    return h.hexdigest()[:16]


def prepare(tree: Path, work: Path) -> None:
    """Put the recipe into a fresh clone at ``tree``: the cmake/external replacements, the source edits, and the
    protobuf prefix under ``work`` (see :func:`cmake_options`)."""
    for name in _SHIMS:  # checked before anything is written (apply_edits checks its own the same way)
        if not (tree / "cmake" / "external" / f"{name}.cmake").is_file():
            raise BuildError(f"{tree / 'cmake' / 'external' / f'{name}.cmake'}: missing; edgeclas's x86 recipe "
                             "replaces it", hint=HINT)
    apply_edits(tree, _EDITS)
    for name in _SHIMS:
        (tree / "cmake" / "external" / f"{name}.cmake").write_text(_shim(name))
    prefix = work / "protobuf-root"
    shutil.rmtree(prefix, ignore_errors=True)
    (prefix / "lib").mkdir(parents=True)
    (prefix / "bin").mkdir()
    os.symlink("/usr/include", prefix / "include")
    for lib in ("libprotobuf.so", "libprotobuf-lite.so", "libprotoc.so"):
        found = _find_lib(lib)
        if found is None:
            check_system()  # names the package
        os.symlink(found, prefix / "lib" / lib)
    os.symlink(shutil.which("protoc") or "/usr/bin/protoc", prefix / "bin" / "protoc")


def cmake_options(work: Path) -> list[str]:
    """The x86 build: the full (non-tiny) framework, as Paddle Lite only allows tiny publish on ARM; OpenBLAS for
    BLAS; AVX2/FMA kernels (the library then needs an AVX2 CPU, as the host it is built on).

    ``PYTHON_EXECUTABLE`` is given: the x86 configure reaches the kernels' tailoring script before anything
    has looked Python up, and with it unset that script does not run and every tailored kernel file is
    left empty (a library with no kernels at all)."""
    return ["-DLITE_WITH_ARM=OFF", "-DLITE_WITH_X86=ON", "-DWITH_MKL=OFF", "-DWITH_MKLDNN=OFF", "-DWITH_AVX=ON",
            "-DLITE_ON_TINY_PUBLISH=OFF", f"-DPROTOBUF_ROOT={work / 'protobuf-root'}",
            f"-DPYTHON_EXECUTABLE={sys.executable}"]


def record() -> dict[str, object]:
    """For the build manifest: where each third-party piece came from, and the files the recipe edited."""
    return {"third_party": {p.name: f"system ({p.package})" for p in PIECES} | {"mklml": "off", "mkldnn": "off",
                                                                               "glog": "not used"},
            "edited": sorted({rel for rel, *_ in _EDITS}), "replaced": [f"cmake/external/{n}.cmake" for n in _SHIMS]}
