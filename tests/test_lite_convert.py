"""``.nb`` conversion for real: Paddle Lite 2.13-rc opt through each route, checks before opt, refusals."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from edgeclas.errors import ConfigError, ConversionError, ModelError
from edgeclas.lite import LITE_VERSION, convert_nb, model_ops
from edgeclas.lite.formats import parse_nb_header
from edgeclas.manifest import check_files, read_manifest, write_manifest
from edgeclas.model_dir import ModelDir
from edgeclas.verify import verify

pytestmark = pytest.mark.integration


@pytest.fixture
def no_opt_bin(monkeypatch):
    monkeypatch.delenv("EDGECLAS_LITE_OPT", raising=False)


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / src.name))


@pytest.mark.parametrize("target", ["arm", "x86"])
def test_convert_model_dir(model_dir, lite_runtime, no_opt_bin, target):
    res = convert_nb(model_dir, target=target)
    assert res.path == model_dir / "nb" / f"clarity_{target}.nb" and res.route == "compat"
    head = parse_nb_header(res.path.read_bytes()[:64], res.path.stat().st_size)
    assert head.opt_version == LITE_VERSION == res.opt_version
    # The .nb carries the weights: at least as big as the parameter file, not wildly bigger.
    params = (model_dir / "legacy" / "inference.pdiparams").stat().st_size
    assert params <= res.size < params * 2 + (1 << 20)
    m = read_manifest(model_dir, "model")
    entry = m["formats"]["nb"][target]
    assert entry["file"] == f"nb/clarity_{target}.nb" and entry["opt_version"] == LITE_VERSION
    assert (entry["route"], entry["precision"], entry["quant"], entry["sha256"]) == ("compat", "fp32", None, res.sha256)
    assert m["files"][entry["file"]] == res.sha256 and check_files(model_dir, m) == []
    assert ModelDir.load(model_dir).nb_file(target) == res.path
    assert "onnx" in m["formats"] and "pir" in m["formats"]  # other formats kept
    # The ops/kernels the .nb needs, as opt recorded them for tailoring (checked against tailored libraries).
    place = {"arm": "kARM", "x86": "kX86"}[target]
    assert "conv2d" in entry["ops"] and f"conv2d,{place},kFloat,kNCHW,def" in entry["kernels"]
    assert entry["kernels"] == res.tailoring.kernel_specs


def test_record_tailoring_leaves_the_model_dir_alone(model_dir, lite_runtime, no_opt_bin):
    from edgeclas.lite import record_tailoring

    before = (model_dir / "manifest.json").read_bytes()
    t = record_tailoring(model_dir, target="arm")
    assert (model_dir / "manifest.json").read_bytes() == before
    assert ("hard_swish", "activation_ops.cc") in t.ops
    assert ("hard_swish,kARM,kFloat,kNCHW,def", "activation_extra_compute.cc") in t.kernels


def test_fp16_and_int8_variants_are_recorded_separately(tiny_lite_models, lite_runtime, no_opt_bin, tmp_path):
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    fp32 = convert_nb(md, target="arm")
    fp16 = convert_nb(md, target="arm", fp16=True)
    int8 = convert_nb(md, target="arm", quant="int8")
    nb = read_manifest(md)["formats"]["nb"]
    assert set(nb) == {"arm", "arm_fp16", "arm_int8"}
    assert (nb["arm_fp16"]["precision"], nb["arm_int8"]["quant"]) == ("fp16", "int8")
    assert len({fp32.sha256, fp16.sha256, int8.sha256}) == 3
    with pytest.raises(ConfigError, match="--fp16"):
        convert_nb(md, target="x86", fp16=True)
    with pytest.raises(ConfigError, match="unknown .nb target"):
        convert_nb(md, target="riscv")


def test_print_ops_lists_model_ops_rewrites_and_crashers(tiny_lite_models, lite_runtime, no_opt_bin):
    rep = model_ops(tiny_lite_models["reshape"], "x86")
    assert {"conv2d", "batch_norm", "reshape2", "softmax"} <= set(rep.ops) and "feed" not in rep.ops
    assert rep.unsupported == [] and rep.crashers == {} and rep.rewrites == {}
    flat = model_ops(tiny_lite_models["flatten"], "x86")
    assert flat.crashers == {} and "reshape" in flat.rewrites["flatten_contiguous_range"]
    inner = model_ops(tiny_lite_models["flatten_inner"], "x86")
    assert "flatten_contiguous_range" in inner.crashers and inner.rewrites == {}
    assert model_ops(tiny_lite_models["flatten"], "arm").rewrites == {}  # arm's opt takes flatten as it is


def test_flatten_is_rewritten_for_x86_and_kept_for_arm(tiny_lite_models, lite_runtime, no_opt_bin, tmp_path):
    md = _copy(tiny_lite_models["flatten"], tmp_path)
    convert_nb(md, target="x86")
    convert_nb(md, target="arm")
    nb = read_manifest(md)["formats"]["nb"]
    assert nb["x86"]["rewrites"] == {"flatten_contiguous_range": "rewritten as reshape [0, -1] (x1)"}
    assert nb["arm"]["rewrites"] == {}
    assert (md / "legacy" / "inference.pdmodel").read_bytes() == (tiny_lite_models["flatten"] / "legacy" / "inference.pdmodel").read_bytes()


def test_flatten_that_cannot_be_rewritten_is_refused_before_opt(tiny_lite_models, lite_runtime, no_opt_bin, tmp_path):
    md = _copy(tiny_lite_models["flatten_inner"], tmp_path)
    with pytest.raises(ConversionError, match="flatten_contiguous_range") as e:
        convert_nb(md, target="x86")
    assert "axes 2..3" in e.value.hint and "paddle.reshape" in e.value.hint
    assert not (md / "nb" / "tiny_flatten_inner_x86.nb").exists()
    # For arm opt takes flatten as it is, but this pattern (flatten axes 2.. then reshape) crashes it:
    # a real opt crash in the worker, reported with its signal and a hint, and nothing left behind.
    with pytest.raises(ConversionError, match="opt crashed with SIGSEGV") as e:
        convert_nb(md, target="arm")
    assert "paddle.reshape" in e.value.hint
    assert not list((md / "nb").iterdir())


def test_corrupt_and_missing_program(tiny_lite_models, lite_runtime, no_opt_bin, tmp_path):
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    prog = md / "legacy" / "inference.pdmodel"
    size = prog.stat().st_size
    prog.write_bytes(prog.read_bytes()[:1000])
    with pytest.raises(ModelError, match=f"inference.pdmodel: truncated: 1000 bytes, the manifest says {size}") as e:
        convert_nb(md, target="arm")  # caught by the manifest's size before anything reads it
    assert "--no-verify" in e.value.hint
    with pytest.raises(ModelError, match="not a readable Paddle legacy program") as e:
        convert_nb(md, target="arm", verify=False)  # and by the program reader without the check
    assert str(prog) in e.value.message
    prog.unlink()
    with pytest.raises(ModelError, match="missing"):
        convert_nb(md, target="arm")
    assert "nb" not in read_manifest(md)["formats"]


def test_pir_only_without_checkpoint_is_a_clear_error(model_dir, tmp_path, no_opt_bin):
    md = _copy(model_dir, tmp_path)
    m = read_manifest(md)
    shutil.rmtree(md / "legacy")
    del m["formats"]["legacy"]
    m["inputs"] = {}
    body = {k: v for k, v in m.items() if k not in ("kind", "schema", "edgeclas_version", "created", "files")}
    write_manifest(md, "model", body, [f for f in m["files"] if (md / f).is_file()])
    with pytest.raises(ConversionError, match="only a PIR program") as e:
        convert_nb(md, target="arm")
    assert "edgeclas export" in e.value.hint


def _wrapper_opt(path: Path, route, body: str = "") -> Path:
    """A real opt on PATH-style: Paddle Lite's own paddle_lite_opt script run in the compat runtime."""
    numpy_dir, site = route.python_paths
    script = Path(site) / "paddlelite-2.13rc0.data" / "scripts" / "paddle_lite_opt"
    path.write_text(
        f"#!/bin/sh\n{body}\n"
        f'PYTHONPATH="{numpy_dir}:{site}" LD_PRELOAD="{route.preload}" exec "{sys.executable}" "{script}" "$@"\n'
    )
    path.chmod(0o755)
    return path


