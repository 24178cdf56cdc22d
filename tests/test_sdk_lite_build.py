"""``edgeclas sdk build paddle-lite``: source checks, the configure command, caching, install and errors.

Fast: real git, CMake, Ninja and the cross compiler on small source trees made here. A stand-in tree
(``_fake_lite``) has Paddle Lite's marker files and a CMake project whose ``publish_inference`` target
compiles a real aarch64 shared library (or fails the way a broken build does), so the whole path —
ls-remote, clone, version tag, configure, build, publish, manifest, cache, install — runs in seconds.
The real Paddle Lite build is tested in tests/test_native_lite.py (integration).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeclas import sdk
from edgeclas.errors import BuildError, ConfigError, ToolchainError
from edgeclas.lite.source_build import (
    LiteBuildOptions,
    build_paddle_lite,
    cmake_command,
    resolve_source,
    tail_of_log,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    c = tmp_path / "cache"
    monkeypatch.setenv("EDGECLAS_CACHE", str(c))
    monkeypatch.delenv("EDGECLAS_LITE_ROOT", raising=False)
    monkeypatch.delenv("EDGECLAS_PADDLE_LITE_SOURCE", raising=False)
    return c


def _git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


_FAKE_CMAKE = r"""
cmake_minimum_required(VERSION 3.18)
project(fake_lite C)
# What Paddle Lite's CMake does with the tag, then a publish step that builds a real library for the target.
execute_process(COMMAND git describe --tags --exact-match WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                OUTPUT_VARIABLE TAG OUTPUT_STRIP_TRAILING_WHITESPACE)
file(WRITE ${CMAKE_BINARY_DIR}/lite/core/version.h "static std::string paddlelite_tag() {\n  return \"${TAG}\";\n}\n")
set(PUB ${CMAKE_BINARY_DIR}/inference_lite_lib.armlinux.${ARM_TARGET_ARCH_ABI}/cxx)
add_library(paddle_light_api_shared SHARED lite/api/light.c)
if(FAKE_FAIL)
  add_custom_target(publish_inference COMMAND ${CMAKE_COMMAND} -E echo "light.c:3: error: the build broke here"
                    COMMAND ${CMAKE_COMMAND} -E false)
else()
  add_custom_target(publish_inference
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PUB}/lib ${PUB}/include
    COMMAND ${CMAKE_COMMAND} -E copy $<TARGET_FILE:paddle_light_api_shared> ${PUB}/lib/
    COMMAND ${CMAKE_COMMAND} -E copy ${CMAKE_SOURCE_DIR}/lite/api/paddle_api.h ${PUB}/include/
    COMMAND ${CMAKE_COMMAND} -E copy ${CMAKE_SOURCE_DIR}/lite/api/paddle_use_kernels.h ${PUB}/include/
    DEPENDS paddle_light_api_shared)
endif()
"""


def _fake_lite(path: Path, tag: str | None = "v2.13-rc", *, fail: bool = False, markers: bool = True,
               undefined: bool = False, kernels: bool = True) -> Path:
    """A git repository shaped like Paddle Lite (marker files, a tag), small enough to build in seconds."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    files = {"CMakeLists.txt": _FAKE_CMAKE.replace("if(FAKE_FAIL)", f"if({'ON' if fail else 'OFF'})"),
             # undefined: calls a Paddle Lite function the library does not contain (a left-out kernel source)
             "lite/api/light.c": ("extern int _ZN6paddle4lite6kernel7missingEv(void);\n"
                                  "int paddle_lite_light_api(void) { return _ZN6paddle4lite6kernel7missingEv(); }\n"
                                  if undefined else "int paddle_lite_light_api(void) { return 213; }\n"),
             "third-party/flatbuffers/pre-build/framework_generated.h": "// shipped, so flatc is not run\n",
             # what the build links in (kernels: False is a build that registered none)
             "lite/api/paddle_use_kernels.h": "#pragma once\n" + (
                 "USE_LITE_KERNEL(conv2d, kARM, kFloat, kNCHW, def);\n" if kernels else "")}
    if markers:
        files.update({"lite/api/paddle_api.h": "// stand-in\n", "lite/api/light_api.h": "// stand-in\n",
                      "cmake/os/armlinux.cmake": "# stand-in\n", "cmake/os/android.cmake": "# stand-in\n"})
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "snapshot")
    if tag:
        _git(path, "tag", tag)
    return path


