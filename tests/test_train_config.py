"""Recipes: defaults, -o overrides (ast.literal_eval, list indices), unknown keys with the nearest valid key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeclas.errors import ConfigError
from edgeclas.train.config import apply_override, load_config, validate

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "training").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_shipped_recipes_validate(recipe: Path):
    cfg = load_config(recipe)
    assert cfg["Arch"]["class_num"] >= 2
    assert cfg["Global"]["image_shape"][1] == cfg["DataLoader"]["Eval"]["dataset"]["transform_ops"][2]["CropImage"]["size"]


def test_demo_and_pulc_recipes_say_what_the_brief_says():
    demo = load_config(ROOT / "training" / "demo_clarity.yaml")
    assert demo["Arch"]["name"] == "PPLCNet_x0_25" and demo["Global"]["image_shape"] == [3, 64, 64]
    pulc = load_config(ROOT / "training" / "pulc_clarity.yaml")
    assert pulc["Arch"]["name"] == "PPLCNet_x1_0" and pulc["Global"]["image_shape"] == [3, 224, 224]
    assert any("BlurImage" in op for op in pulc["DataLoader"]["Train"]["dataset"]["transform_ops"])


def test_overrides_parse_literals_and_index_lists():
    cfg = load_config(ROOT / "training" / "demo_clarity.yaml", [
        "Global.epochs=7", "Optimizer.lr.learning_rate=0.05", "Global.output_dir=runs/x y",
        "Metric.Eval.0.TopkAcc.topk=[1, 2]", "Loss.Train.0.CELoss.epsilon=0.2", "Global.eval_during_train=False",
        "Arch.dropout_prob=0.1",
    ])
    assert cfg["Global"]["epochs"] == 7 and cfg["Optimizer"]["lr"]["learning_rate"] == 0.05
    assert cfg["Global"]["output_dir"] == "runs/x y"
    assert cfg["Metric"]["Eval"][0]["TopkAcc"]["topk"] == [1, 2]
    assert cfg["Loss"]["Train"][0]["CELoss"]["epsilon"] == 0.2
    assert cfg["Global"]["eval_during_train"] is False
    assert cfg["Arch"]["dropout_prob"] == 0.1


def test_override_is_never_evaluated_as_code():
    cfg: dict = {}
    apply_override(cfg, "Global.output_dir=__import__('os').getcwd()")
    assert cfg["Global"]["output_dir"] == "__import__('os').getcwd()"


@pytest.mark.parametrize("override, message, hint", [
    ("Optimizer.lr.learnig_rate=0.1", "Optimizer.lr.learnig_rate: unknown key", "learning_rate"),
    ("Globl.epochs=3", "Globl: unknown key", "Global"),
    ("Global.epochs=three", "Global.epochs: expected int", None),
    ("Global.steps_per_epoch=abc", "Global.steps_per_epoch: expected int or null", None),
    ("Arch.pretrained=[1]", "Arch.pretrained: expected str or null", None),
    ("Metric.Eval.5.TopkAcc.topk=[1]", "'5' is not an index", None),
    ("Loss.Train.0.CELos.epsilon=0.1", "unknown 'CELos'", "CELoss"),
    ("DataLoader.Train.dataset.transform_ops.1.RandCropImage.sise=64", "RandCropImage.sise: unknown argument", "size"),
    ("Optimizer.name=Adam", "Optimizer.name: 'Adam' is not supported", "Momentum"),
    ("DataLoader.Train.dataset.name=MultiLabelDataset", "'MultiLabelDataset' is not supported", "ImageNetDataset"),
    ("DataLoader.Eval.loader.num_workers=4", "DataLoader.Eval.loader: unknown key", None),
    ("Global.image_shape=[3, 32, 32]", "does not match Global.image_shape", None),
    ("Global.epochs", "expected Key.Sub=Value", None),
])
def test_bad_overrides_name_the_key_and_the_fix(override: str, message: str, hint: str | None):
    with pytest.raises(ConfigError) as e:
        load_config(ROOT / "training" / "demo_clarity.yaml", [override])
    assert message in e.value.message
    if hint:
        assert hint in (e.value.hint or "")


def test_yaml_errors_name_the_line(tmp_path: Path):
    bad = tmp_path / "r.yaml"
    bad.write_text("Global:\n  epochs: 3\n  output_dir: [unclosed\n")
    with pytest.raises(ConfigError, match=r"r.yaml:\d+: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="recipe not found"):
        load_config(tmp_path / "nope.yaml")
    binary = tmp_path / "weights.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))  # a binary file passed as the recipe
    with pytest.raises(ConfigError, match=r"weights.yaml: not a text file \(byte 0 is not UTF-8\); a recipe is YAML"):
        load_config(binary)


def test_validate_fills_defaults():
    cfg = validate({"Arch": {"name": "PPLCNet_x0_5", "class_num": 3}})
    assert cfg["Optimizer"]["name"] == "Momentum" and cfg["Global"]["image_shape"] == [3, 224, 224]
