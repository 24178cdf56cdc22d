"""Paddle Lite readers and the opt route logic on recorded bytes/text and real (fake-opt) executables; fast."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from edgeclas.errors import ConversionError, ToolchainError
from edgeclas.lite import LITE_VERSION, check_lite_version, resolve_route, route_statuses
from edgeclas.lite.formats import (
    FormatError,
    normalize_lite_version,
    parse_nb_header,
    parse_supported_ops,
    program_op_types,
    rewrite_flatten_to_reshape,
)
from edgeclas.lite.runtime import describe_returncode, parse_opt_version, summarize_stderr
from edgeclas.lite.worker import read_message, write_message

DATA = Path(__file__).parent / "data" / "lite"


# --- opt's supported-ops table (recorded from paddlelite 2.13rc0) ---

def test_supported_ops_x86_table_columns():
    table = parse_supported_ops((DATA / "supported_ops_x86.txt").read_text())
    assert table["conv2d"] == ["kX86"]
    assert table["relu"] == ["kHost", "kX86"]
    assert table["abs"] == ["kHost"]
    assert "OP_name" not in table and len(table) > 200


def test_supported_ops_table_stops_before_trailing_text():
    # The arm recording continues with opt's "OPs in the input model include" section.
    text = (DATA / "supported_ops_arm.txt").read_text()
    assert "OPs in the input model" in text
    table = parse_supported_ops(text)
    assert table["conv2d"] == ["kARM"]
    assert not any(k.startswith("=") or k == "OPs" for k in table)


def test_supported_ops_rejects_other_text():
    with pytest.raises(FormatError):
        parse_supported_ops("Segmentation fault\n")


# --- legacy program ---

def test_program_op_types_of_a_real_legacy_program():
    ops = program_op_types((DATA / "tiny_reshape.pdmodel").read_bytes())
    assert ops[0] == "feed" and ops[-1] == "fetch"
    assert {"conv2d", "batch_norm", "relu", "pool2d", "reshape2", "matmul_v2", "softmax"} <= set(ops)


@pytest.mark.parametrize("mutate", [lambda b: b[: len(b) // 2], lambda b: b"\xff" * 64, lambda b: b"not a program"])
def test_program_op_types_rejects_corrupt_bytes(mutate):
    with pytest.raises(FormatError):
        program_op_types(mutate((DATA / "tiny_reshape.pdmodel").read_bytes()))


def test_flatten_rewrite_on_a_real_program():
    original = (DATA / "tiny_flatten.pdmodel").read_bytes()
    new, count, refused = rewrite_flatten_to_reshape(original)
    assert (count, refused) == (1, [])
    before, after = program_op_types(original), program_op_types(new)
    i = before.index("flatten_contiguous_range")
    assert after == before[:i] + ["reshape"] + before[i + 1 :]
    # A program without flatten comes back byte for byte.
    plain = (DATA / "tiny_reshape.pdmodel").read_bytes()
    assert rewrite_flatten_to_reshape(plain) == (plain, 0, [])


# --- .nb header (first 64 bytes of a real x86 .nb of 14278 bytes) ---

def test_nb_header_of_a_real_file():
    h = parse_nb_header((DATA / "tiny_x86.nb.head").read_bytes(), 14278)
    assert (h.meta_version, h.opt_version, h.topology_size) == (2, "v2.13-rc", 12016)


@pytest.mark.parametrize(
    "data,size,what",
    [
        (b"\x02\x00v2.13", None, "too short"),
        (struct.pack("<H16sQ", 1, b"v2.13-rc", 10), 100, "meta version"),
        (struct.pack("<H16sQ", 2, b"\x95\x02\x8b", 10), 100, "not a version"),
        (struct.pack("<H16sQ", 2, b"v2.13-rc", 1000), 100, "does not fit"),
    ],
)
def test_nb_header_rejects(data, size, what):
    with pytest.raises(FormatError, match=what):
        parse_nb_header(data, size)


# --- versions ---

@pytest.mark.parametrize("a,b", [("v2.13-rc", "2.13rc0"), ("2.13-rc", "v2.13-rc"), ("2.12.0", "v2.12")])
def test_versions_that_are_the_same(a, b):
    assert normalize_lite_version(a) == normalize_lite_version(b)


def test_version_mismatch_is_refused_naming_both():
    check_lite_version({"file": "nb/m_arm.nb", "opt_version": LITE_VERSION}, "2.13rc0")
    with pytest.raises(ConversionError) as e:
        check_lite_version({"file": "nb/m_arm.nb", "opt_version": LITE_VERSION}, "v2.12")
    assert LITE_VERSION in e.value.message and "v2.12" in e.value.message and "nb/m_arm.nb" in e.value.message


@pytest.mark.parametrize("text,version", [
    ("v2.13-rc\n", "v2.13-rc"),                                    # paddle_lite_opt --version
    ("opt version:v2.13-rc\nAt least one argument should be inputed.", "v2.13-rc"),  # C++ opt help
    ("LLVM version 14.0.6\n  Optimized build.", ""),                # LLVM's opt
    ("opt_linux: gflags 2.2.2 /usr/lib/x86_64-linux-gnu/ 3.10", ""),
])
def test_opt_version_is_read_only_when_it_names_one(text, version):
    assert parse_opt_version(text) == version


# --- failure summaries ---

def test_returncode_names_the_signal():
    assert describe_returncode(-11) == "crashed with SIGSEGV"
    assert describe_returncode(-6) == "crashed with SIGABRT"
    assert describe_returncode(3) == "failed (exit code 3)"


def test_stderr_summary_keeps_the_last_meaningful_lines():
    text = "\n".join(
        ["I1123 16:17:38.3 program.cc:257] New Executor is Running."] * 50
        + ["Traceback (most recent call last):", '  File "x.py", line 3, in <module>', "", "ValueError: bad model"]
    )
    summary = summarize_stderr(text)
    assert summary.endswith("ValueError: bad model")
    assert "New Executor" not in summary and "File " not in summary
    assert summarize_stderr("") == "(no output)"


def test_worker_framing_round_trip():
    buf = io.BytesIO()
    write_message(buf, {"op": "run", "shape": [1, 2]}, b"\x00" * 8)
    write_message(buf, {"op": "quit"})
    buf.seek(0)
    assert read_message(buf) == ({"op": "run", "shape": [1, 2], "nbytes": 8}, b"\x00" * 8)
    assert read_message(buf) == ({"op": "quit"}, b"")
    assert read_message(buf) is None


# --- route order (real executables on PATH / in the environment) ---

def _fake_opt(path: Path, version: str = "v2.13-rc") -> Path:
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def clean_routes(tmp_path, monkeypatch):
    """No opt anywhere and an empty edgeclas cache: only what a test adds is found."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.delenv("EDGECLAS_LITE_OPT", raising=False)
    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    return bindir