def _needs_cross() -> None:
    for tool in ("aarch64-linux-gnu-gcc", "cmake", "ninja", "git", "flatc"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (scripts/bootstrap.sh installs it)")


# --- the source --------------------------------------------------------------------------------

def test_source_at_a_tag_branch_or_commit(tmp_path: Path) -> None:
    repo = _fake_lite(tmp_path / "lite")
    head = _git(repo, "rev-parse", "HEAD")
    s = resolve_source(repo, "v2.13-rc")
    assert (s.kind, s.commit, s.tags, s.origin) == ("clone", head, ("v2.13-rc",), str(repo))
    assert resolve_source(repo, "main").commit == head
    assert resolve_source(repo, head[:10]).commit == head
    with pytest.raises(ConfigError, match="--ref v9.9: not a tag, branch or advertised commit") as e:
        resolve_source(repo, "v9.9")
    assert "v2.13-rc" in e.value.hint


def test_a_bundle_is_checked_against_its_sha256(tmp_path: Path) -> None:
    repo = _fake_lite(tmp_path / "lite")
    bundle = tmp_path / "lite.bundle"
    _git(repo, "bundle", "create", str(bundle), "--all")
    side = tmp_path / "lite.bundle.sha256"
    side.write_text("0" * 64 + "\n")
    with pytest.raises(ToolchainError, match="does not match lite.bundle.sha256"):
        resolve_source(bundle)
    side.write_text(subprocess.run(["sha256sum", str(bundle)], capture_output=True, text=True).stdout)
    s = resolve_source(bundle)
    assert s.kind == "bundle" and s.tags == ("v2.13-rc",)


def test_sources_that_are_not_git_repositories_say_how_to_get_one(tmp_path: Path) -> None:
    (tmp_path / "unpacked").mkdir()
    with pytest.raises(ToolchainError, match="not a git checkout") as e:
        resolve_source(tmp_path / "unpacked")
    assert "git clone -b v2.13-rc https://github.com/PaddlePaddle/Paddle-Lite" in e.value.hint
    with pytest.raises(ConfigError, match="no such file or directory, and not a git URL"):
        resolve_source(tmp_path / "nowhere")
    (tmp_path / "file.tar").write_bytes(b"not a bundle")
    with pytest.raises(ToolchainError, match="reading refs of"):
        resolve_source(tmp_path / "file.tar")


def test_default_source_is_the_environment_then_the_shared_bundle(monkeypatch, tmp_path: Path) -> None:
    from edgeclas.lite.source_build import default_source

    monkeypatch.setenv("EDGECLAS_PADDLE_LITE_SOURCE", str(tmp_path))
    assert default_source() == (str(tmp_path), "$EDGECLAS_PADDLE_LITE_SOURCE")
    monkeypatch.delenv("EDGECLAS_PADDLE_LITE_SOURCE")
    shared = [p / "shared" / "third_party" / "paddle-lite-v2.13-rc.bundle" for p in (ROOT.parent, ROOT.parent.parent)]
    present = [b for b in shared if b.is_file()]
    assert default_source() == ((str(present[0]), str(present[0].parent)) if present else None)


# --- the configure command ----------------------------------------------------------------------

def test_linux_commands_use_edgeclas_toolchains_and_the_measured_flags(tmp_path: Path) -> None:
    t8 = sdk.target("armv8", "linux")
    cmd = cmake_command(Path("/src"), Path("/src/b"), t8, LiteBuildOptions(), tailor_dir=Path("/tailor"))
    assert f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'toolchains' / 'linux-armv8.cmake'}" in cmd
    for flag in ("-DARM_TARGET_OS=armlinux", "-DARM_TARGET_ARCH_ABI=armv8", "-DARM_TARGET_LANG=gcc",
                 "-DLITE_ON_TINY_PUBLISH=ON", "-DLITE_BUILD_EXTRA=ON", "-DLITE_WITH_X86=OFF",
                 "-DLITE_WITH_ARM82_FP16=OFF", "-DLITE_BUILD_TAILOR=ON", "-DLITE_OPTMODEL_DIR=/tailor"):
        assert flag in cmd, flag
    t7 = sdk.target("armv7", "linux")
    cmd7 = cmake_command(Path("/src"), Path("/src/b"), t7, LiteBuildOptions())
    assert "-DARM_TARGET_ARCH_ABI=armv7hf" in cmd7 and "-DCMAKE_CXX_FLAGS=-marm -mfp16-format=ieee" in cmd7
    assert not any(a.startswith("-DLITE_BUILD_TAILOR") for a in cmd7)
    assert "-DLITE_WITH_ARM82_FP16=ON" in cmake_command(Path("/s"), Path("/b"), t8, LiteBuildOptions(fp16=True))


