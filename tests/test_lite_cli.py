"""The user's view: ``edgeclas convert --to nb``, ``verify`` listing lite, ``doctor`` showing the opt route."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeclas.lite import LITE_VERSION

pytestmark = pytest.mark.integration


def edgeclas(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("edgeclas")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-c", "from edgeclas.cli import main; main()"]
    full_env = {k: v for k, v in os.environ.items() if k != "EDGECLAS_LITE_OPT"} | (env or {})
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=600, env=full_env)


def test_convert_arm_and_x86_then_verify_lists_three_engines(model_dir, sample_images, lite_runtime):
    for target in ("arm", "x86"):
        res = edgeclas("convert", str(model_dir), "--to", "nb", "--target", target)
        assert res.returncode == 0, res.stderr
        assert f"clarity_{target}.nb" in res.stdout and LITE_VERSION in res.stdout and "compat route" in res.stdout
    res = edgeclas("verify", str(model_dir), "--images", str(sample_images[0].parent), "--json")
    assert res.returncode == 0, res.stderr
    checks = {c["engine"]: c for c in json.loads(res.stdout)["checks"]}
    assert {"paddle", "onnxruntime", "lite"} <= set(checks)
    assert checks["lite"]["status"] == "ok" and checks["lite"]["max_abs_diff"] <= 1e-4
    assert checks["lite"]["top1_agreement"] == 1.0
    runs = {}
    for engine in ("paddle", "lite"):
        res = edgeclas("predict", str(model_dir), "--images", str(sample_images[0].parent), "--engine", engine, "--json")
        assert res.returncode == 0, res.stderr
        runs[engine] = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(runs["lite"]) == len(sample_images)
    for p, q in zip(runs["paddle"], runs["lite"]):
        assert p["image"] == q["image"] and abs(p["scores"][0] - q["scores"][0]) <= 1e-4


def test_print_ops_and_refusal_from_the_cli(tiny_lite_models, lite_runtime):
    res = edgeclas("convert", str(tiny_lite_models["flatten"]), "--to", "nb", "--target", "x86", "--print-ops")
    assert res.returncode == 0, res.stderr
    assert "flatten_contiguous_range" in res.stdout and "rewritten as reshape" in res.stdout and "conv2d" in res.stdout
    res = edgeclas("convert", str(tiny_lite_models["flatten_inner"]), "--to", "nb", "--target", "x86", "--print-ops")
    assert res.returncode == 0 and "CRASHES opt" in res.stdout and "refused: flatten_contiguous_range" in res.stdout
    res = edgeclas("convert", str(tiny_lite_models["flatten_inner"]), "--to", "nb", "--target", "x86")
    assert res.returncode == 7  # ConversionError
    assert res.stderr.startswith("error: ") and "flatten_contiguous_range" in res.stderr and "Traceback" not in res.stderr


def test_user_errors_are_one_line(tmp_path, tiny_lite_models, lite_runtime):
    res = edgeclas("convert", str(tmp_path / "missing"), "--to", "nb")
    assert res.returncode == 4 and "no such directory" in res.stderr and "Traceback" not in res.stderr
    model = str(tiny_lite_models["reshape"])
    res = edgeclas("convert", model, "--to", "nb", env={"EDGECLAS_LITE_OPT": str(tmp_path / "nope")})
    assert res.returncode == 5 and "$EDGECLAS_LITE_OPT" in res.stderr and "not an executable" in res.stderr
    res = edgeclas("convert", model, "--to", "nb", "--quant", "int4")
    assert res.returncode == 2 and "int4" in res.stderr


def test_doctor_shows_the_route_in_use(lite_runtime):
    res = edgeclas("doctor", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout) if r["group"] == "lite"}
    assert rows["opt route compat"]["found"] and rows["opt route compat"]["note"].startswith("IN USE: compat runtime")
    assert not rows["opt route module"]["found"] or sys.version_info < (3, 11)
    assert "pip install paddlelite" in rows["opt route module"]["how"] or rows["opt route module"]["found"]
