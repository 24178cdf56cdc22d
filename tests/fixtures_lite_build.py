"""Session fixtures: Paddle Lite built from its official source for the test models, and clas_system on it.

The source is what ``edgeclas sdk build paddle-lite`` uses by default: ``$EDGECLAS_PADDLE_LITE_SOURCE``,
else the bundle CI keeps in ``shared/third_party/``. Without one, every test using these fixtures is
skipped with that reason (``edgeclas doctor`` says how to get a source).

* ``lite_models`` (session): ``{"trained": dir, "disc": dir}``: the test model (``model_dir``, the demo's
  trained PP-LCNet x0.25) and a small seeded 3-class net made of
  PP-LCNet's own ops (conv, depthwise conv, hard_swish, an SE-style hard_sigmoid gate, pool, fc, softmax)
  whose probabilities differ clearly from image to image, each with its arm and x86 ``.nb`` (and ``.onnx``).
* ``lite_sdk_armv8`` / ``lite_sdk_armv7`` / ``lite_sdk_host`` (session):
  :class:`edgeclas.lite.source_build.LiteBuild`, the light-API library for linux-armv8 / linux-armv7 / the
  x86-64 host tailored to those two models, which need the same kernels as any PP-LCNet: the cache key
  (source commit, target, options, kernels) is the one the demo's own tailored build has, so the first
  session (or demo) builds it, in minutes, and later ones reuse it. armv8 is built ``--fp16`` (ARMv8.2 FP16
  kernels beside the FP32 ones; qemu's CPU has FP16 arithmetic, so a ``precision FP16`` request reaches
  Paddle Lite; the FP32 tests run on the same library). Not installed as the user's ``paddle-lite`` piece.
* ``armv8_lite_build`` / ``armv7_lite_build`` / ``host_lite_build`` (session): ``edgeclas build --engine lite
  --tests`` against those libraries, the native Lite engine tests run (under qemu for ARM) on the 3-class
  net's ``.nb`` (its answers depend on the input, so a test can see that the input reached the model).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["lite_models", "lite_sdk_armv8", "lite_sdk_armv7", "lite_sdk_host", "armv8_lite_build",
           "armv7_lite_build", "host_lite_build", "nb_target"]


def nb_target(arch: str) -> str:
    """The .nb a Paddle Lite library of ``arch`` runs: the arm one on ARM, the x86 one on the host."""
    return "x86" if arch == "host" else "arm"


_DISC = r"""
import sys
import paddle