def test_android_command_goes_through_the_ndk_toolchain_file() -> None:
    ndk = Path("/opt/ndk")
    cmd = cmake_command(Path("/s"), Path("/b"), sdk.target("armv7", "android"),
                        LiteBuildOptions(android_api=26, android_stl="c++_static"), ndk=ndk)
    for flag in ("-DARM_TARGET_OS=android", "-DARM_TARGET_ARCH_ABI=armv7", "-DARM_TARGET_LANG=clang",
                 "-DANDROID_NDK=/opt/ndk", "-DCMAKE_TOOLCHAIN_FILE=/opt/ndk/build/cmake/android.toolchain.cmake",
                 "-DANDROID_NATIVE_API_LEVEL=26", "-DANDROID_PLATFORM=android-26", "-DANDROID_STL_TYPE=c++_static"):
        assert flag in cmd, flag
    with pytest.raises(ToolchainError, match="needs the NDK"):
        cmake_command(Path("/s"), Path("/b"), sdk.target("armv8", "android"), LiteBuildOptions())


def test_host_command_is_the_x86_framework_on_the_systems_pieces(tmp_path: Path) -> None:
    cmd = cmake_command(Path("/w/src"), Path("/w/src/b"), sdk.target("host"), LiteBuildOptions(),
                        tailor_dir=Path("/tailor"))
    for flag in ("-DLITE_WITH_X86=ON", "-DLITE_WITH_ARM=OFF", "-DWITH_MKL=OFF", "-DWITH_MKLDNN=OFF",
                 "-DLITE_ON_TINY_PUBLISH=OFF", "-DPROTOBUF_ROOT=/w/protobuf-root", "-DLITE_BUILD_TAILOR=ON"):
        assert flag in cmd, flag
    assert not any(a.startswith(("-DCMAKE_TOOLCHAIN_FILE", "-DARM_TARGET")) for a in cmd)
    with pytest.raises(ConfigError, match="FP16 kernels need ARMv8.2"):
        cmake_command(Path("/s"), Path("/b"), sdk.target("host"), LiteBuildOptions(fp16=True))


def test_x86_recipe_refuses_a_tree_it_was_not_written_for(tmp_path: Path) -> None:
    """An edit that does not find its text stops the build naming the file (not a build of something else)."""
    from edgeclas.lite import x86_recipe

    tree = tmp_path / "src"
    (tree / "cmake" / "external").mkdir(parents=True)
    with pytest.raises(BuildError, match="eigen.cmake: missing; edgeclas's x86 recipe replaces it"):
        x86_recipe.prepare(tree, tmp_path)
    for name in ("eigen", "xbyak", "xxhash", "openblas", "gflags", "glog"):
        (tree / "cmake" / "external" / f"{name}.cmake").write_text("# Paddle Lite's download\n")
    (tree / "lite" / "utils").mkdir(parents=True)
    (tree / "lite" / "utils" / "CMakeLists.txt").write_text("# another Paddle Lite\n")
    with pytest.raises(BuildError, match="lite/utils/CMakeLists.txt: the text edgeclas's recipe edits") as e:
        x86_recipe.prepare(tree, tmp_path)
    assert "--ref v2.13-rc" in e.value.hint
    assert (tree / "cmake" / "external" / "eigen.cmake").read_text() == "# Paddle Lite's download\n"
    assert (tree / "lite" / "utils" / "CMakeLists.txt").read_text() == "# another Paddle Lite\n"  # nothing changed


