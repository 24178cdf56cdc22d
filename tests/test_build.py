"""edgeclas build: real host and ARM Linux builds (compilers, ORT, qemu), their manifests, and the missing-piece errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeclas.build import build, parse_ctest_summary
from edgeclas.errors import BuildError, ToolchainError
from edgeclas.manifest import check_files, read_manifest
from edgeclas.sdk._elf import elf_machine, runpath

from fixtures_build import clas_config

NDK_VARS = ("ANDROID_NDK_HOME", "ANDROID_NDK_ROOT", "EDGECLAS_NDK")


# ----------------------------------------------------------------------------- no compiler needed

CTEST_OK = """Test project /b
    Start 1: Config.ParsesPaddleClasFile
1/3 Test #1: Config.ParsesPaddleClasFile ......   Passed    0.21 sec
3/3 Test #3: Stats.Percentiles ................   Passed    0.19 sec

100% tests passed, 0 tests failed out of 3

Total Test time (real) =   0.62 sec
"""
CTEST_FAIL = """2/3 Test #2: Preprocess.NeonMatchesScalar ......***Failed    0.30 sec

67% tests passed, 1 tests failed out of 3

The following tests FAILED:
\t  2 - Preprocess.NeonMatchesScalar (Failed)
"""


def test_parse_ctest_summary() -> None:
    assert parse_ctest_summary(CTEST_OK) == (3, 0, 3)
    assert parse_ctest_summary(CTEST_FAIL) == (2, 1, 3)
    assert parse_ctest_summary("Test project /b\nNo tests were found!!!\n") == (0, 0, 0)
    assert parse_ctest_summary("Segmentation fault") is None


def test_android_build_without_ndk_says_exactly_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in NDK_VARS}
    env["EDGECLAS_CACHE"] = str(tmp_path / "cache")
    exe = Path(sys.executable).with_name("edgeclas")
    proc = subprocess.run([str(exe), "build", "--arch", "armv8", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 5, proc.stderr
    assert "cannot build android-armv8" in proc.stderr
    assert "Android NDK not found" in proc.stderr and "ANDROID_NDK_HOME" in proc.stderr
    assert "edgeclas sdk install ndk" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing half-made


def test_missing_pieces_are_reported_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGECLAS_ORT_ROOT", raising=False)
    for var in NDK_VARS:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ToolchainError) as e:
        build("armv7", "android", "onnxruntime", tmp_path / "out")
    msg = str(e.value)
    assert "Android NDK not found" in msg
    assert "ONNX Runtime SDK for android-armv7 not found" in msg
    assert "edgeclas sdk install onnxruntime --arch armv7 --os android" in msg


def test_out_that_is_not_a_build_dir_is_never_replaced(tmp_path: Path) -> None:
    from edgeclas.errors import ConfigError

    precious = tmp_path / "project"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not an edgeclas build directory"):
        build("host", "linux", "none", precious)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_a_binary_that_would_search_the_working_directory_is_not_shipped(tmp_path: Path) -> None:
    from edgeclas.build import _check_runpath

    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    for rp, ok in (("$ORIGIN/../lib", True), ("$ORIGIN/../lib:", False), ("$ORIGIN/../lib:/root/.cache/x", False)):
        exe = tmp_path / "m"
        subprocess.run(["gcc", str(tmp_path / "m.c"), "-o", str(exe), f"-Wl,-rpath,{rp}", "-Wl,--enable-new-dtags"],
                       check=True)
        assert runpath(exe) == rp.split(":")
        if ok:
            _check_runpath(exe)
        else:
            with pytest.raises(BuildError, match="outside the bundle") as e:
                _check_runpath(exe)
            assert "INSTALL_RPATH" in e.value.hint
    assert runpath(tmp_path / "m.c") is None


def test_python_module_is_host_only(tmp_path: Path) -> None:
    from edgeclas.errors import ConfigError

    with pytest.raises(ConfigError, match="--python"):
        build("armv8", "linux", "onnxruntime", tmp_path / "out", python=True)


def test_failed_native_tests_become_a_build_error(tmp_path: Path) -> None:
    from edgeclas import sdk
    from edgeclas.build import BuildResult, TestRun
    from edgeclas.errors import BuildError

    def result(tests):
        return BuildResult(out=tmp_path, target=sdk.target("armv7", "linux"), engine="none", engine_version="",
                           compiler="g++", binary=tmp_path / "bin" / "clas_system", libs=[], build_dir=tmp_path,
                           tests=tests)

    result(TestRun(True, 3, 0, 3, "host")).check_tests()  # all passed: no error
    result(TestRun(False, note="Android")).check_tests()  # not run: nothing to judge
    with pytest.raises(BuildError, match="1 of 3 failed under qemu-arm-static") as e:
        result(TestRun(True, 2, 1, 3, "qemu-arm-static -L /p")).check_tests()
    assert "ctest.log" in e.value.hint
    with pytest.raises(BuildError, match="found no tests"):
        result(TestRun(True, 0, 0, 0, "host")).check_tests()


# ----------------------------------------------------------------------------- real builds

def _check_build_dir(result, abi: str, triple: str, machine: str) -> dict:
    manifest = read_manifest(result.out, "build")
    assert manifest["target"]["abi"] == abi and manifest["target"]["triple"] == triple
    assert manifest["binary"] == "bin/clas_system"
    assert check_files(result.out, manifest) == []  # every listed file is there with its sha256
    assert "bin/clas_system" in manifest["files"]
    assert elf_machine(result.binary) == machine
    assert runpath(result.binary) == ["$ORIGIN/../lib"]  # never the working directory or this machine's cache
    for lib in manifest["libs"]:
        assert elf_machine(result.out / lib) == machine, lib
    return manifest


@pytest.mark.integration
def test_host_build_runs_and_native_tests_pass(host_build) -> None:
    import platform

    manifest = _check_build_dir(host_build, "x86_64", "x86_64-linux-gnu", platform.machine())
    assert manifest["engine"] == {"name": "onnxruntime", "version": "1.32.0"}
    assert manifest["libs"] == ["lib/libonnxruntime.so.1"]
    assert host_build.tests is not None and host_build.tests.ok, host_build.tests
    assert manifest["tests"]["passed"] == manifest["tests"]["total"] > 0
    assert host_build.python_module is not None and host_build.python_module.is_file()


@pytest.mark.integration
def test_rebuild_reuses_the_cached_build_dir(host_build, tmp_path: Path) -> None:
    again = build("host", "linux", "onnxruntime", tmp_path / "again", python=True, tests=True)
    assert again.build_dir == host_build.build_dir  # same options → same cached CMake directory
    assert "ninja: no work to do" in (again.out / "logs" / "build.log").read_text()
    assert again.out != host_build.out and again.binary.is_file()


@pytest.mark.integration
def test_cli_build_prints_what_it_made(host_build, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edgeclas.cli import cli

    out = tmp_path / "cli-out"
    res = CliRunner().invoke(cli, ["build", "--arch", "host", "--python", "--tests", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "built linux-host (x86_64, x86_64-linux-gnu) engine onnxruntime 1.32.0" in res.output
    assert f"{out}/bin/clas_system" in res.output and "native tests:" in res.output
    assert read_manifest(out, "build")["build_dir"] == str(host_build.build_dir)


@pytest.mark.integration
def test_android_flow_with_a_stand_in_ndk(tmp_path: Path) -> None:
    """No NDK can be had here, so this checks edgeclas's side of an Android build only: the NDK given by
    flag reaches CMake, the ABI/triple/manifest are Android's, and libc++_shared.so ships in lib/. The
    stand-in NDK's toolchain file compiles with the Debian aarch64 cross gcc; it is not an NDK."""
    import shutil

    if not shutil.which("aarch64-linux-gnu-g++"):
        pytest.skip("needs aarch64-linux-gnu-g++ for the stand-in NDK")
    ndk = tmp_path / "standin-ndk"
    (ndk / "build" / "cmake").mkdir(parents=True)
    (ndk / "build" / "cmake" / "android.toolchain.cmake").write_text(
        "set(CMAKE_SYSTEM_NAME Linux)\nset(CMAKE_SYSTEM_PROCESSOR aarch64)\n"
        "set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)\nset(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)\n"
        'set(EDGECLAS_STANDIN_SAW_ABI "${ANDROID_ABI}" CACHE STRING "")\n')
    (ndk / "source.properties").write_text("Pkg.Revision = 0.0.1-standin\n")
    libcxx = ndk / "toolchains/llvm/prebuilt/linux-x86_64/sysroot/usr/lib/aarch64-linux-android/libc++_shared.so"
    libcxx.parent.mkdir(parents=True)
    shutil.copy(Path("/usr/aarch64-linux-gnu/lib/libstdc++.so.6").resolve(), libcxx)

    result = build("armv8", "android", "none", tmp_path / "out", ndk=ndk)
    manifest = read_manifest(result.out, "build")
    assert manifest["target"] == {"os": "android", "arch": "armv8", "abi": "arm64-v8a",
                                  "triple": "aarch64-linux-android"}
    assert manifest["libs"] == ["lib/libc++_shared.so"]
    assert (result.out / "lib" / "libc++_shared.so").read_bytes() == libcxx.read_bytes()
    assert manifest["sdk"]["ndk"] == {"version": "0.0.1-standin", "path": str(ndk), "source": "flag"}
    assert "EDGECLAS_STANDIN_SAW_ABI:STRING=arm64-v8a" in (result.build_dir / "CMakeCache.txt").read_text()
    with pytest.raises(ToolchainError, match="run on an Android device"):
        result.command("config.txt")


