"""The native core under AddressSanitizer + UndefinedBehaviorSanitizer (unit tests and the fuzz corpora),
and clas_system's concurrent pipeline under ThreadSanitizer.

Two host builds with ``sanitize=True`` (any finding aborts the process that hit it): one decoding with
libjpeg-turbo/libpng as Linux targets do, one with stb_image for everything as Android builds do. Each runs
the GoogleTest suite through ctest and replays the seed corpora and crash reproducers of
``tests/data/fuzz/<target>/`` through the fuzz targets (built with gcc as plain replayers; scripts/fuzz.py
builds the same targets with clang + libFuzzer to search for new inputs).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "fuzz"


@pytest.fixture(scope="module", params=[True, False], ids=["libjpeg-libpng", "stb-only"])
def sanitized_build(request, tmp_path_factory):
    from edgeclas.build import build
    from edgeclas.errors import ToolchainError

    out = tmp_path_factory.mktemp("asan") / "out"
    try:
        return build(arch="host", engine="none", out=out, tests=True, sanitize=True, fuzzers=True,
                     image_libs=request.param, build_type="Debug", jobs=2)
    except ToolchainError as e:
        pytest.skip(f"{e.message} -- provide it with: {e.hint}")


def test_unit_tests_pass_under_asan_and_ubsan(sanitized_build):
    r = sanitized_build.tests
    assert r is not None and r.ran and r.ok and r.total >= 25, r
    assert "-DEDGECLAS_SANITIZE=ON" in sanitized_build.manifest["cmake_args"]


@pytest.mark.parametrize("target", ["config", "decode"])
def test_fuzz_corpus_replays_clean_under_asan_and_ubsan(sanitized_build, target):
    files = sorted(p for p in (CORPUS / target).rglob("*") if p.is_file())
    assert len(files) >= 3, f"seed corpus {CORPUS / target} is missing"
    exe = sanitized_build.out / "bin" / f"fuzz_{target}"
    # An allocation past 1 GiB is a finding too (a 300-byte PNG once made stb allocate 2 GiB).
    env = dict(os.environ, ASAN_OPTIONS="max_allocation_size_mb=1024:allocator_may_return_null=0")
    r = subprocess.run([str(exe), str(CORPUS / target)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    assert f"ran {len(files)} inputs" in r.stdout
    assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr, r.stderr[-4000:]


def test_concurrent_pipeline_is_race_free_under_tsan(model_dir, png_images, tmp_path):
    """concurrent_images: workers decoding while the model loads, sharing one ONNX Runtime session, handing
    results (one image or a batch at a time) back in order — and a model that fails to load while they decode. Any race aborts (exit 66).

    num_threads 1: ONNX Runtime's own intra-op pool hands work over through atomics inside the uninstrumented
    library, which TSan cannot see (it reports those as races); our code runs the same either way."""
    import json

    from edgeclas.build import build
    from edgeclas.errors import ToolchainError
    from edgeclas.model_dir import ModelDir

    from fixtures_build import clas_config, photo_folder

    try:
        b = build(arch="host", engine="onnxruntime", out=tmp_path / "tsan", sanitize="thread",
                  build_type="RelWithDebInfo", jobs=2)
    except ToolchainError as e:
        pytest.skip(f"{e.message} -- provide it with: {e.hint}")
    assert "-DEDGECLAS_SANITIZE_THREAD=ON" in b.manifest["cmake_args"]
    md = ModelDir.load(model_dir)
    folder = tmp_path / "many"
    photo_folder(folder, png_images, 100)  # past the 64 slots of the in-flight window
    (folder / "005_bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    env = {**b.env(), "TSAN_OPTIONS": "halt_on_error=1 exitcode=66"}
    for batch in (1, 3):  # one image, then a batch of images, per worker
        cfg = clas_config(tmp_path, md.onnx_file, None, md.preprocess.to_dict(), concurrent_images=3, warmup=1,
                          repeats=2, batch_size=batch)
        r = subprocess.run(b.command(cfg, folder), capture_output=True, text=True, env=env, timeout=600)
        assert "ThreadSanitizer" not in r.stderr, r.stderr[-4000:]
        assert r.returncode == 1 and "005_bad.png" in r.stderr, r.stderr[-2000:]  # the bad image, and only that
        summary = json.loads(r.stdout.splitlines()[-1])
        assert (summary["images"], summary["batch_size"]) == (101, batch)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(md.onnx_file.read_bytes()[:1000])
    cfg = clas_config(tmp_path, broken, None, md.preprocess.to_dict(), concurrent_images=3)
    r = subprocess.run(b.command(cfg, folder), capture_output=True, text=True, env=env, timeout=600)
    assert "ThreadSanitizer" not in r.stderr, r.stderr[-4000:]
    assert r.returncode == 1 and "broken.onnx" in r.stderr and r.stdout == ""
