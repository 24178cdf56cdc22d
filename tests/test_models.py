"""Backbones: the arch table, PaddleClas parameter names, and loading pretrained weights."""

from __future__ import annotations

import numpy as np
import pytest

paddle = pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")

from edgeclas.errors import ConfigError, ModelError  # noqa: E402
from edgeclas.models import ARCHS, build_model, load_pretrained, reparameterize  # noqa: E402

# A few parameter names as they appear in PaddleClas's own state dicts (legendary_models/*.py).
PADDLECLAS_KEYS = {
    "PPLCNet_x0_25": ["conv1.conv.weight", "blocks2.0.dw_conv.bn._mean", "blocks5.5.pw_conv.conv.weight",
                      "blocks6.1.se.conv2.bias", "last_conv.weight", "fc.weight", "fc.bias"],
    "PPLCNetV2_base": ["stem.0.conv.weight", "stem.1.dw_conv.bn._variance", "stages.2.5.dw_conv_list.2.bn.weight",
                       "stages.2.0.dw_conv.bias", "stages.2.0.pw_conv_2.conv.weight", "stages.3.1.pw_conv.bn.bias", "last_conv.weight", "fc.bias"],
    "MobileNetV3_small_x0_35": ["conv.bn.weight", "blocks.0.mid_se.conv2.bias", "blocks.10.linear_conv.bn._mean",
                                "last_second_conv.conv.weight", "last_conv.weight", "fc.weight"],
    "MobileNetV3_large_x1_0": ["blocks.14.expand_conv.conv.weight", "blocks.3.mid_se.conv1.weight", "fc.bias"],
    "ResNet18_vd": ["stem.0.conv.weight", "stem.2.bn._variance", "blocks.0.short.conv.weight", "blocks.1.conv1.bn.bias",
                    "blocks.6.short.bn._mean", "fc.weight"],
    "ResNet50_vd": ["stem.1.bn.weight", "blocks.0.short.conv.weight", "blocks.3.short.bn.bias",
                    "blocks.15.conv2.conv.weight", "blocks.15.conv2.bn._mean", "fc.bias"],
}


def _x(n: int = 2, size: int = 64):
    paddle.seed(0)
    return paddle.randn([n, 3, size, size])


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_arch_builds_and_classifies(arch):
    model = build_model(arch, class_num=3)
    model.eval()
    out = model(_x())
    assert list(out.shape) == [2, 3]
    assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("arch", list(PADDLECLAS_KEYS))
def test_parameter_names_are_paddleclas_names(arch):
    keys = set(build_model(arch, class_num=10).state_dict())
    missing = [k for k in PADDLECLAS_KEYS[arch] if k not in keys]
    assert not missing, f"{arch} lacks PaddleClas keys {missing}"


def test_pplcnet_size_matches_published_parameter_count():
    # PaddleClas model zoo: PPLCNet_x0_25 1.5 M, PPLCNet_x1_0 2.96 M parameters (1000 classes).
    for arch, published in (("PPLCNet_x0_25", 1.5e6), ("PPLCNet_x1_0", 2.96e6)):
        n = sum(int(p.numel()) for p in build_model(arch, 1000).parameters())
        assert abs(n - published) / published < 0.02, (arch, n)


def test_resnet_vd_sizes_match_published_parameter_counts():
    # PaddleClas model zoo (1000 classes): the teachers of SSLD / PULC distillation.
    published = {"ResNet18_vd": 11.71e6, "ResNet34_vd": 21.82e6, "ResNet50_vd": 25.63e6, "ResNet101_vd": 44.67e6}
    for arch, count in published.items():
        n = sum(int(p.numel()) for p in build_model(arch, 1000).parameters())
        assert abs(n - count) / count < 0.005, (arch, n)


def test_resnet_vd_shortcut_pools_before_its_conv_except_in_the_first_block():
    """The "vd" tweak: a strided projection shortcut averages 2x2 first instead of skipping pixels."""
    model = build_model("ResNet50_vd", 2)
    first, down = model.blocks[0].short, model.blocks[3].short
    assert not first.avg_down and first.conv._stride == [1, 1]
    assert down.avg_down and down.conv._stride == [1, 1] and down.avg_pool.ksize == 2
    assert model.blocks[3].conv1.conv._stride == [2, 2]  # the main branch strides in its 3x3 conv
    with pytest.raises(ConfigError, match="lr_mult_list needs 5"):
        build_model("ResNet18_vd", 2, lr_mult_list=[1.0] * 6)


def test_unknown_arch_and_option_name_the_closest_valid_one():
    with pytest.raises(ConfigError) as e:
        build_model("PPLCNet_x0_26", 2)
    assert "PPLCNet_x0_25" in str(e.value)
    with pytest.raises(ConfigError) as e:
        build_model("PPLCNet_x0_25", 2, dropout_prop=0.1)
    assert "dropout_prob" in str(e.value)
    with pytest.raises(ConfigError):
        build_model("PPLCNet_x0_25", 0)


def test_bn_weight_init_sets_every_batchnorm_scale_and_nothing_else():
    import paddle

    paddle.seed(1)
    plain = build_model("PPLCNet_x0_25", 2).state_dict()
    paddle.seed(1)
    small = build_model("PPLCNet_x0_25", 2, bn_weight_init=0.2).state_dict()
    scales = [k for k in plain if k.endswith(".bn.weight")]
    assert len(scales) == 27  # the stem and 13 depthwise-separable blocks × 2
    for k in plain:
        want = np.full(plain[k].shape, 0.2, np.float32) if k in scales else plain[k].numpy()
        np.testing.assert_array_equal(small[k].numpy(), want)


