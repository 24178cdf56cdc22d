"""Session fixtures: Paddle Lite built from its official source for the test models, and clas_system on it.

The source is what ``edgeclas sdk build paddle-lite`` uses by default: ``$EDGECLAS_PADDLE_LITE_SOURCE``,
else the bundle CI keeps in ``shared/third_party/``. Without one, every test using these fixtures is
skipped with that reason (``edgeclas doctor`` says how to get a source).

* ``lite_models`` (session): ``{"trained": dir, "tiny": dir}``: the test model (``model_dir``) and the
  tiny seeded 4-class net (``tiny_lite_models["reshape"]``, whose probabilities differ clearly from image
  to image, unlike the briefly trained one's ~0.5/0.5), each with its arm ``.nb`` converted.
* ``lite_sdk_armv8`` / ``lite_sdk_armv7`` (session): :class:`edgeclas.sdk.paddle_lite_source.LiteBuild`,
  the light-API library for linux-armv8 / linux-armv7 tailored to those two models. Cached in the edgeclas
  cache by (source commit, target, options, kernels): the first session builds it (minutes), later ones
  and the demo model (same kernels) reuse it. Not installed as the user's ``paddle-lite`` piece.
* ``armv8_lite_build`` / ``armv7_lite_build`` (session): ``edgeclas build --engine lite --tests`` against
  those libraries, the native Lite engine tests run under qemu on the trained model's arm ``.nb``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

__all__ = ["lite_models", "lite_sdk_armv8", "lite_sdk_armv7", "armv8_lite_build", "armv7_lite_build"]


@pytest.fixture(scope="session")
def lite_models(model_dir, tiny_lite_models, lite_runtime, tmp_path_factory) -> dict[str, Path]:
    from edgeclas.lite import convert_nb

    tiny = Path(shutil.copytree(tiny_lite_models["reshape"], tmp_path_factory.mktemp("lite-tiny") / "tiny"))
    models = {"trained": model_dir, "tiny": tiny}
    for m in models.values():
        convert_nb(m, target="arm")
    return models


def _lite_sdk(arch: str, lite_models: dict[str, Path]):
    from edgeclas.errors import ToolchainError
    from edgeclas.sdk.paddle_lite_source import build_paddle_lite, default_source, source_hint

    if default_source() is None:
        pytest.skip(f"no Paddle Lite source to build from: {source_hint()}")
    try:
        return build_paddle_lite(arch=arch, os_="linux", tailor=[lite_models["trained"], lite_models["tiny"]],
                                 jobs=2, log=lambda m: print(f"[paddle-lite {arch}] {m}", flush=True))
    except ToolchainError as e:
        pytest.skip(f"{e.message} -- provide it with: {e.hint}")


@pytest.fixture(scope="session")
def lite_sdk_armv8(lite_models):
    return _lite_sdk("armv8", lite_models)


@pytest.fixture(scope="session")
def lite_sdk_armv7(lite_models):
    return _lite_sdk("armv7", lite_models)


def _lite_build(tmp_path_factory, arch: str, sdk_build, lite_models):
    from edgeclas.build import build
    from edgeclas.errors import ToolchainError
    from edgeclas.model_dir import ModelDir

    trained = ModelDir.load(lite_models["trained"])
    try:
        return build(arch, "linux", "lite", tmp_path_factory.mktemp(f"build-{arch}-lite") / "out", tests=True,
                     jobs=2, lite_root=sdk_build.root,
                     test_env={"EDGECLAS_TEST_NB": str(trained.nb_file("arm")),
                               "EDGECLAS_TEST_NB_CROP": str(trained.preprocess.crop_size)})
    except ToolchainError as e:
        pytest.skip(f"{e.message} -- provide it with: {e.hint}")


@pytest.fixture(scope="session")
def armv8_lite_build(tmp_path_factory, lite_sdk_armv8, lite_models):
    return _lite_build(tmp_path_factory, "armv8", lite_sdk_armv8, lite_models)


@pytest.fixture(scope="session")
def armv7_lite_build(tmp_path_factory, lite_sdk_armv7, lite_models):
    return _lite_build(tmp_path_factory, "armv7", lite_sdk_armv7, lite_models)