def test_opt_binary_route_wins_and_converts(tiny_lite_models, lite_runtime, tmp_path, monkeypatch):
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    monkeypatch.setenv("EDGECLAS_LITE_OPT", str(_wrapper_opt(tmp_path / "opt", lite_runtime)))
    res = convert_nb(md, target="x86")
    assert res.route == "opt-bin" and res.opt_version == LITE_VERSION
    assert read_manifest(md)["formats"]["nb"]["x86"]["route"] == "opt-bin"
    assert model_ops(md, "x86").route == "opt-bin"


def test_opt_crash_becomes_a_conversion_error_naming_the_signal(tiny_lite_models, lite_runtime, tmp_path, monkeypatch):
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    crash = 'case "$*" in *--version*) ;; *) echo "F1123 fatal: something" >&2; kill -SEGV $$;; esac'
    monkeypatch.setenv("EDGECLAS_LITE_OPT", str(_wrapper_opt(tmp_path / "opt", lite_runtime, crash)))
    with pytest.raises(ConversionError, match="SIGSEGV") as e:
        convert_nb(md, target="arm")
    assert "fatal: something" in e.value.message
    assert not list((md / "nb").glob("*"))


def test_other_opt_version_is_refused_naming_both(tiny_lite_models, lite_runtime, tmp_path, monkeypatch):
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    old = tmp_path / "opt_v212"
    old.write_text("#!/bin/sh\necho v2.12\n")
    old.chmod(0o755)
    with pytest.raises(ConversionError) as e:
        convert_nb(md, target="arm", opt_bin=old)
    assert "v2.12" in e.value.message and LITE_VERSION in e.value.message