class Net(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        spread = paddle.ParamAttr(initializer=paddle.nn.initializer.Normal(std=0.6))
        self.conv = paddle.nn.Conv2D(3, 8, 3, stride=2, padding=1, weight_attr=spread)
        self.dw = paddle.nn.Conv2D(8, 8, 3, padding=1, groups=8)
        self.pool = paddle.nn.AdaptiveAvgPool2D(1)
        self.fc = paddle.nn.Linear(8, 3, weight_attr=spread)

    def forward(self, x):
        x = paddle.nn.functional.hardswish(self.conv(x))
        x = paddle.nn.functional.hardsigmoid(self.dw(x)) * x
        return paddle.nn.functional.softmax(self.fc(paddle.reshape(self.pool(x), [-1, 8])), axis=-1)

paddle.seed(11)
net = Net()
net.eval()
paddle.jit.save(net, sys.argv[1], input_spec=[paddle.static.InputSpec([None, 3, 32, 32], "float32", "x")])
"""


def _discriminative_model(root: Path) -> Path:
    from edgeclas.manifest import write_manifest
    from edgeclas.preprocess import PreprocessConfig

    d = root / "disc"
    script = root / "make_disc.py"  # paddle.jit traces forward() from its source file
    script.write_text(_DISC)
    env = dict(os.environ, FLAGS_enable_pir_api="0", CUDA_VISIBLE_DEVICES="")  # legacy program: what opt reads
    res = subprocess.run([sys.executable, str(script), str(d / "legacy" / "inference")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (d / "labels.txt").write_text("0 a\n1 b\n2 c\n")
    write_manifest(d, "model", {
        "model": {"name": "disc", "arch": "disc-pplcnet-ops", "class_num": 3, "input_size": [3, 32, 32]},
        "preprocess": PreprocessConfig(resize_short=36, crop_size=32).to_dict(),
        "labels": ["a", "b", "c"], "labels_file": "labels.txt",
        "formats": {"legacy": {"model": "legacy/inference.pdmodel", "params": "legacy/inference.pdiparams"}},
    }, files=["legacy/inference.pdmodel", "legacy/inference.pdiparams", "labels.txt"])
    return d


@pytest.fixture(scope="session")
def lite_models(model_dir, lite_runtime, tmp_path_factory) -> dict[str, Path]:
    from edgeclas.lite import convert_nb

    from edgeclas.onnx_convert import convert_onnx

    models = {"trained": model_dir, "disc": _discriminative_model(tmp_path_factory.mktemp("lite-disc"))}
    convert_onnx(models["disc"])  # ONNX Runtime cells beside Lite's on the same model
    for m in models.values():
        convert_nb(m, target="arm")
        convert_nb(m, target="x86")  # for the host's source-built library
    return models


def _lite_sdk(arch: str, lite_models: dict[str, Path]):
    from edgeclas.errors import ToolchainError
    from edgeclas.lite.source_build import LiteBuildOptions, build_paddle_lite, default_source, source_hint

    if default_source() is None:
        pytest.skip(f"no Paddle Lite source to build from: {source_hint()}")
    try:
        return build_paddle_lite(arch=arch, os_="linux", tailor=[lite_models["trained"], lite_models["disc"]],
                                 options=LiteBuildOptions(fp16=arch == "armv8"), jobs=2,
                                 log=lambda m: print(f"[paddle-lite {arch}] {m}", flush=True))
    except ToolchainError as e:
        pytest.skip(f"{e.message} -- provide it with: {e.hint}")


@pytest.fixture(scope="session")
def lite_sdk_armv8(lite_models):
    return _lite_sdk("armv8", lite_models)


@pytest.fixture(scope="session")
def lite_sdk_armv7(lite_models):
    return _lite_sdk("armv7", lite_models)


@pytest.fixture(scope="session")
def lite_sdk_host(lite_models):
    return _lite_sdk("host", lite_models)


def _lite_build(tmp_path_factory, arch: str, sdk_build, lite_models):
    from edgeclas.build import build
    from edgeclas.errors import ToolchainError
    from edgeclas.model_dir import ModelDir

    # The 3-class net's answers depend on the input: the engine tests check that. On the FP16 library (armv8) the
    # engine tests run the test model instead: Paddle Lite v2.13-rc crashes building the 3-class net's program in
    # low precision (a stack overflow in RuntimeProgram's constructor, under qemu); PP-LCNet runs.
    md = ModelDir.load(lite_models["trained" if sdk_build.options.fp16 else "disc"])
    try:
        return build(arch, "linux", "lite", tmp_path_factory.mktemp(f"build-{arch}-lite") / "out", tests=True,
                     jobs=2, engine_root=sdk_build.root,
                     test_env={"EDGECLAS_TEST_NB": str(md.nb_file(nb_target(arch))),
                               "EDGECLAS_TEST_NB_CROP": str(md.preprocess.crop_size)})
    except ToolchainError as e:
        pytest.skip(f"{e.message} -- provide it with: {e.hint}")


@pytest.fixture(scope="session")
def armv8_lite_build(tmp_path_factory, lite_sdk_armv8, lite_models):
    return _lite_build(tmp_path_factory, "armv8", lite_sdk_armv8, lite_models)


@pytest.fixture(scope="session")
def armv7_lite_build(tmp_path_factory, lite_sdk_armv7, lite_models):
    return _lite_build(tmp_path_factory, "armv7", lite_sdk_armv7, lite_models)


@pytest.fixture(scope="session")
def host_lite_build(tmp_path_factory, lite_sdk_host, lite_models):
    return _lite_build(tmp_path_factory, "host", lite_sdk_host, lite_models)
