"""The targets and engines tables (edgeclas/targets.py), the one build locator, and what reads them.

The fake-engine test is the contract of the tables: one row plus a stub SDK item (its backend), both
registered here, make an engine that ``build``, ``deploy``, ``bench`` and ``doctor`` offer with no other edit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeclas import sdk, targets
from edgeclas.build import build_dir, default_engine, device_target, locate
from edgeclas.cli import cli
from edgeclas.device.base import DeviceInfo
from edgeclas.errors import ConfigError, DeviceError, IntegrityError, ModelError
from edgeclas.manifest import write_manifest
from edgeclas.targets import DeviceEngine, target

ROOT = Path(__file__).resolve().parents[1]


def test_every_row_has_its_files_in_the_tree():
    cmake = (ROOT / "native" / "CMakeLists.txt").read_text()
    for row in targets.ENGINES.values():
        assert (ROOT / "native" / "src" / row.native_source).is_file(), row.native_source
        assert f"src/{row.native_source}" in cmake and f'"{row.name}"' in cmake, row.name
        if row.cmake_root:
            assert row.cmake_root in cmake
    for spec in targets.TARGETS:
        if spec.toolchain:
            assert (ROOT / "toolchains" / spec.toolchain).is_file()
            assert f"set(EDGECLAS_TRIPLE {spec.triple})" in (ROOT / "toolchains" / spec.toolchain).read_text() \
                or spec.os == "android"


@pytest.mark.parametrize("words, key, abi, triple, qemu", [
    (("armv8", "linux"), "linux-armv8", "arm64-v8a", "aarch64-linux-gnu", "qemu-aarch64-static"),
    (("armhf", "linux"), "linux-armv7", "armeabi-v7a", "arm-linux-gnueabihf", "qemu-arm-static"),
    (("arm64", None), "android-armv8", "arm64-v8a", "aarch64-linux-android", None),
    (("armeabi-v7a", "android"), "android-armv7", "armeabi-v7a", "armv7a-linux-androideabi", None),
])
def test_target_rows(words, key, abi, triple, qemu):
    t = target(*words)
    assert (t.key, t.abi, t.triple) == (key, abi, triple)
    assert (t.qemu[0] if t.qemu else None) == qemu
    assert t.toolchain == ROOT / "toolchains" / f"{key}.cmake" and not t.is_host


def _doc_table(heading: str) -> list[list[str]]:
    text = (ROOT / "docs" / "targets.md").read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")][2:]  # past the header and its rule
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


def test_docs_tables_are_the_code_tables():
    def cell(x):
        return x or "—"

    assert _doc_table("## Targets") == [
        [s.os, s.arch, s.abi, s.triple, cell(s.toolchain), cell(s.qemu[0] if s.qemu else "")] for s in targets.TARGETS]
    assert _doc_table("## Device engines") == [
        [row.name,
         f"`formats.{'.'.join(row.model_format)}.file` ({row.format_label})" if row.runs_models else "— (runs no model)",
         f"`convert {row.convert}`" if row.convert else "—",
         f"`native/src/{row.native_source}`", cell(row.sdk), cell(", ".join(row.default_on))]
        for row in targets.ENGINES.values()]


def test_host_target_and_bad_words():
    host = target()
    assert host.key == "linux-host" and host.is_host and host.toolchain is None
    assert host.machine == targets.host_machine()
    with pytest.raises(ConfigError, match="unknown --arch 'mips'") as e:
        target("mips")
    assert "host, armv8, armv7" in e.value.hint
    with pytest.raises(ConfigError, match="unknown --os"):
        target("armv8", "ios")
    with pytest.raises(ConfigError, match="--arch host builds for this machine"):
        target("host", "android")
    assert targets.ABI_TO_ARCH == {"arm64-v8a": "armv8", "armeabi-v7a": "armv7"}


def test_default_engines_follow_the_table():
    assert default_engine(target("armv8", "android")) == "lite"
    assert default_engine(target("armv7", "android")) == "lite"
    assert default_engine(target("armv8", "linux")) == "onnxruntime"
    assert default_engine(target("host")) == "onnxruntime"
    assert default_engine(target("armv7", "linux")) == "none"  # no ONNX Runtime exists for armhf
    nb = {"nb": {"arm": {"file": "nb/m_arm.nb"}}}
    onnx = {"onnx": {"file": "model.onnx"}}
    both = {**nb, **onnx}
    pick = targets.default_engine_for_model
    assert (pick(both, "android"), pick(both, "linux")) == ("lite", "onnxruntime")
    assert (pick(onnx, "android"), pick(nb, "linux")) == ("onnxruntime", "lite")
    assert (pick({}, "android"), pick({}, "linux")) == ("lite", "onnxruntime")
    assert pick({"nb": {"x86": {"file": "nb/m_x86.nb"}}}, "android") == "lite"  # x86 .nb is not the device's


def test_model_file_lookup_and_its_errors(tmp_path):
    from edgeclas.manifest import write_manifest
    from edgeclas.model_dir import ModelDir
    from edgeclas.preprocess import PreprocessConfig

    lite, ort = targets.engine("lite"), targets.engine("onnxruntime")
    formats = {"onnx": {"file": "model.onnx"}, "nb": {"x86": {"file": "nb/m_x86.nb"}}}
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    write_manifest(tmp_path, "model", {"model": {"arch": "X", "class_num": 2, "input_size": [3, 32, 32]},
                                       "preprocess": PreprocessConfig(36, 32).to_dict(), "formats": formats},
                   files=["model.onnx"])
    model = ModelDir.load(tmp_path)
    assert ort.model_file(model) == tmp_path / "model.onnx"
    with pytest.raises(ModelError, match="engine is Paddle Lite but the model has no .nb for arm") as e:
        lite.model_file(model, "v2.13-rc")
    assert e.value.hint == f"make it with: edgeclas convert {tmp_path} --to nb --target arm"
    with pytest.raises(ConfigError, match="engine is 'none': it cannot run a model"):
        targets.engine("none").model_file(model)
    (tmp_path / "model.onnx").write_bytes(b"oNnx")  # same size, one byte differs
    with pytest.raises(ModelError, match="model.onnx: changed since the manifest was written") as e:
        ort.model_file(ModelDir.load(tmp_path))
    assert e.value.hint == f"make it again: edgeclas convert {tmp_path} --to onnx; or pass --no-verify to use it as it is"
    assert ort.model_file(ModelDir.load(tmp_path, verify=False)) == tmp_path / "model.onnx"
    (tmp_path / "model.onnx").unlink()
    with pytest.raises(ModelError, match="listed in the manifest but missing"):
        ort.model_file(model)
    with pytest.raises(ConfigError, match="unknown engine 'tflite'"):
        targets.engine("tflite")
    assert targets.model_engine_names() == ["onnxruntime", "lite"]
    assert targets.engine_names() == ["onnxruntime", "lite", "none"]


def _build(d: Path, t, engine: str) -> Path:
    (d / "bin").mkdir(parents=True)
    (d / "bin" / "clas_system").write_bytes(b"\x7fELF")
    write_manifest(d, "build", {"target": {"os": t.os, "arch": t.arch, "abi": t.abi},
                                "engine": {"name": engine, "version": ""}, "binary": "bin/clas_system"},
                   files=["bin/clas_system"])
    return d


def test_locate_prefers_given_then_default_and_never_builds_when_told(tmp_path):
    t = target("armv8", "linux")
    default = _build(build_dir(tmp_path / "root", t, "onnxruntime"), t, "onnxruntime")
    assert default == tmp_path / "root" / "linux-armv8-onnxruntime"
    given = _build(tmp_path / "mine", t, "onnxruntime")
    other_os = _build(tmp_path / "android", target("armv8", "android"), "onnxruntime")
    assert locate(t, "onnxruntime", given=[other_os, given], root=tmp_path / "root", allow_build=False) == given
    assert locate(t, "onnxruntime", given=[other_os], root=tmp_path / "root", allow_build=False) == default
    (default / "bin" / "clas_system").write_bytes(b"changed")  # sha256 no longer matches: does not fit
    with pytest.raises(ConfigError, match="no onnxruntime build for linux/arm64-v8a in") as e:
        locate(t, "onnxruntime", root=tmp_path / "root", allow_build=False)
    assert f"edgeclas build --arch armv8 --os linux --engine onnxruntime --out {default}" == e.value.hint


def test_a_damaged_given_build_is_an_error_not_passed_over(tmp_path):
    t = target("armv8", "linux")
    default = _build(build_dir(tmp_path / "root", t, "onnxruntime"), t, "onnxruntime")
    given = _build(tmp_path / "mine", t, "onnxruntime")
    (given / "bin" / "clas_system").write_bytes(b"\x7fELF tampered")
    with pytest.raises(IntegrityError) as e:  # not the intact default instead of the build the user named
        locate(t, "onnxruntime", given=[given], root=tmp_path / "root", allow_build=False)
    assert e.value.message.startswith(f"{given / 'bin' / 'clas_system'}: ")
    assert e.value.hint == (f"rebuild it: edgeclas build --arch armv8 --os linux --engine onnxruntime --out {given}; "
                            "or pass --no-verify to use it as it is")
    assert locate(t, "onnxruntime", given=[given], root=tmp_path / "root", allow_build=False, verify=False) == given
    other = _build(tmp_path / "lite", t, "lite")  # a build of another engine is simply not a candidate
    (other / "bin" / "clas_system").write_bytes(b"changed")
    assert locate(t, "onnxruntime", given=[other], root=tmp_path / "root", allow_build=False) == default


def test_device_target():
    phone = DeviceInfo("s1", "device", abilist=("arm64-v8a", "armeabi-v7a"), os="android", build_arch="armv8")
    assert device_target(phone) == target("armv8", "android")
    assert device_target(phone, "linux") == target("armv8", "linux")
    with pytest.raises(DeviceError, match="device x86 has ABIs x86_64: no edgeclas build fits") as e:
        device_target(DeviceInfo("x86", "device", abilist=("x86_64",), os="android"))
    assert "arm64-v8a (armv8)" in e.value.hint


def test_build_refuses_the_sdk_dir_of_another_engine(tmp_path):
    res = CliRunner().invoke(cli, ["build", "--arch", "armv7", "--os", "linux", "--lite-root", str(tmp_path),
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "--lite-root names the SDK of another engine; this build uses none" in res.output


# ------------------------------------------------------------------------------------ a fake engine

STUB_SDK = '''
from edgeclas.errors import ToolchainError
from edgeclas.sdk import target


def targets(name):
    return [target("armv8", "linux")]


def resolve(name, t, flag):
    raise ToolchainError(f"fake engine library for {t.key} not found", hint=f"edgeclas sdk install {name} {t.flags()}")


def install(name, t, **_):
    raise ToolchainError("the fake engine library is a test stub")
'''


@pytest.fixture
def fake_engine(tmp_path, monkeypatch):
    """One row in ENGINES and its backend, a stub SDK item, registered the way an engine's own files would be."""
    (tmp_path / "edgeclas_fake_sdk.py").write_text(STUB_SDK)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sdk._REGISTRY, "fake-lib", ("edgeclas_fake_sdk", "stub library of the fake engine"))
    row = DeviceEngine("fake", "Fake", "engine_fake.cc", model_format=("fake",), format_label=".fake",
                       convert="--to fake", sdk="fake-lib", cmake_root="EDGECLAS_FAKE_ROOT",
                       libs={"linux": ("lib/libfake.so",)})
    monkeypatch.setitem(targets.ENGINES, "fake", row)
    return row