def test_nb_from_an_unversioned_opt_is_checked_by_its_header(tiny_lite_models, lite_runtime, tmp_path, monkeypatch):
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    # An opt that does not report its version and writes a 2.12 .nb (header only matters here).
    fake = tmp_path / "opt"
    fake.write_text(f"""#!{sys.executable}
import struct, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
if "optimize_out" in args:
    open(args["optimize_out"] + ".nb", "wb").write(struct.pack("<H16sQ", 2, b"v2.12", 8) + bytes(8))
""")
    fake.chmod(0o755)
    with pytest.raises(ConversionError, match="v2.12"):
        convert_nb(md, target="arm", opt_bin=fake)
    assert not (md / "nb" / "tiny_reshape_arm.nb").exists()


def test_device_build_with_another_lite_version_is_refused(tiny_lite_models, lite_runtime, no_opt_bin, tmp_path):
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    build = tmp_path / "build"
    build.mkdir()
    write_manifest(build, "build", {"engine": {"name": "lite", "version": "2.12"}})
    with pytest.raises(ConversionError) as e:
        convert_nb(md, target="arm", build=build)
    assert "2.12" in e.value.message and LITE_VERSION in e.value.message
    write_manifest(build, "build", {"engine": {"name": "lite", "version": "2.13rc0"}})
    assert convert_nb(md, target="arm", build=build).opt_version == LITE_VERSION
    write_manifest(build, "build", {"engine": {"name": "onnxruntime", "version": "1.32.0"}})
    with pytest.raises(ConfigError, match="onnxruntime"):
        convert_nb(md, target="arm", build=build)


def test_manifest_entry_is_json_serialisable_and_relative(tiny_lite_models, lite_runtime, no_opt_bin, tmp_path,
                                                          sample_images):
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    out = md / "custom" / "m.nb"
    convert_nb(md, target="arm", out=out)
    entry = json.loads((md / "manifest.json").read_text())["formats"]["nb"]["arm"]
    assert entry["file"] == "custom/m.nb" and entry["from"] == "legacy/inference.pdmodel"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    res = convert_nb(md, target="x86", out=outside)  # a directory: the default file name goes inside it
    assert res.path == outside / "tiny_reshape_x86.nb"
    entry = read_manifest(md)["formats"]["nb"]["x86"]
    # outside the model dir it is recorded relative to it, with its hash and size, like any other file
    m = read_manifest(md)
    assert entry["file"] == "../elsewhere/tiny_reshape_x86.nb" and m["sizes"][entry["file"]] == res.size
    model = ModelDir.load(md)
    assert model.nb_file("x86") == md / "../elsewhere/tiny_reshape_x86.nb"
    report = verify(md, sample_images, engines=["lite"])
    assert [c.status for c in report.checks] == ["reference", "ok"]
    res.path.write_bytes(res.path.read_bytes()[:-10])
    with pytest.raises(ModelError, match="tiny_reshape_x86.nb: truncated"):
        ModelDir.load(md).nb_file("x86")


def test_pir_only_export_gets_its_legacy_program_made_from_the_checkpoint(tmp_path, lite_runtime, no_opt_bin):
    import paddle

    from edgeclas.export import export
    from edgeclas.models import build_model
    from edgeclas.preprocess import PreprocessConfig

    ckpt = tmp_path / "runs" / "best"
    ckpt.mkdir(parents=True)
    paddle.seed(1)
    paddle.save(build_model("PPLCNet_x0_25", 2).state_dict(), str(ckpt / "model.pdparams"))
    write_manifest(ckpt, "checkpoint", {
        "model": {"arch": "PPLCNet_x0_25", "class_num": 2, "input_size": [3, 32, 32], "arch_kwargs": {}},
        "preprocess": PreprocessConfig(resize_short=36, crop_size=32).to_dict(),
        "labels": ["a", "b"], "dataset": {"root": None, "val_list": None},
    }, files=["model.pdparams"])
    md = export(ckpt, tmp_path / "model", formats=("pir",))
    assert not (md / "legacy").exists()
    res = convert_nb(md, target="arm")
    m = read_manifest(md, "model")
    assert m["formats"]["legacy"] == {"model": "legacy/inference.pdmodel", "params": "legacy/inference.pdiparams"}
    assert "pir" in m["formats"] and m["formats"]["nb"]["arm"]["from"] == "legacy/inference.pdmodel"
    assert check_files(md, m) == [] and res.path.is_file()
    assert not list(md.glob(".legacy-*"))  # the on-demand export's scratch dir is gone