def test_x86_recipe_names_the_packages_it_lacks(monkeypatch) -> None:
    from edgeclas.lite import x86_recipe

    monkeypatch.setattr(x86_recipe, "PIECES", (*x86_recipe.PIECES, x86_recipe.SystemPiece(
        "nothing", "libnothing-dev", headers=("edgeclas-no-such-header.h",))))
    with pytest.raises(ToolchainError, match=r"missing: nothing \(/usr/include/edgeclas-no-such-header.h\)") as e:
        x86_recipe.check_system()
    assert "apt-get install libnothing-dev" in e.value.hint


def test_what_cannot_be_built_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="FP16 kernels need ARMv8.2"):
        cmake_command(Path("/s"), Path("/b"), sdk.target("armv7", "linux"), LiteBuildOptions(fp16=True))
    with pytest.raises(ConfigError, match="API levels"):
        LiteBuildOptions(android_api=9).check(sdk.target("armv8", "android"))


def test_tail_of_a_failed_log_shows_the_first_error_and_the_end(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    lines = ["-- Configuring done"] + [f"[{i}/300] Building CXX object x{i}.o" for i in range(1, 200)]
    lines += ["FAILED: lite/kernels/arm/conv.o", "conv.cc:12:3: error: 'float16_t' was not declared"]
    lines += [f"note: context {i}" for i in range(40)] + ["ninja: build stopped: subcommand failed."]
    log.write_text("\n".join(lines) + "\n")
    tail = tail_of_log(log)
    assert tail[0] == "FAILED: lite/kernels/arm/conv.o" and "error: 'float16_t'" in tail[1]
    assert tail[-1] == "ninja: build stopped: subcommand failed." and "..." in tail
    assert not any(t.startswith("[") or t.startswith("-- ") for t in tail)
    assert len(tail) <= 25


# --- building ----------------------------------------------------------------------------------

def test_build_install_and_cache(cache: Path, tmp_path: Path) -> None:
    _needs_cross()
    repo = _fake_lite(tmp_path / "lite")
    said: list[str] = []
    b = build_paddle_lite(repo, arch="armv8", os_="linux", log=said.append)
    assert not b.cached and b.version == "v2.13-rc" and b.tailoring is None
    assert b.root == cache / "build" / f"paddle-lite-linux-armv8-{b.key}" / "install"
    m = json.loads((b.root / "manifest.json").read_text())
    assert (m["kind"], m["route"], m["version"]) == ("sdk", "source", "v2.13-rc")
    assert m["source"]["commit"] == _git(repo, "rev-parse", "HEAD") and m["tailored"] is None
    assert set(m["files"]) >= {"cxx/lib/libpaddle_light_api_shared.so", "cxx/include/paddle_api.h"}
    assert m["runtime_libs"] == ["cxx/lib/libgomp.so.1"]  # Paddle Lite's OpenMP runtime travels with it
    assert "-DCMAKE_TOOLCHAIN_FILE=" + str(ROOT / "toolchains" / "linux-armv8.cmake") in m["build"]["cmake"]
    assert not (b.root.parent / "src").exists()  # the clone is gone; install/ and the log stay
    assert any("configuring Paddle Lite v2.13-rc for linux-armv8" in s for s in said)

    again = build_paddle_lite(repo, arch="armv8", os_="linux")
    assert again.cached and again.root == b.root and again.manifest["created"] == m["created"]
    # Another option or another commit is another build.
    _git(repo, "commit", "-q", "--allow-empty", "-m", "next")
    _git(repo, "tag", "v2.13.1")
    newer = build_paddle_lite(repo, ref="v2.13.1", arch="armv8", os_="linux")
    assert newer.key != b.key and newer.version == "v2.13.1"

    from edgeclas.sdk.paddle_lite import install_build

    item = install_build(b.root, b.target)
    assert item.path == cache / "sdk" / "paddle-lite" / "v2.13-rc" / "linux-armv8"
    found = sdk.resolve("paddle-lite", arch="armv8", os="linux")
    assert (found.source, found.version) == ("cache", "v2.13-rc")
    assert found.note == f"built from source {b.source.commit[:12]}, all kernels"


def test_source_that_is_not_paddle_lite_or_has_no_tag(cache: Path, tmp_path: Path) -> None:
    _needs_cross()
    other = _fake_lite(tmp_path / "other", markers=False)
    with pytest.raises(ToolchainError, match="not Paddle Lite's source") as e:
        build_paddle_lite(other, arch="armv8", os_="linux")
    assert "github.com/PaddlePaddle/Paddle-Lite" in e.value.hint
    untagged = _fake_lite(tmp_path / "untagged", tag=None)
    with pytest.raises(ToolchainError, match="no version tag on this commit") as e:
        build_paddle_lite(untagged, ref="main", arch="armv8", os_="linux")
    assert "--ref v2.13-rc" in e.value.hint


def test_failed_build_shows_the_end_of_its_log_and_where_the_log_is(cache: Path, tmp_path: Path) -> None:
    _needs_cross()
    repo = _fake_lite(tmp_path / "broken", fail=True)
    with pytest.raises(BuildError) as e:
        build_paddle_lite(repo, arch="armv8", os_="linux")
    assert "Paddle Lite build failed" in e.value.message
    assert "light.c:3: error: the build broke here" in e.value.message
    log = Path(e.value.hint.split("the whole log: ")[1])
    assert log.is_file() and "the build broke here" in log.read_text()
    assert not list(cache.glob("build/paddle-lite-*/install"))  # nothing half-installed


@pytest.mark.parametrize("arch", ["armv8", "armv7"])  # 64- and 32-bit ELF symbol tables
def test_a_library_missing_its_own_code_is_refused(cache: Path, tmp_path: Path, arch: str) -> None:
    _needs_cross()
    if not shutil.which("arm-linux-gnueabihf-gcc"):
        pytest.skip("arm-linux-gnueabihf-gcc not installed (scripts/bootstrap.sh installs it)")
    repo = _fake_lite(tmp_path / "lite", undefined=True)
    with pytest.raises(BuildError, match="leaves 1 of Paddle Lite's own symbols undefined") as e:
        build_paddle_lite(repo, arch=arch, os_="linux")
    assert "_ZN6paddle4lite6kernel7missingEv" in e.value.message and "without --tailor" in e.value.hint
    assert not list(cache.glob("build/paddle-lite-*/install"))


def test_a_build_that_registered_no_kernels_is_refused(cache: Path, tmp_path: Path) -> None:
    """Its library would link without kernels and abort on the first model (seen: the x86 configure without
    Python left every tailored kernel file empty)."""
    _needs_cross()
    repo = _fake_lite(tmp_path / "lite", kernels=False)
    with pytest.raises(BuildError, match=r"registered 0 of the expected kernels in paddle_use_kernels.h") as e:
        build_paddle_lite(repo, arch="armv8", os_="linux")
    assert "build.log" in e.value.hint
    assert not list(cache.glob("build/paddle-lite-*/install"))


def test_registered_kernels_are_read_as_opt_writes_them(tmp_path: Path) -> None:
    from edgeclas.lite.source_build import registered_kernels

    h = tmp_path / "paddle_use_kernels.h"
    h.write_text('#include "paddle_lite_factory_helper.h"\n\nUSE_LITE_KERNEL(pool2d, kX86, kFloat, kNCHW, def);\n'
                 "USE_LITE_KERNEL(feed, kHost, kAny, kAny, def);\n")
    assert registered_kernels(h) == {"pool2d,kX86,kFloat,kNCHW,def", "feed,kHost,kAny,kAny,def"}
    assert registered_kernels(tmp_path / "missing.h") == set()


def test_cli_builds_and_installs(cache: Path, tmp_path: Path) -> None:
    _needs_cross()
    repo = _fake_lite(tmp_path / "lite")
    exe = Path(os.sys.executable).with_name("edgeclas")
    r = subprocess.run([str(exe), "sdk", "build", "paddle-lite", "--source", str(repo), "--arch", "armv8", "--os",
                        "linux"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "paddle-lite v2.13-rc for linux-armv8" in r.stdout and "all kernels, built in" in r.stdout
    assert f"installed: {cache / 'sdk' / 'paddle-lite' / 'v2.13-rc' / 'linux-armv8'}" in r.stdout
    r = subprocess.run([str(exe), "sdk", "build", "paddle-lite", "--source", str(repo), "--arch", "host"],
                       capture_output=True, text=True, timeout=600)
    # The stand-in repository is not v2.13-rc's tree: the x86 recipe says so instead of building it.
    assert r.returncode != 0 and "edgeclas's x86 recipe replaces it" in r.stderr and "--ref v2.13-rc" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([str(exe), "sdk", "build", "onnxruntime"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "only paddle-lite is built from source" in r.stderr


@pytest.mark.parametrize("arch,abi,stl,api", [("armv8", "arm64-v8a", "c++_shared", 24),
                                              ("armv7", "armeabi-v7a", "c++_static", 21)])
def test_android_configure_of_the_real_source_reaches_the_ndk_toolchain_file(tmp_path, arch, abi, stl, api):
    """No NDK here: a stand-in NDK whose toolchain file reports what Paddle Lite's CMake handed it, then stops."""
    from edgeclas.lite.source_build import _clone, default_source, source_hint

    found = default_source()
    if found is None:
        pytest.skip(f"no Paddle Lite source: {source_hint()}")
    _needs_cross()
    src = tmp_path / "src"
    _clone(resolve_source(found[0]), src)
    ndk = tmp_path / "ndk"
    (ndk / "build" / "cmake").mkdir(parents=True)
    (ndk / "build" / "cmake" / "android.toolchain.cmake").write_text(
        'message(FATAL_ERROR "NDK-GOT ABI=${ANDROID_ABI} PLATFORM=${ANDROID_PLATFORM} STL=${ANDROID_STL} '
        'API=${ANDROID_NATIVE_API_LEVEL} NEON=${ANDROID_ARM_NEON}")\n')
    cmd = cmake_command(src, src / "build.edgeclas", sdk.target(arch, "android"),
                        LiteBuildOptions(android_stl=stl, android_api=api), ndk=ndk)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    got = " ".join(r.stderr.split())
    assert r.returncode != 0 and f"NDK-GOT ABI={abi} PLATFORM=android-{api} STL={stl} API={api}" in got, got[-800:]
    if arch == "armv7":
        assert "NEON=TRUE" in got  # Paddle Lite asks the NDK for NEON on armeabi-v7a


def test_source_edits_match_the_real_v2_13_rc_tree(tmp_path: Path) -> None:
    """Every edit edgeclas makes finds its text in Paddle Lite's real source (a cheap check: no build), and the
    x86 recipe's replacements land where Paddle Lite's CMake includes them."""
    from edgeclas.lite import x86_recipe
    from edgeclas.lite.source_build import _clone, default_source, source_hint
    from edgeclas.lite.source_edits import TAILOR_FP16, apply_edits

    found = default_source()
    if found is None:
        pytest.skip(f"no Paddle Lite source: {source_hint()}")
    src = tmp_path / "src"
    _clone(resolve_source(found[0]), src)
    apply_edits(src, TAILOR_FP16)
    assert "conv_depthwise_common_${target}_${suffix}.cc" in (src / "lite/kernels/CMakeLists.txt").read_text()
    x86_recipe.prepare(src, tmp_path)
    text = (src / "lite/kernels/CMakeLists.txt").read_text()
    assert "list(FIND tailored_kernel_files ${target}/${src} _index_1)" in text
    assert "edgeclas: a file that only registers kernels" in (src / "lite/tools/cmake_tools/ast.py").read_text()
    assert (src / "cmake/external/eigen.cmake").read_text().startswith("# edgeclas: Eigen from the system")
    assert (tmp_path / "protobuf-root" / "bin" / "protoc").exists()


def test_doctor_says_where_the_source_is_or_how_to_get_one(cache: Path, tmp_path: Path, monkeypatch) -> None:
    from edgeclas.doctor import collect

    repo = _fake_lite(tmp_path / "lite")
    monkeypatch.setenv("EDGECLAS_PADDLE_LITE_SOURCE", str(repo))
    row = next(r for r in collect(["edgeclas.sdk:doctor_rows"]) if r.name == "paddle-lite-source")
    assert row.found and (row.version, row.where) == ("v2.13-rc", str(repo)) and row.note.startswith("env; clone at")
    monkeypatch.setenv("EDGECLAS_PADDLE_LITE_SOURCE", str(tmp_path / "gone"))
    row = next(r for r in collect(["edgeclas.sdk:doctor_rows"]) if r.name == "paddle-lite-source")
    assert not row.found and "EDGECLAS_PADDLE_LITE_SOURCE" in row.note
    assert "https://github.com/PaddlePaddle/Paddle-Lite" in row.how