@pytest.mark.integration
def test_armv7_linux_native_tests_pass_under_qemu(armv7_linux_build) -> None:
    manifest = _check_build_dir(armv7_linux_build, "armeabi-v7a", "arm-linux-gnueabihf", "armv7")
    assert manifest["engine"]["name"] == "none" and manifest["libs"] == []
    r = armv7_linux_build.tests
    assert r is not None and r.ran and r.total > 0
    assert "qemu-arm" in r.runner
    assert r.failed == 0, (armv7_linux_build.out / "logs" / "ctest.log").read_text()[-3000:]
    assert "arm-linux-gnueabihf-g++" in manifest["compiler"]


def _dense_onnx(path: Path, size: int, classes: int = 5) -> Path:
    """Flatten → Gemm → Softmax with random weights: every pixel moves the scores a lot.

    The exported test model is confident (0.99/0.01 on most photos), so a 1e-3 check on it alone sees
    only large preprocessing errors; this model's scores move with every pixel.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    n = 3 * size * size
    w = (rng.standard_normal((n, classes)) * (3.0 / np.sqrt(n))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"], axis=1),
         helper.make_node("Gemm", ["f", "w", "b"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probs"], axis=1)],
        "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, classes])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(classes, np.float32), "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _python_reference(onnx_file: Path, preprocess_cfg: dict, images: list[Path]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    from edgeclas.preprocess import PreprocessConfig, decode_image, preprocess

    cfg = PreprocessConfig.from_dict(preprocess_cfg)
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return {p.name: sess.run(None, {name: preprocess(decode_image(p), cfg)[None]})[0][0] for p in images}


@pytest.mark.integration
def test_armv8_build_under_qemu_matches_host_onnxruntime(armv8_linux_build, model_dir: Path,
                                                         sample_images: list[Path], tmp_path: Path) -> None:
    manifest = _check_build_dir(armv8_linux_build, "arm64-v8a", "aarch64-linux-gnu", "aarch64")
    assert manifest["engine"] == {"name": "onnxruntime", "version": "1.32.0"}
    assert "aarch64-linux-gnu-g++" in manifest["compiler"]
    r = armv8_linux_build.tests
    assert r is not None and r.ok and "qemu-aarch64" in r.runner, r

    # The PNG photos (JPEG and EXIF on this build: tests/test_native_decode.py).
    images = tmp_path / "images"
    images.mkdir()
    pngs = [p for p in sample_images if p.suffix == ".png"]
    assert len(pngs) >= 2
    for p in pngs:
        (images / p.name).symlink_to(p)
    model = read_manifest(model_dir, "model")
    pre = model["preprocess"]
    dense_labels = tmp_path / "dense_labels.txt"
    dense_labels.write_text("".join(f"{i} class{i}\n" for i in range(5)))
    cases = {
        "exported": (model_dir / model["formats"]["onnx"]["file"], model_dir / model["labels_file"],
                     model["labels"]),
        "dense": (_dense_onnx(tmp_path / "dense.onnx", pre["crop_size"]), dense_labels,
                  [f"class{i}" for i in range(5)]),
    }
    spread = []
    for case, (onnx_file, labels_file, labels) in cases.items():
        work = tmp_path / case
        work.mkdir()
        config = clas_config(work, onnx_file, labels_file, pre, engine="onnxruntime", topk=2, warmup=0, repeats=1)
        proc = subprocess.run(armv8_linux_build.command(config, images), capture_output=True, text=True,
                              env=armv8_linux_build.env(), timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
        per_image = {Path(o["image"]).name: o for o in lines if o.get("type") == "image"}
        summary = next(o for o in lines if o.get("type") == "summary")
        assert summary["engine"] == "onnxruntime" and summary["engine_version"].startswith("1.32")

        reference = _python_reference(onnx_file, pre, pngs)
        assert set(per_image) == set(reference)
        for name, probs in reference.items():
            got = np.asarray(per_image[name]["probs"], dtype=np.float32)
            assert got.shape == probs.shape
            np.testing.assert_allclose(got, probs, atol=1e-3, err_msg=f"{case}: {name}")
            top1 = int(np.argmax(probs))
            assert per_image[name]["topk"][0]["class_id"] == top1, f"{case}: {name}"
            assert per_image[name]["topk"][0]["label"] == labels[top1]
            if case == "dense":
                spread.append(probs)
    # The dense model's answers really depend on the image: otherwise the comparison proves nothing.
    spread_arr = np.stack(spread)
    assert float(np.ptp(spread_arr, axis=0).max()) > 0.1, spread_arr
