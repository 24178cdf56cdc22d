"""Shared fixtures: a real exported model directory and a few real images.

``model_dir`` (session): the demo's 400 sample clarity images → PP-LCNet x0.25 at 64² trained by
training/demo_clarity.yaml as shipped (12 epochs, ~0.9 val top-1; on the sample photos it answers
0.99/0.01 to 0.36/0.64) → export legacy + PIR → ONNX. Returns the model directory (``kind: "model"``,
docs/artifacts.md) as a :class:`~pathlib.Path` to a private copy each session, so a test may add formats
(``.nb``) without affecting others. The built model is cached in ``.cache/test-model/<key>`` under the
repo, keyed by the sources that shape it, because building it costs ~1 min of the machine's 2 cores.

``sample_images`` (session): a few real photographs as a list of paths in one folder holding
nothing else (so ``sample_images[0].parent`` can be passed as an image folder).
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from pathlib import Path

import pytest

__all__ = ["model_dir", "sample_images", "build_test_model"]

ROOT = Path(__file__).resolve().parents[1]
# Everything whose change can change the built model.
_KEY_SOURCES = ("edgeclas/models", "edgeclas/train", "edgeclas/data", "edgeclas/export.py",
                "edgeclas/onnx_convert.py", "edgeclas/preprocess.py", "training/demo_clarity.yaml",
                "tests/fixtures_model.py")
_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")


def _cache_key() -> str:
    import importlib.metadata

    h = hashlib.sha256(importlib.metadata.version("paddlepaddle").encode())
    for rel in _KEY_SOURCES:
        p = ROOT / rel
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.is_file() else []:
            h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def build_test_model(work: Path) -> Path:
    """Sample data, train the demo recipe a few steps, export both formats, ONNX; returns ``work/model``."""
    from edgeclas.data import sample
    from edgeclas.export import export
    from edgeclas.onnx_convert import convert_onnx
    from edgeclas.train import train

    # The demo's own data and recipe, trained to the end (~0.9 val top-1, ~35 s): a model whose answers
    # depend on the image, so host/device/engine parity tests can see a preprocessing or engine error
    # (with a few steps it answered 0.5002/0.4998 for every input, noise and photos alike).
    data = sample("clarity", work / "data", num=400, seed=0)
    run = train(ROOT / "training" / "demo_clarity.yaml", [
        f"Global.dataset_dir={data.root}", f"Global.output_dir={work / 'runs'}",
    ])
    model = export(run.best, work / "model", name="clarity")
    convert_onnx(model)
    return model


def _copy_of_cached_model(dst: Path) -> Path:
    base = ROOT / ".cache" / "test-model"
    base.mkdir(parents=True, exist_ok=True)
    entry = base / _cache_key()
    with open(base / "lock", "w") as lock:  # several sessions share the tree: build once, copy under the lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (entry / ".complete").is_file():  # built in place (manifests hold absolute paths), marked last
            for old in base.iterdir():  # models of older sources
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            entry.mkdir()
            build_test_model(entry)
            (entry / ".complete").touch()
        return Path(shutil.copytree(entry / "model", dst))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the cached small model directory (legacy + pir + onnx)."""
    return _copy_of_cached_model(tmp_path_factory.mktemp("model") / "clarity")


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four real photographs (scikit-image's), alone in one folder."""
    skimage = pytest.importorskip("skimage", reason="scikit-image provides the sample photographs")
    src = Path(skimage.data_dir)
    folder = tmp_path_factory.mktemp("images")
    return [Path(shutil.copy2(src / name, folder / name)) for name in _PHOTOS]
