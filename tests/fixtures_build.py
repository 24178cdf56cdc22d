"""Session fixtures: real builds of ``native/`` made through :func:`edgeclas.build.build`.

* ``host_build``: this machine, ONNX Runtime engine, the pybind11 module (``python/``) and the native tests;
* ``armv8_linux_build``: aarch64 Linux (Debian cross gcc), ONNX Runtime engine, native tests — runs here under qemu;
* ``armv7_linux_build``: armhf Linux, no engine (no ORT exists for armhf), native tests run under qemu-arm.

Each returns an :class:`edgeclas.build.BuildResult` (``.binary``, ``.command(*args)`` — qemu prefixed for
ARM —, ``.env()``, ``.python_module``, ``.tests``, ``.manifest``). Every fixture builds once per session
into its own output directory; the CMake build directory is cached across sessions (keyed by the
options), so a rerun only recompiles what changed. A missing SDK piece skips with the command that
provides it (``make setup`` installs all of them); a compile failure fails the tests that use it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

__all__ = ["host_build", "armv8_linux_build", "armv7_linux_build", "native", "png_images", "clas_config", "photo"]


def _build(tmp_path_factory: pytest.TempPathFactory, name: str, **kwargs):
    from edgeclas.build import build
    from edgeclas.errors import ToolchainError

    out = tmp_path_factory.mktemp(f"build-{name}") / "out"
    try:
        return build(out=out, jobs=2, **kwargs)
    except ToolchainError as e:
        pytest.skip(f"{e.message} -- provide it with: {e.hint}")


@pytest.fixture(scope="session")
def host_build(tmp_path_factory: pytest.TempPathFactory):
    """Host clas_system with ONNX Runtime, the ``_native`` Python module, native tests run."""
    return _build(tmp_path_factory, "host", arch="host", os_="linux", engine="onnxruntime", python=True, tests=True)


@pytest.fixture(scope="session")
def armv8_linux_build(tmp_path_factory: pytest.TempPathFactory):
    """aarch64 Linux clas_system with ONNX Runtime (run it with ``.command(...)``: qemu-aarch64 + ARM prefix);
    its native tests (NEON path included) were run under qemu-aarch64 (``.tests``)."""
    return _build(tmp_path_factory, "armv8-linux", arch="armv8", os_="linux", engine="onnxruntime", tests=True)


@pytest.fixture(scope="session")
def armv7_linux_build(tmp_path_factory: pytest.TempPathFactory):
    """armhf Linux build without an engine; its native tests were run under qemu-arm (``.tests``)."""
    return _build(tmp_path_factory, "armv7-linux", arch="armv7", os_="linux", engine="none", tests=True)


@pytest.fixture(scope="session")
def native(host_build):
    """The ``edgeclas._native`` module of the host build, loaded from its build output."""
    path = host_build.python_module
    if path is None:
        pytest.fail("host_build has no Python module (EDGECLAS_BUILD_PYTHON)")
    spec = importlib.util.spec_from_file_location("edgeclas._native", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def png_images(tmp_path_factory: pytest.TempPathFactory, sample_images) -> list[Path]:
    """The PNG sample photos only (decoders agree exactly on PNG), in a folder of their own."""
    folder = tmp_path_factory.mktemp("png")
    out = []
    for p in sample_images:
        if p.suffix == ".png":
            out.append(folder / p.name)
            out[-1].write_bytes(p.read_bytes())
    return sorted(out)


def photo_folder(folder: Path, sources: list[Path], count: int, size: int = 96) -> list[str]:
    """``count`` small PNGs cut from ``sources`` at shifting offsets (each image differs), named in order;
    returns their names. More images than clas_system's concurrent window (64) makes its slots wrap."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    pictures = [cv2.imread(str(s), cv2.IMREAD_COLOR) for s in sources]
    names = []
    for i in range(count):
        img = pictures[i % len(pictures)]
        y, x = (7 * i) % (img.shape[0] - size), (11 * i) % (img.shape[1] - size)
        names.append(f"{i:03d}.png")
        cv2.imwrite(str(folder / names[-1]), img[y:y + size, x:x + size])
    return names


def photo(name: str) -> np.ndarray:
    """One of scikit-image's real photographs, decoded to RGB uint8 (skips where scikit-image is absent)."""
    from edgeclas.preprocess import decode_image

    skimage = pytest.importorskip("skimage", reason="scikit-image ships the real photographs used here")
    return decode_image(Path(skimage.data_dir) / name)


def clas_config(directory: Path, model: Path, labels: Path | None, preprocess: dict, **keys: object) -> Path:
    """Write a clas_system ``config.txt`` (PaddleClas keys + edgeclas keys) for ``model`` into ``directory``.

    ``preprocess`` is a model manifest's ``preprocess`` section; ``keys`` add or override lines.
    """
    lines = {
        "clas_model_file": str(model),
        "resize_short_size": preprocess["resize_short"],
        "crop_size": preprocess["crop_size"],
        "mean": " ".join(repr(float(x)) for x in preprocess["mean"]),
        "std": " ".join(repr(float(x)) for x in preprocess["std"]),
        "scale": repr(float(preprocess["scale"])),
        "channel_order": preprocess.get("channel_order", "RGB"),
        "num_threads": 1,
        "output": "json",
    }
    if labels is not None:
        lines["label_path"] = str(labels)
    lines.update(keys)
    path = Path(directory) / "config.txt"
    path.write_text("".join(f"{k} {v}\n" for k, v in lines.items()))
    return path
