"""EDA ops and batch ops: PaddleClas's names and parameters, deterministic for a seed, checked on pixels
whose right values can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edgeclas.data.augment import (ColorJitter, Cutout, GridMask, HideAndSeek, RandomErasing, TimmAutoAugment,
                                   parse_rand_config)
from edgeclas.data.batch_ops import CutmixOperator, MixupOperator, OpSampler, build_batch_transform
from edgeclas.data.transforms import build_train_transform
from edgeclas.errors import ConfigError


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def chw(h: int, w: int, value: float = 0.0) -> np.ndarray:
    return np.full((3, h, w), value, np.float32)


def hwc(h: int, w: int, value: int = 0) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_random_erasing_fills_one_box_of_the_asked_size():
    # area fraction fixed at 1/4 and aspect 1 (r1 = 1): the box is exactly 10x10 on a 20x20 image
    op = RandomErasing(EPSILON=1.0, sl=0.25, sh=0.25, r1=1.0, mean=[7, 7, 7], mode="const")
    out, label = op(chw(20, 20), 3, rng(0))
    assert label == 3
    ys, xs = np.nonzero(out[0] == 7)
    assert len(ys) == 100 and ys.max() - ys.min() == 9 and xs.max() - xs.min() == 9
    assert (out[:, ys.min():ys.max() + 1, xs.min():xs.max() + 1] == 7).all() and (out == 7).sum() == 300
    again, _ = op(chw(20, 20), 3, rng(0))
    np.testing.assert_array_equal(out, again)  # same seed, same pixels
    assert not np.array_equal(out, op(chw(20, 20), 3, rng(5))[0])
    # never: the probability is EPSILON
    np.testing.assert_array_equal(RandomErasing(EPSILON=0.0)(chw(20, 20, 1), 0, rng(0))[0], chw(20, 20, 1))


def test_random_erasing_modes_and_string_numbers():
    op = RandomErasing(EPSILON=1.0, sl=0.02, sh="1.0/3.0", r1=0.3, use_log_aspect=True, mode="pixel", attempt=10)
    assert op.sh == pytest.approx(1 / 3)
    out, _ = op(chw(32, 32, 5.0), 0, rng(1))
    box = out != 5.0
    assert 0.02 * 1024 * 0.9 <= box[0].sum() <= 1024 / 3 * 1.1
    assert len(np.unique(out[box])) > 10  # per-pixel noise, not a constant
    rand, _ = RandomErasing(EPSILON=1.0, mode="rand")(chw(32, 32, 5.0), 0, rng(2))
    assert all(len(np.unique(rand[c][rand[c] != 5.0])) == 1 for c in range(3))  # one colour per channel
    with pytest.raises(ConfigError, match="mode: 'blur'"):
        RandomErasing(mode="blur")
    with pytest.raises(ConfigError, match="expected a number or 'a/b'"):
        RandomErasing(sh="__import__('os')")


def test_cutout_fills_the_clipped_square():
    # a hole of side 16 centred anywhere in an 8x8 image covers it all: every pixel is the fill colour
    out, _ = Cutout(n_holes=1, length=16, fill_value=[10, 20, 30])(hwc(8, 8, 255), 0, rng(0))
    assert (out == np.array([10, 20, 30], np.uint8)).all()
    # side 4 in a 32x32 image: a 4x4 box, or a clipped one at the border; nothing else changes
    out, _ = Cutout(n_holes=1, length=4)(hwc(32, 32, 255), 0, rng(3))
    ys, xs = np.nonzero(out[:, :, 0] == 0)
    assert 1 <= len(ys) <= 16 and len(ys) == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert (out[out != 0] == 255).all()
    np.testing.assert_array_equal(out, Cutout(n_holes=1, length=4)(hwc(32, 32, 255), 0, rng(3))[0])


def test_gridmask_keeps_a_periodic_grid():
    # d is drawn from d1..d2-1 = 4; stripes of 2 px every 4 px in both directions: 16 of 64 pixels survive
    op = GridMask(d1=4, d2=5, rotate=1, ratio=0.5, mode=0, prob=1.0)
    out, _ = op(chw(8, 8, 1.0), 0, rng(0))
    kept = out[0] == 1.0
    assert kept.sum() == 16 and (out[0][~kept] == 0).all()
    rows = np.nonzero(kept.any(axis=1))[0]
    a, b = sorted(set(int(r) % 4 for r in rows))
    assert len(rows) == 4 and (b - a) % 4 in (1, 3)  # two adjacent rows of every four
    inverse, _ = GridMask(d1=4, d2=5, mode=1)(chw(8, 8, 1.0), 0, rng(0))
    np.testing.assert_array_equal(inverse[0] == 1.0, ~kept)  # mode 1 keeps the stripes instead
    assert GridMask(d1=4, d2=5, prob=0.0)(chw(8, 8, 1.0), 0, rng(0))[0].min() == 1.0
    with pytest.raises(ConfigError, match="d1 < d2"):
        GridMask(d1=96, d2=96)


def test_hide_and_seek_hides_whole_cells():
    seen = set()
    for seed in range(12):
        out, _ = HideAndSeek()(chw(32, 32, 1.0), 0, rng(seed))
        # any grid of 16 or more: each 16x16 quarter is either hidden or untouched
        for y in (0, 16):
            for x in (0, 16):
                cell = out[:, y:y + 16, x:x + 16]
                assert cell.min() == cell.max()
        seen.add(float(out.mean()))
    assert 1.0 in seen and len(seen) > 1  # grid 0 leaves it, other draws hide something


def test_color_jitter_brightness_on_flat_grey():
    op = ColorJitter(brightness=0.5)
    out, _ = op(hwc(4, 4, 100), 0, rng(0))
    v = np.unique(out)
    assert len(v) == 1 and 50 <= int(v[0]) <= 150 and int(v[0]) != 100
    np.testing.assert_array_equal(out, op(hwc(4, 4, 100), 0, rng(0))[0])
    np.testing.assert_array_equal(ColorJitter(prob=0.0, brightness=0.5)(hwc(4, 4, 100), 0, rng(0))[0], hwc(4, 4, 100))
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    shifted, _ = ColorJitter(hue=0.5)(red, 0, rng(4))
    assert not np.array_equal(shifted, red)  # a hue shift moves pure red off red


def test_rand_augment_policy_strings():
    assert parse_rand_config("rand-m9-mstd0.5-inc1") == {"magnitude": 9.0, "num_layers": 2, "magnitude_std": 0.5,
                                                          "increasing": True, "weights": None}
    assert parse_rand_config("rand-n3-m5-w0")["num_layers"] == 3
    assert parse_rand_config("rand-m9-inc0")["increasing"] is False
    for bad, msg in (("auto-v0", "not a RandAugment policy"), ("rand-x3", "unknown section 'x3'"),
                     ("rand-m9-w1", "only the weight set w0")):
        with pytest.raises(ConfigError, match=msg):
            parse_rand_config(bad)


def _single_op(name: str, magnitude: float) -> TimmAutoAugment:
    op = TimmAutoAugment(config_str=f"rand-m{magnitude:g}-n1-inc1", img_size=64)
    i = op.names.index(name)
    op.ops, op.names = [op.ops[i]], [name]
    return op


def test_rand_augment_ops_on_hand_checked_pixels():
    img = np.array([[[10, 10, 10], [240, 240, 240]]], np.uint8)  # 1x2
    # Invert: 255 - x, or untouched (each chosen op applies with probability 1/2)
    outs = {tuple(_single_op("Invert", 9)(img, 0, rng(s))[0].ravel()) for s in range(8)}
    assert outs == {(10, 10, 10, 240, 240, 240), (245, 245, 245, 15, 15, 15)}
    # SolarizeIncreasing at magnitude 10: threshold 256 - 256 = 0, so every pixel is inverted
    outs = {tuple(_single_op("SolarizeIncreasing", 10)(img, 0, rng(s))[0].ravel()) for s in range(8)}
    assert outs == {(10, 10, 10, 240, 240, 240), (245, 245, 245, 15, 15, 15)}
    # Rotate at magnitude 10 (±30°) fills the uncovered corners with the mean colour
    flat = np.full((32, 32, 3), 100, np.uint8)
    rot = [_single_op("Rotate", 10)(flat, 0, rng(s))[0] for s in range(8)]
    turned = [r for r in rot if not np.array_equal(r, flat)]
    fill = [round(255 * m) for m in (0.485, 0.456, 0.406)]
    assert turned and all(list(r[0, 0]) == fill and list(r[16, 16]) == [100, 100, 100] for r in turned)


def test_timm_auto_augment_is_deterministic_and_keeps_shape():
    photo = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    op = TimmAutoAugment(config_str="rand-m9-mstd0.5-inc1", img_size=24)
    a, b = op(photo, 1, rng(7))[0], op(photo, 1, rng(7))[0]
    assert a.shape == photo.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(op(photo, 1, rng(s))[0], photo) for s in range(5))
    np.testing.assert_array_equal(TimmAutoAugment(prob=0.0)(photo, 1, rng(7))[0], photo)


def _two_class_batch():
    x = np.stack([np.zeros((3, 8, 8), np.float32), np.ones((3, 8, 8), np.float32)])  # class 0 black, class 1 white
    t = np.eye(2, dtype=np.float32)
    return x, t


@pytest.mark.parametrize("op", [MixupOperator(alpha=0.4), CutmixOperator(alpha=1.0)], ids=["mixup", "cutmix"])
def test_mixing_ops_mix_targets_as_they_mix_pixels(op):
    # the white share of each mixed image is exactly its class-1 weight
    for seed in range(6):
        x, t = op(*_two_class_batch(), rng(seed))
        np.testing.assert_allclose(x.reshape(2, -1).mean(axis=1), t[:, 1], atol=1e-6)
        np.testing.assert_allclose(t.sum(axis=1), 1.0, atol=1e-6)
    x1, t1 = op(*_two_class_batch(), rng(3))
    x2, t2 = op(*_two_class_batch(), rng(3))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(t1, t2)


def test_cutmix_box_is_a_rectangle():
    for seed in range(6):
        x, _ = CutmixOperator(alpha=1.0)(*_two_class_batch(), rng(seed))
        pasted = x[0, 0] == 1.0  # white pasted into the black image, if the permutation swapped them
        if pasted.any():
            ys, xs = np.nonzero(pasted)
            assert pasted.sum() == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)


def test_op_sampler_picks_by_prob():
    always = OpSampler(MixupOperator={"alpha": 0.5, "prob": 1.0})
    never = OpSampler(MixupOperator={"alpha": 0.5, "prob": 0.0}, CutmixOperator={"alpha": 0.5, "prob": 0.0})
    x, t = _two_class_batch()
    np.testing.assert_array_equal(never(x, t, rng(0))[1], t)
    assert any(not np.array_equal(always(x, t, rng(s))[1], t) for s in range(4))
    with pytest.raises(ConfigError, match="sum to at most 1"):
        OpSampler(MixupOperator={"alpha": 0.8, "prob": 0.7}, CutmixOperator={"alpha": 1.0, "prob": 0.5})
    with pytest.raises(ConfigError, match="needs a 'prob'"):
        OpSampler(MixupOperator={"alpha": 0.8})
    with pytest.raises(ConfigError, match="unknown op 'Mixup'") as e:
        OpSampler(Mixup={"alpha": 0.8, "prob": 0.5})
    assert "MixupOperator" in e.value.hint
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        build_batch_transform([{"MixupOperator": {"alpha": 0}}], "ops")


def test_pipeline_with_eda_ops_is_deterministic():
    ops = [{"DecodeImage": {"to_rgb": True, "channel_first": False}}, {"RandCropImage": {"size": 32}},
           {"RandFlipImage": {"flip_code": 1}}, {"ColorJitter": {"brightness": 0.2, "contrast": 0.2}},
           {"TimmAutoAugment": {"config_str": "rand-m9-mstd0.5-inc1", "img_size": 32}},
           {"NormalizeImage": {"scale": "1.0/255.0"}}, {"RandomErasing": {"EPSILON": 0.5, "mode": "pixel"}},
           {"GridMask": {"d1": 8, "d2": 16, "prob": 0.5}}, {"HideAndSeek": None}, {"Cutout": {"length": 8}}]
    f = build_train_transform(ops, "ops")
    photo = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    a, b = f(photo, 1, rng(11)), f(photo, 1, rng(11))
    assert a[0].shape == (3, 32, 32) and a[0].dtype == np.float32 and a[1] == 1
    np.testing.assert_array_equal(a[0], b[0])
