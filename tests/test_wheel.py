"""edgeclas installed from its wheel, with no source checkout: doctor and a host build work from it.

The wheel is built offline (its build backend is kept in the edgeclas cache by scripts/bootstrap.sh) from
a copy of the sources, installed into a fresh venv whose dependencies come from this interpreter's
site-packages through a ``.pth`` file (``pip install --no-index`` finds them installed), and run with no
PYTHONPATH, from a directory outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from edgeclas.paths import cache_dir

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
BACKEND = cache_dir("wheels", "build-backend")
SOURCES = ("pyproject.toml", "README.md", "edgeclas", "native", "toolchains", "devices", "training")


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kwargs)
    assert res.returncode == 0, f"{cmd}: exit {res.returncode}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    if not list(BACKEND.glob("setuptools-*.whl")):
        pytest.skip(f"no wheel build backend in {BACKEND}: make setup (scripts/bootstrap.sh) downloads it")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: building in the checkout would leave build/ and *.egg-info there
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--find-links", BACKEND, "-q",
          "-w", tmp / "dist", src])
    (wheel,) = (tmp / "dist").glob("edgeclas-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "edgeclas-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([py, "-m", "pip", "install", "--no-index", "-q", wheel])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return {"wheel": wheel, "venv": venv, "site": site, "env": env, "cwd": tmp}


def test_the_wheel_carries_the_trees_and_its_markers(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for rel in ("edgeclas/py.typed", "edgeclas/_tree/native/CMakeLists.txt", "edgeclas/_tree/native/src/main.cc",
                "edgeclas/_tree/toolchains/linux-armv8.cmake", "edgeclas/_tree/devices/emulated-armv8.yaml",
                "edgeclas/_tree/training/demo_clarity.yaml", "edgeclas/lite/shim/pyversion_shim.c",
                "edgeclas/resources/demo.yaml"):
        assert rel in names, rel
    res = _run(["python", "-c", "import edgeclas, edgeclas.paths as p; print(edgeclas.__file__); print(p.checkout_root())"],
               env=installed["env"], cwd=installed["cwd"])
    where, checkout = res.stdout.split()
    assert where.startswith(str(installed["site"])) and checkout == "None"


def test_doctor_from_the_wheel(installed):
    res = _run(["edgeclas", "doctor", "--json"], env=installed["env"], cwd=installed["cwd"])
    rows = {(r["group"], r["name"]): r for r in json.loads(res.stdout)}
    tree = str(installed["site"] / "edgeclas" / "_tree")
    assert rows[("device", "emulator profiles")]["found"]
    assert rows[("device", "emulator profiles")]["where"].startswith(tree + "/devices")
    assert rows[("targets", "linux-armv8")]["where"] == f"{tree}/toolchains/linux-armv8.cmake"
    assert rows[("engines", "onnxruntime")]["where"] == f"{tree}/native/src/engine_onnxruntime.cc"
    assert rows[("targets", "linux-host")]["found"]


def test_host_build_from_the_wheel(installed):
    from edgeclas import sdk

    ort = sdk.resolve("onnxruntime", arch="host")  # the shared SDK; the build's own cache stays in tmp
    env = {**installed["env"], "EDGECLAS_CACHE": str(installed["cwd"] / "cache")}
    out = installed["cwd"] / "out"
    res = _run(["edgeclas", "build", "--arch", "host", "--ort-root", ort.path, "--out", out], env=env,
               cwd=installed["cwd"])
    assert "built linux-host" in res.stdout and "engine onnxruntime" in res.stdout
    log = (out / "logs" / "build.log").read_text()
    assert f"-S {installed['site'] / 'edgeclas' / '_tree' / 'native'}" in log  # native/ of the wheel, not a checkout
    usage = subprocess.run([out / "bin" / "clas_system"], capture_output=True, text=True,
                           env={**env, "LD_LIBRARY_PATH": str(out / "lib")})
    assert usage.returncode == 2 and "usage:" in usage.stderr