def test_saved_state_dict_loads_with_nothing_missing(tmp_path):
    src = build_model("PPLCNet_x0_25", 4)
    path = tmp_path / "w.pdparams"
    paddle.save(src.state_dict(), str(path))
    dst = build_model("PPLCNet_x0_25", 4)
    report = load_pretrained(dst, tmp_path / "w")  # PaddleClas style: path without the suffix
    assert report.missing == [] and report.unexpected == [] and report.mismatched == []
    assert report.reinitialized == [] and report.complete
    assert len(report.loaded) == len(src.state_dict())
    src.eval(), dst.eval()
    np.testing.assert_array_equal(src(_x()).numpy(), dst(_x()).numpy())


def test_other_class_count_is_reported_and_classifier_reinitialised(tmp_path):
    src = build_model("PPLCNet_x0_25", 1000)
    state = {k: v.numpy() for k, v in src.state_dict().items()}
    state["fc.weight"] = np.full(state["fc.weight"].shape, 7.0, np.float32)  # hand-made: 1000-way head
    state["fc.bias"] = np.full(state["fc.bias"].shape, 7.0, np.float32)
    state["extra.weight"] = np.zeros(3, np.float32)
    del state["blocks6.1.se.conv2.bias"]
    path = tmp_path / "imagenet.pdparams"
    paddle.save(state, str(path))

    dst = build_model("PPLCNet_x0_25", 2)
    report = load_pretrained(dst, path)
    assert ("fc.weight", [1280, 2], [1280, 1000]) in report.mismatched
    assert ("fc.bias", [2], [1000]) in report.mismatched
    assert report.reinitialized == ["fc.weight", "fc.bias"]
    assert report.unexpected == ["extra.weight"]
    assert report.missing == ["blocks6.1.se.conv2.bias"]
    assert not report.complete
    np.testing.assert_array_equal(dst.conv1.conv.weight.numpy(), state["conv1.conv.weight"])
    assert not np.any(dst.fc.weight.numpy() == 7.0)  # freshly initialised, not a slice of the file
    assert np.abs(dst.fc.weight.numpy()).max() > 0


def test_missing_or_corrupt_weights_are_model_errors(tmp_path):
    model = build_model("PPLCNet_x0_25", 2)
    with pytest.raises(ModelError, match="not found"):
        load_pretrained(model, tmp_path / "nope.pdparams")
    bad = tmp_path / "bad.pdparams"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match="bad.pdparams"):
        load_pretrained(model, bad)


def test_pplcnetv2_fused_branches_give_the_same_outputs():
    model = build_model("PPLCNetV2_base", 5)
    model.train()
    for _ in range(2):  # move BN statistics away from their initial values so the fusion matters
        model(_x(4))
    model.eval()
    branches = model(_x()).numpy()
    reparameterize(model)
    fused = model(_x()).numpy()
    np.testing.assert_allclose(fused, branches, rtol=1e-4, atol=1e-4)


_EXPORT_SCRIPT = r"""
import os, sys, tempfile, json, numpy as np, paddle
from edgeclas.models import build_model, reparameterize
out = {}
for arch in sys.argv[1:]:
    paddle.seed(1)
    m = build_model(arch, 3)
    m.train(); m(paddle.randn([4, 3, 64, 64])); m.eval(); reparameterize(m)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    ref = m(paddle.to_tensor(x)).numpy()
    prefix = os.path.join(tempfile.mkdtemp(), "inference")
    paddle.jit.save(m, prefix, input_spec=[paddle.static.InputSpec([None, 3, 64, 64], "float32", "x")])
    p = paddle.inference.create_predictor(paddle.inference.Config(prefix + ".pdmodel", prefix + ".pdiparams"))
    h = p.get_input_handle(p.get_input_names()[0]); h.copy_from_cpu(x); p.run()
    got = p.get_output_handle(p.get_output_names()[0]).copy_to_cpu()
    paddle.enable_static()
    prog = paddle.static.load_inference_model(prefix, paddle.static.Executor())[0]
    paddle.disable_static()
    # relative to the largest logit (at least 1): freshly built ResNet logits reach ~5, PP-LCNet's stay ~0.005
    out[arch] = {"diff": float(np.abs(got - ref).max() / max(1.0, np.abs(ref).max())), "ops": sorted({op.type for op in prog.global_block().ops})}
print(json.dumps(out))
"""


@pytest.mark.integration
def test_every_family_exports_to_a_legacy_program_without_flatten(tmp_path):
    """Paddle Lite's opt reads legacy programs only, and segfaults on flatten for x86 (FINDINGS)."""
    import json
    import os
    import subprocess
    import sys

    archs = ["PPLCNet_x0_25", "MobileNetV3_small_x0_35", "PPLCNetV2_small", "ResNet18_vd"]
    env = {**os.environ, "FLAGS_enable_pir_api": "0"}  # must be set before paddle is imported
    r = subprocess.run([sys.executable, "-c", _EXPORT_SCRIPT, *archs], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    for arch in archs:
        assert result[arch]["diff"] < 1e-5, (arch, result[arch]["diff"])
        assert not [op for op in result[arch]["ops"] if "flatten" in op], arch
        assert "reshape2" in result[arch]["ops"], arch