def test_compat_runtime_set_up_from_scratch_in_a_private_cache(tmp_path, monkeypatch):
    """What `edgeclas sdk install lite-opt` does on a fresh machine (PyPI only), then reuses."""
    from edgeclas import sdk
    from edgeclas.lite.runtime import compat_dir, compat_route, run_worker

    monkeypatch.setenv("EDGECLAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGECLAS_LITE_OPT", raising=False)
    (item,) = sdk.install("lite-opt")
    assert (item.source, item.version) == ("download", LITE_VERSION)
    info = json.loads((compat_dir() / "manifest.json").read_text())
    assert info["wheel_sha256"] == "b1e6081c4154e50479426df9c7390c0d1d99dd9d832a270d1fe925894768fb62"
    assert info["numpy"].startswith("1.") and info["python"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    route = sdk.resolve("lite-opt")
    assert route.source == "cache" and str(route.path).startswith(str(tmp_path))
    got = run_worker(compat_route(), ["info"], timeout=120)
    assert got["lite"] == LITE_VERSION and got["numpy"] == info["numpy"]
    assert got["python"].startswith(info["python"])  # the interpreter's own version, not the shim's 3.10
    assert sdk.install("lite-opt")[0].source == "cache"  # idempotent



def _python310() -> str | None:
    """A working CPython 3.10 (pyenv's shims exist even when that version is not selected: try each)."""
    import glob
    import subprocess

    candidates = sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.10*/bin/python3.10")))
    candidates += [p for p in (shutil.which("python3.10"),) if p]
    for exe in candidates:
        probe = subprocess.run([exe, "-c", "import sys, venv; assert sys.version_info[:2] == (3, 10)"],
                               capture_output=True, timeout=60)
        if probe.returncode == 0:
            return exe
    return None


def test_module_route_on_python_310(tiny_lite_models, tmp_path, lite_runtime):
    """Route (b) for real: a Python 3.10 venv with `pip install paddlelite==2.13rc0 'numpy<2'`."""
    import fcntl
    import subprocess

    py310 = _python310()
    if not py310:
        pytest.skip("no Python 3.10 interpreter on this machine: route (b) needs one (PyPI's paddlelite is cp310)")
    root = Path(__file__).resolve().parents[1]
    venv = root / ".cache" / "test-py310-paddlelite"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "test-py310-paddlelite.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "ready").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([py310, "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check", "install",
                            "paddlelite==2.13rc0", "numpy<2"], check=True, timeout=900)
            (venv / "ready").write_text("ok\n")
    md = _copy(tiny_lite_models["reshape"], tmp_path)
    code = """
import json, sys
import numpy as np
from edgeclas.lite import convert_nb, route_statuses
from edgeclas.engines.lite import LitePredictor
from edgeclas.model_dir import ModelDir
from edgeclas.verify import verify
res = convert_nb(sys.argv[1], target="x86")
lite = LitePredictor(ModelDir.load(sys.argv[1]))
probs = lite(np.linspace(-1, 1, 2 * 3 * 32 * 32, dtype=np.float32).reshape(2, 3, 32, 32))
lite.close()
print(json.dumps({"route": res.route, "version": res.opt_version, "probs": probs.tolist(),
                  "rows": [[r.kind, r.found, r.version] for r in route_statuses()]}))
"""
    env = {k: v for k, v in os.environ.items() if k != "EDGECLAS_LITE_OPT"} | {"PYTHONPATH": str(root)}
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, str(md)], capture_output=True, text=True,
                         timeout=600, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert (got["route"], got["version"]) == ("module", LITE_VERSION)
    assert ["module", True, "2.13rc0"] in got["rows"]
    # The same .nb through this interpreter's compat route gives the same numbers.
    import numpy as np

    from edgeclas.engines.lite import LitePredictor

    lite = LitePredictor(ModelDir.load(md))
    try:
        x = np.linspace(-1, 1, 2 * 3 * 32 * 32, dtype=np.float32).reshape(2, 3, 32, 32)
        assert np.abs(lite(x) - np.array(got["probs"], dtype=np.float32)).max() <= 1e-6
    finally:
        lite.close()