def test_opt_on_path_is_route_a(clean_routes):
    _fake_opt(clean_routes / "paddle_lite_opt")
    route = resolve_route()
    assert (route.kind, route.where, route.version) == ("opt-bin", str(clean_routes / "paddle_lite_opt"), "v2.13-rc")
    assert "PATH" in route.why


def test_env_beats_path_and_flag_beats_env(clean_routes, tmp_path, monkeypatch):
    _fake_opt(clean_routes / "paddle_lite_opt")
    env_opt = _fake_opt(tmp_path / "env_opt", "v2.13-rc")
    flag_opt = _fake_opt(tmp_path / "flag_opt", "v2.12")
    monkeypatch.setenv("EDGECLAS_LITE_OPT", str(env_opt))
    assert resolve_route().where == str(env_opt)
    route = resolve_route(flag_opt)
    assert (route.where, route.version) == (str(flag_opt), "v2.12") and "--opt-bin" in route.why


def test_a_named_opt_that_is_not_executable_is_an_error(clean_routes, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECLAS_LITE_OPT", str(tmp_path / "nope"))
    with pytest.raises(ToolchainError, match="EDGECLAS_LITE_OPT"):
        resolve_route()
    rows = route_statuses()
    assert rows[0].kind == "opt-bin" and not rows[0].found and "not an executable" in rows[0].note


def test_bare_opt_on_path_is_not_taken(clean_routes):
    _fake_opt(clean_routes / "opt", "LLVM version 14.0.6")  # usually LLVM's optimizer
    with pytest.raises(ToolchainError) as e:
        resolve_route()
    assert "edgeclas sdk install lite-opt" in (e.value.hint or "")


def test_nothing_found_lists_every_route_and_how(clean_routes):
    rows = {r.kind: r for r in route_statuses()}
    assert set(rows) == {"opt-bin", "module", "compat"} and not any(r.found for r in rows.values())
    assert rows["compat"].how == "edgeclas sdk install lite-opt"
    assert "EDGECLAS_LITE_OPT" in rows["opt-bin"].how


def test_no_route_is_an_error_naming_sdk_install_and_nothing_is_installed(clean_routes, tmp_path):
    """Installing belongs to `edgeclas sdk install lite-opt`: convert, the host lite engine and verify only say so."""
    from edgeclas.engines import lite as lite_engine

    with pytest.raises(ToolchainError, match="no way to reach Paddle Lite") as e:
        resolve_route()
    assert "edgeclas sdk install lite-opt" in (e.value.hint or "")
    ok, why = lite_engine.check(None)
    assert not ok and "edgeclas sdk install lite-opt" in why
    assert not (tmp_path / "cache").exists()  # nothing downloaded, nothing set up


def test_models_need_a_runtime_not_an_opt_binary(clean_routes):
    _fake_opt(clean_routes / "paddle_lite_opt")
    with pytest.raises(ToolchainError):
        resolve_route(run_models=True)


def test_rename_import_retargets_one_undefined_symbol(tmp_path):
    import ctypes
    import shutil
    import subprocess

    from edgeclas.lite.runtime import _rename_import

    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler (apt-get install gcc)")
    (tmp_path / "user.c").write_text(
        "extern const char *Py_GetVersion(void);\nconst char *ask(void) { return Py_GetVersion(); }\n")
    (tmp_path / "shim.c").write_text('const char *EdgeclasPyVer(void) { return "3.10.99 shim"; }\n')
    for name in ("user", "shim"):
        subprocess.run([cc, "-shared", "-fPIC", "-o", str(tmp_path / f"lib{name}.so"), str(tmp_path / f"{name}.c")],
                       check=True)
    _rename_import(tmp_path / "libuser.so", b"Py_GetVersion", b"EdgeclasPyVer")
    ctypes.CDLL(str(tmp_path / "libshim.so"), mode=ctypes.RTLD_GLOBAL)
    ask = ctypes.CDLL(str(tmp_path / "libuser.so")).ask
    ask.restype = ctypes.c_char_p
    assert ask() == b"3.10.99 shim"  # not this interpreter's own Py_GetVersion
    with pytest.raises(ToolchainError, match="cannot retarget"):
        _rename_import(tmp_path / "libuser.so", b"Py_GetVersion", b"EdgeclasPyVer")  # already renamed


def test_sdk_item_says_where_the_opt_came_from(clean_routes, tmp_path, monkeypatch):
    from edgeclas import sdk

    _fake_opt(clean_routes / "paddle_lite_opt")
    assert sdk.resolve("lite-opt").source == "system"
    monkeypatch.setenv("EDGECLAS_LITE_OPT", str(_fake_opt(tmp_path / "env_opt")))
    assert sdk.resolve("lite-opt").source == "env"
    item = sdk.resolve("lite-opt", flag=_fake_opt(tmp_path / "flag_opt"))
    assert (item.source, item.version, item.path) == ("flag", "v2.13-rc", tmp_path / "flag_opt")
