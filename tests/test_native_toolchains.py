"""toolchains/*.cmake checked with real CMake as far as this machine allows (no NDK here).

The Android files are checked up to the hand-over to the NDK: the error without an NDK, and the ABI /
API level / STL they pass to the NDK's toolchain file (a stand-in file in a temporary "NDK" records them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NDK_VARS = ("ANDROID_NDK_HOME", "ANDROID_NDK_ROOT", "EDGECLAS_NDK")

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed (apt-get install cmake)")


def _configure(tmp_path: Path, toolchain: str, env_extra: dict[str, str] | None = None,
               *defs: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in NDK_VARS}
    env.update(env_extra or {})
    # A trivial project: only the toolchain file's own work is under test here.
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.18)\nproject(t NONE)\n")
    return subprocess.run(["cmake", "-S", src, "-B", tmp_path / "b", f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'toolchains' / toolchain}",
                           *defs], capture_output=True, text=True, env=env, timeout=120)


def _fake_ndk(tmp_path: Path) -> Path:
    """An 'NDK' whose android.toolchain.cmake reports what it was given and stops."""
    ndk = tmp_path / "ndk"
    (ndk / "build" / "cmake").mkdir(parents=True)
    (ndk / "build" / "cmake" / "android.toolchain.cmake").write_text(
        'message(FATAL_ERROR "NDK-GOT ABI=${ANDROID_ABI} PLATFORM=${ANDROID_PLATFORM} STL=${ANDROID_STL} '
        'NEON=${ANDROID_ARM_NEON}")\n')
    return ndk


@pytest.mark.parametrize("toolchain,abi", [("android-armv8.cmake", "arm64-v8a"), ("android-armv7.cmake", "armeabi-v7a")])
def test_android_without_ndk_says_what_is_missing(tmp_path, toolchain, abi):
    r = _configure(tmp_path, toolchain)
    assert r.returncode != 0
    msg = " ".join(r.stderr.split())  # CMake wraps long messages
    assert f"Android NDK not found for {abi}" in msg, msg
    assert "ANDROID_NDK_HOME" in msg and "edgeclas sdk install ndk" in msg, msg


def test_android_ndk_variable_pointing_nowhere_is_named(tmp_path):
    r = _configure(tmp_path, "android-armv8.cmake", {"ANDROID_NDK_ROOT": str(tmp_path / "nowhere")})
    msg = " ".join(r.stderr.split())
    assert r.returncode != 0
    assert f"$ANDROID_NDK_ROOT={tmp_path / 'nowhere'} (no build/cmake/android.toolchain.cmake)" in msg, msg


@pytest.mark.parametrize("toolchain,expected", [
    ("android-armv8.cmake", "ABI=arm64-v8a PLATFORM=android-24 STL=c++_shared"),
    ("android-armv7.cmake", "ABI=armeabi-v7a PLATFORM=android-24 STL=c++_shared NEON=ON"),
])
def test_android_hands_abi_platform_stl_to_the_ndk(tmp_path, toolchain, expected):
    r = _configure(tmp_path, toolchain, {"ANDROID_NDK_HOME": str(_fake_ndk(tmp_path))})
    assert expected in " ".join(r.stderr.split()), r.stderr


def test_android_platform_is_overridable(tmp_path):
    r = _configure(tmp_path, "android-armv8.cmake", {"EDGECLAS_NDK": str(_fake_ndk(tmp_path))},
                   "-DANDROID_PLATFORM=android-29")
    assert "PLATFORM=android-29" in r.stderr, r.stderr


@pytest.mark.parametrize("toolchain,qemu,prefix", [
    ("linux-armv8.cmake", "qemu-aarch64-static", "/usr/aarch64-linux-gnu"),
    ("linux-armv7.cmake", "qemu-arm-static", "/usr/arm-linux-gnueabihf"),
])
def test_linux_toolchains_set_cross_compiler_and_qemu_emulator(tmp_path, toolchain, qemu, prefix):
    triple = Path(prefix).name
    if shutil.which(f"{triple}-g++") is None or shutil.which(qemu) is None:
        pytest.skip(f"needs {triple}-g++ and {qemu} (apt-get install g++-{triple} qemu-user-static)")
    src = tmp_path / "src"
    src.mkdir()
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(t CXX)\n"
        'message(STATUS "EMU=${CMAKE_CROSSCOMPILING_EMULATOR} CXX=${CMAKE_CXX_COMPILER}")\n')
    custom = tmp_path / "prefix"
    r = subprocess.run(["cmake", "-S", src, "-B", tmp_path / "b", f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'toolchains' / toolchain}",
                        f"-DEDGECLAS_QEMU_LD_PREFIX={custom}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"EMU={shutil.which(qemu)};-L;{custom}" in r.stdout, r.stdout
    assert f"CXX={shutil.which(f'{triple}-g++')}" in r.stdout, r.stdout