def _choices(help_text: str, option: str) -> str:
    """The metavar --help shows for ``option``: ``[a|b|c]`` or ``a,b,c``."""
    m = re.search(r"^\s+" + re.escape(option) + r"\s+(\S+)", help_text, re.M)
    assert m, help_text
    return m.group(1)


def test_a_fake_engine_appears_everywhere_with_no_other_edit(fake_engine, tmp_path):
    runner = CliRunner()
    for verb, option in (("build", "--engine"), ("deploy", "--engine"), ("bench", "--engine"),
                         ("import-results", "--engine")):
        res = runner.invoke(cli, [verb, "--help"])
        assert res.exit_code == 0, res.output
        assert "fake" in _choices(res.output, option), (verb, res.output)

    # build: the row reaches the build, which asks the row's SDK item for the library
    res = runner.invoke(cli, ["build", "--arch", "armv8", "--os", "linux", "--engine", "fake",
                              "--out", str(tmp_path / "out")])
    assert res.exit_code == 5, res.output
    assert "cannot build linux-armv8 with engine fake" in res.output
    assert "fake engine library for linux-armv8 not found" in res.output
    assert "edgeclas sdk install fake-lib --arch armv8 --os linux" in res.output

    # deploy: --engine fake is accepted (the model is what fails next)
    res = runner.invoke(cli, ["deploy", "--engine", "fake", "--model", str(tmp_path / "no-model"),
                              "--images", str(tmp_path)])
    assert res.exit_code == 4 and "Invalid value" not in res.output, res.output

    # bench: the matrix takes the engine and finds its model file through the row
    from edgeclas.bench.matrix import build_matrix, model_ref

    model = tmp_path / "model"
    model.mkdir()
    (model / "m.fake").write_bytes(b"fake model")
    write_manifest(model, "model", {"model": {"name": "m"}, "formats": {"fake": {"file": "m.fake"}}}, files=["m.fake"])
    (cell,) = build_matrix(["dev"], [model_ref(model, ["fake"])], ["fake"], [1], [0], 0, 1)
    assert cell.model_file is not None and cell.model_file[0] == "m.fake"
    res = runner.invoke(cli, ["bench", "--model", str(model), "--engine", "tflite"])
    assert res.exit_code == 2 and "unknown engine(s) tflite" in res.output and "fake" in res.output

    # doctor: a row for the engine, and the target it exists for says whether it is ready
    res = runner.invoke(cli, ["doctor", "--json"])
    assert res.exit_code == 0, res.output
    rows = {(r["group"], r["name"]): r for r in json.loads(res.output)}
    fake = rows[("engines", "fake")]
    assert not fake["found"] and fake["how"] == "edgeclas sdk install fake-lib --arch armv8 --os linux"
    assert "library missing for linux-armv8" in fake["note"] and "engine_fake.cc is missing" in fake["note"]
    assert ("sdk", "fake-lib") in rows
    assert default_engine(target("armv8", "linux")) == "onnxruntime"  # a row without default_on changes no default


def test_doctor_rows_cover_every_target_and_engine():
    res = CliRunner().invoke(cli, ["doctor", "--json"])
    rows = json.loads(res.output)
    assert {r["name"] for r in rows if r["group"] == "targets"} == {f"{s.os}-{s.arch}" for s in targets.TARGETS}
    assert [r["name"] for r in rows if r["group"] == "engines"] == list(targets.ENGINES)
    host = next(r for r in rows if r["group"] == "targets" and r["name"] == "linux-host")
    assert host["found"] and "none" in host["note"]  # the core builds wherever cmake and a compiler are
