"""Paddle Lite built from source and clas_system's Lite engine on ARM under qemu, and on the x86 host
(integration).

Builds come from tests/fixtures_lite_build.py: Paddle Lite's light-API library for linux-armv8/armv7 and
the host, tailored to the test models, and ``edgeclas build --engine lite --tests`` against it. The arm
``.nb`` runs through the real library under qemu-user, the x86 one directly; their probabilities are
compared with Paddle Inference on the host, on PNG photographs (decoders agree exactly on PNG).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fixtures_build import clas_config
from fixtures_lite_build import nb_target

pytestmark = pytest.mark.integration

ARCHES = ["armv8", "armv7"]
ALL = ["host", *ARCHES]


def _build(request, arch: str):
    return request.getfixturevalue(f"{arch}_lite_build")


@pytest.mark.parametrize("arch", ARCHES)
def test_lite_library_is_the_tailored_build_and_small(request, arch, lite_models):
    sdk_build = request.getfixturevalue(f"lite_sdk_{arch}")
    m = sdk_build.manifest
    assert (m["route"], m["version"], m["target"]["arch"]) == ("source", "v2.13-rc", arch)
    kernels = m["tailored"]["kernels"]
    fp32 = [k for k in kernels if ",kFP16," not in k]
    assert "hard_swish,kARM,kFloat,kNCHW,def" in fp32 and len(fp32) == 14  # what PP-LCNet needs, no more
    # armv8 is built --fp16: PP-LCNet's FP16 kernels too, and the edit that keeps the FP16 depthwise conv.
    assert m["options"]["fp16"] == (arch == "armv8")
    assert ("conv2d,kARM,kFP16,kNCHW,def" in kernels) == (arch == "armv8")
    assert (m.get("recipe") is not None) == (arch == "armv8")
    # Tailored to PP-LCNet's kernels, the library is a fraction of the full 2.6 MB one.
    assert 100_000 < m["library"]["bytes"] < 1_000_000
    from edgeclas.manifest import check_files

    assert check_files(sdk_build.root, m) == []
    b = _build(request, arch)
    lib = b.manifest["engine"]["library"]
    assert b.manifest["engine"]["version"] == "v2.13-rc" and lib["tailored_kernels"] == kernels
    assert sorted(p.name for p in b.libs) == ["libgomp.so.1", "libpaddle_light_api_shared.so"]


def test_host_library_is_built_offline_from_the_systems_pieces(lite_sdk_host, host_lite_build):
    """The x86 build: Paddle Lite's downloads replaced by the system's packages, tailored like the ARM ones."""
    from edgeclas.manifest import check_files

    m = lite_sdk_host.manifest
    assert (m["route"], m["version"], m["target"]["arch"]) == ("source", "v2.13-rc", "host")
    assert m["recipe"]["third_party"]["eigen"] == "system (libeigen3-dev)"
    assert m["recipe"]["third_party"]["mklml"] == "off"
    kernels = m["tailored"]["kernels"]
    # x86 kernel files only register kernels: Paddle Lite's tailoring script dropped them until the recipe's edit;
    # pool2d is one of them, and PP-LCNet cannot run without it.
    assert {"pool2d,kX86,kFloat,kNCHW,def", "softmax,kX86,kFloat,kNCHW,def", "conv2d,kX86,kFloat,kNCHW,def"} \
        <= set(kernels), kernels
    assert 100_000 < m["library"]["bytes"] < 10_000_000
    assert check_files(lite_sdk_host.root, m) == []
    lib = host_lite_build.manifest["engine"]["library"]
    assert host_lite_build.manifest["engine"]["version"] == "v2.13-rc" and lib["tailored_kernels"] == kernels
    assert [p.name for p in host_lite_build.libs] == ["libpaddle_light_api_shared.so"]


@pytest.mark.parametrize("arch", ALL)
def test_native_lite_engine_tests_pass(request, arch):
    b = _build(request, arch)
    assert b.tests is not None and b.tests.ok, b.tests
    log = (b.out / "logs" / "ctest.log").read_text()
    lite = [ln for ln in log.splitlines() if "LiteEngine." in ln and "Test #" in ln]
    assert len(lite) == 6, lite
    assert all("Passed" in ln for ln in lite), lite
    # Run on the model, not skipped for want of one.
    assert "EDGECLAS_TEST_NB / EDGECLAS_TEST_NB_CROP are not set" not in log


@pytest.mark.parametrize("which", ["trained", "disc"])
@pytest.mark.parametrize("arch", ALL)
def test_clas_system_lite_matches_host_paddle(request, arch, which, lite_models, png_images, tmp_path):
    from edgeclas.bench.accuracy import reference_probs
    from edgeclas.model_dir import ModelDir

    b = _build(request, arch)
    md = ModelDir.load(lite_models[which])
    cfg = clas_config(tmp_path, md.nb_file(nb_target(arch)), md.labels_file, md.preprocess.to_dict(), num_threads=2,
                      warmup=1, repeats=2, topk=2)
    r = subprocess.run(b.command(cfg, png_images[0].parent), capture_output=True, text=True, env=b.env(), timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    images, summary = lines[:-1], lines[-1]
    assert [Path(d["image"]).name for d in images] == [p.name for p in png_images]
    assert (summary["engine"], summary["engine_version"], summary["precision"]) == ("lite", "v2.13-rc", "FP32")
    got = np.array([d["probs"] for d in images])
    ref = reference_probs(md.path, png_images, "paddle")
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-4, np.abs(got - ref).max()
    assert (got.argmax(1) == ref.argmax(1)).all()
    if which == "disc":  # the comparison above can only fail if the reference itself says something
        assert np.abs(ref - ref.mean(0)).max() > 0.05, ref


@pytest.mark.parametrize("arch", ["host", "armv8"])
def test_concurrent_images_and_batches_give_the_answers_of_one_at_a_time(request, arch, lite_models, png_images,
                                                                         tmp_path):
    """A Paddle Lite predictor is not safe to run from two threads: concurrent_images loads one per worker;
    batch_size resizes its input to a batch. The answers are those of one image at a time."""
    from edgeclas.model_dir import ModelDir

    b = _build(request, arch)
    md = ModelDir.load(lite_models["trained"])
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(7):
        src = png_images[i % len(png_images)]
        (folder / f"{i:02d}_{src.name}").write_bytes(src.read_bytes())
    probs = {}
    # (concurrent_images, batch_size): a predictor per worker; batches resize the predictor's input.
    for n, bs in ((1, 1), (3, 1), (1, 3), (2, 2)):
        d = tmp_path / f"c{n}b{bs}"
        d.mkdir()
        cfg = clas_config(d, md.nb_file(nb_target(arch)), None, md.preprocess.to_dict(), concurrent_images=n,
                          batch_size=bs)
        r = subprocess.run(b.command(cfg, folder), capture_output=True, text=True, env=b.env(), timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        assert (lines[-1]["concurrent_images"], lines[-1]["batch_size"], lines[-1]["images"]) == (n, bs, 7)
        assert len(lines[-1]["latency_ms"]["samples"]) == -(-7 // bs)
        assert [Path(x["image"]).name for x in lines[:-1]] == sorted(p.name for p in folder.iterdir())
        probs[n, bs] = np.array([x["probs"] for x in lines[:-1]])
    assert np.abs(probs[1, 1] - probs[3, 1]).max() <= 1e-6
    for key in ((1, 3), (2, 2)):
        assert np.abs(probs[1, 1] - probs[key]).max() <= 1e-5, key


def test_fp16_request_is_printed_as_ignored_with_the_reason(request, lite_models, png_images, tmp_path):
    """armv7's library has no FP16 kernels (armv8's is built --fp16; see the next test)."""
    from edgeclas.model_dir import ModelDir

    b = _build(request, "armv7")
    md = ModelDir.load(lite_models["trained"])
    cfg = clas_config(tmp_path, md.nb_file("arm"), None, md.preprocess.to_dict(), precision="FP16")
    r = subprocess.run(b.command(cfg, png_images[0]), capture_output=True, text=True, env=b.env(), timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (f"warning: {cfg}: precision FP16 ignored: this Paddle Lite library was built without ARMv8.2 FP16 "
            "kernels (edgeclas sdk build paddle-lite --fp16)") in r.stderr
    settings = r.stderr.split("===settings===\n", 1)[1].split("\n\n", 1)[0]
    assert "\nprecision " not in settings  # an ignored setting is not listed as in effect
    assert json.loads(r.stdout.splitlines()[-1])["precision"] == "FP32"


def test_fp16_request_reaches_paddle_lite_on_armv8(request, lite_models, png_images, tmp_path):
    """The library built --fp16 takes the FP32 .nb with precision FP16 (qemu's CPU has ARMv8.2 FP16 arithmetic):
    Paddle Lite accepts it, the summary says FP16 with the caveat printed (Paddle Lite silently stays FP32 when
    an op lacks an FP16 kernel or the first op is not conv2d — PP-LCNet's output here is bit-identical to the
    FP32 run, native/README.md), the answers are Paddle's. On the 3-class net Paddle Lite crashes in low
    precision, so this is PP-LCNet."""
    from edgeclas.bench.accuracy import reference_probs
    from edgeclas.model_dir import ModelDir

    b = _build(request, "armv8")
    assert b.manifest["engine"]["library"]["fp16"] is True
    md = ModelDir.load(lite_models["trained"])
    cfg = clas_config(tmp_path, md.nb_file("arm"), md.labels_file, md.preprocess.to_dict(), precision="FP16",
                      num_threads=2, topk=2)
    r = subprocess.run(b.command(cfg, png_images[0].parent), capture_output=True, text=True, env=b.env(), timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "precision FP16 ignored" not in r.stderr, r.stderr[-2000:]
    assert "warning: precision FP16 requested and accepted" in r.stderr and "without saying so" in r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[-1]["precision"] == "FP16"
    got = np.array([d["probs"] for d in lines[:-1]])
    ref = reference_probs(md.path, png_images, "paddle")
    assert np.abs(got - ref).max() <= 2e-2, np.abs(got - ref).max()
    assert (got.argmax(1) == ref.argmax(1)).all()


def test_nb_from_another_opt_version_is_a_clear_error(request, lite_models, png_images, tmp_path):
    from edgeclas.model_dir import ModelDir

    b = _build(request, "armv8")
    md = ModelDir.load(lite_models["trained"])
    data = bytearray(md.nb_file("arm").read_bytes())
    data[2:18] = b"v2.12".ljust(16, b"\0")  # the opt version field of the .nb header
    other = tmp_path / "v212.nb"
    other.write_bytes(bytes(data))
    cfg = clas_config(tmp_path, other, None, md.preprocess.to_dict())
    r = subprocess.run(b.command(cfg, png_images[0]), capture_output=True, text=True, env=b.env(), timeout=600)
    assert r.returncode == 1  # an error, not Paddle Lite aborting
    assert f"error: {other}: made by Paddle Lite opt v2.12 but this clas_system's Paddle Lite library is v2.13-rc" \
        in r.stderr


def test_tailored_library_refuses_a_model_needing_other_kernels(request, tiny_lite_models, lite_runtime, tmp_path):
    """The library has PP-LCNet's kernels; the tiny net's batch_norm, relu and scale are not among them: refused
    before anything is pushed."""
    import shutil

    from edgeclas.deploy import make_bundle
    from edgeclas.errors import ToolchainError
    from edgeclas.lite import convert_nb

    b = _build(request, "armv8")
    model = Path(shutil.copytree(tiny_lite_models["reshape"], tmp_path / "tiny"))
    convert_nb(model, target="arm")
    image = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(image), np.full((40, 40, 3), 128, np.uint8))
    with pytest.raises(ToolchainError) as e:
        make_bundle(b.out, model, image, out_dir=tmp_path / "bundle")
    assert "needs ops the tailored Paddle Lite library" in e.value.message
    assert "batch_norm, relu" in e.value.message and "scale" in e.value.message
    assert "edgeclas sdk build paddle-lite --arch armv8 --os linux --tailor" in e.value.hint
    assert str(model) in e.value.hint
    assert not (tmp_path / "bundle").exists()
