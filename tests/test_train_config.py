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
    ("Arch.pretrained=[1]", "Arch.pretrained: expected str or bool or null", None),
    ("Metric.Eval.5.TopkAcc.topk=[1]", "'5' is not an index", None),
    ("Loss.Train.0.CELos.epsilon=0.1", "unknown 'CELos'", "CELoss"),
    ("DataLoader.Train.dataset.transform_ops.1.RandCropImage.sise=64", "RandCropImage.sise: unknown argument", "size"),
    ("Optimizer.name=Adam", "Optimizer.name: 'Adam' is not supported", "Momentum"),
    ("DataLoader.Train.dataset.name=Multilabeldataset", "'Multilabeldataset' is not supported", "MultiLabelDataset"),
    ("DataLoader.Eval.dataset.name=CustomLabelDataset", "'CustomLabelDataset' is not supported", "ImageNetDataset"),
    ("DataLoader.Eval.loader.num_worker=4", "DataLoader.Eval.loader.num_worker: unknown key", "num_workers"),
    ("DataLoader.Train.dataset.transform_ops.1.RandomErasng={}", "unknown op 'RandomErasng'", "RandomErasing"),
    ("DataLoader.Train.dataset.batch_transform_ops=[{'MixupOperater': {'alpha': 0.2}}]",
     "unknown batch op 'MixupOperater'", "MixupOperator"),
    ("DataLoader.Train.dataset.batch_transform_ops=[{'CutmixOperator': {'alfa': 0.2}}]",
     "CutmixOperator.alfa: unknown argument", "alpha"),
    ("Metric.Eval.0=mAp", "each entry is a one-key mapping", None),
    ("Metric.Eval.0={'mAp': {}}", "unknown 'mAp'", "mAP"),
    ("Metric.Eval.0={'mAP': {}}", "mAP is a multi-label metric", "TopkAcc"),
    ("Loss.Train.0={'MultiLabelLoss': {}}", "MultiLabelLoss does not fit a single-label recipe", "CELoss"),
    ("Infer.PostProcess={'name': 'ThreshOutputs'}", "Infer.PostProcess.name: unknown 'ThreshOutputs'", "ThreshOutput"),
    ("Infer.PostProcess={'name': 'ThreshOutput', 'treshold': 0.5}", "not an argument of ThreshOutput", "threshold"),
    ("Infer.PostProcess={'name': 'ThreshOutput', 'threshold': 1.5}", "threshold must be a number in 0..1", None),
    ("Infer.PostProcess={'name': 'MultiLabelThreshOutput'}", "does not fit a single-label recipe", None),
    ("Global.checkpoints=runs/x/latest", "Global.checkpoints: edgeclas resumes", "--resume"),
    ("DataLoader.Train.dataset.transform_ops.3.NormalizeImage.scale=x", "expected a number or 'a/b'", None),
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


def test_ops_must_stand_on_the_right_side_of_normalize():
    with pytest.raises(ConfigError, match=r"transform_ops.4.RandomErasing: works on the normalised tensor"):
        load_config(ROOT / "training" / "demo_clarity.yaml", [
            "DataLoader.Train.dataset.transform_ops=[{'DecodeImage': {}}, {'RandCropImage': {'size': 64}}, "
            "{'RandFlipImage': {}}, {'ColorJitter': {'brightness': 0.2}}, {'RandomErasing': {}}, {'NormalizeImage': {}}]"])
    with pytest.raises(ConfigError, match=r"transform_ops.4.TimmAutoAugment: works on uint8 pixels"):
        load_config(ROOT / "training" / "demo_clarity.yaml", [
            "DataLoader.Train.dataset.transform_ops=[{'DecodeImage': {}}, {'RandCropImage': {'size': 64}}, "
            "{'RandFlipImage': {}}, {'NormalizeImage': {}}, {'TimmAutoAugment': {}}]"])


def test_multilabel_recipe_needs_multilabel_parts():
    cfg = load_config(ROOT / "training" / "multilabel_quality.yaml")
    assert cfg["Global"]["use_multilabel"] and cfg["Arch"]["class_num"] == 3
    with pytest.raises(ConfigError, match="TopkAcc is a single-label metric"):
        load_config(ROOT / "training" / "multilabel_quality.yaml", ["Metric.Eval.0={'TopkAcc': {'topk': [1]}}"])
    with pytest.raises(ConfigError, match="CELoss does not fit a multi-label recipe"):
        load_config(ROOT / "training" / "multilabel_quality.yaml", ["Loss.Eval.0={'CELoss': {}}"])
    with pytest.raises(ConfigError, match="a multi-label recipe reads MultiLabelDataset lists"):
        load_config(ROOT / "training" / "multilabel_quality.yaml", ["DataLoader.Eval.dataset.name=ImageNetDataset"])


# PaddleClas's PULC recipes as they are published (ppcls/configs/PULC/clarity_assessment/PPLCNet_x1_0.yaml and
# ppcls/configs/PULC/person_exists/PPLCNet_x1_0.yaml, PaddleClas develop): the keys and values are theirs,
# rewritten here as fixtures; only the dataset paths are changed when the test trains on them.
PULC_FIXTURES = {name: ROOT / "tests" / "data" / "pulc" / f"{name}.yaml" for name in ("clarity_assessment", "person_exists")}


@pytest.mark.parametrize("name", list(PULC_FIXTURES))
def test_paddleclas_pulc_recipes_load_unchanged(name: str):
    from edgeclas.train.config import ignored_settings

    cfg = load_config(PULC_FIXTURES[name])
    assert cfg["Arch"]["name"] == "PPLCNet_x1_0" and cfg["Arch"]["pretrained"] is True and cfg["Arch"]["use_ssld"]
    notes = ignored_settings(cfg)
    # what edgeclas does differently is printed, each with its reason
    assert any(n.startswith("DataLoader.Train.loader (num_workers=") for n in notes)
    assert any(n.startswith("Global.save_inference_dir=./inference: ignored") for n in notes)
    if name == "person_exists":
        ops = [next(iter(op)) for op in cfg["DataLoader"]["Train"]["dataset"]["transform_ops"]]
        assert ops[3:] == ["TimmAutoAugment", "NormalizeImage", "RandomErasing"]
        assert cfg["Infer"]["PostProcess"] == {"name": "ThreshOutput", "threshold": 0.9, "label_0": "nobody",
                                                 "label_1": "someone"}
        assert cfg["Arch"]["use_sync_bn"] is True  # honoured on GPUs, ignored with a warning elsewhere (train)
    else:
        assert cfg["DataLoader"]["Train"]["dataset"]["name"] == "CustomLabelDataset"
        assert cfg["DataLoader"]["Train"]["dataset"]["label_key"] == "blur_image"


def test_pulc_recipe_with_an_unknown_key_or_op_still_fails(tmp_path: Path):
    text = PULC_FIXTURES["person_exists"].read_text()
    bad = tmp_path / "r.yaml"
    bad.write_text(text.replace("use_sync_bn: True", "use_syncbn: True"))
    with pytest.raises(ConfigError, match="Arch.use_syncbn: not an option of PPLCNet_x1_0") as e:
        from edgeclas.train import train

        train(bad, [f"Global.output_dir={tmp_path / 'run'}"])
    assert "use_sync_bn" in (e.value.hint or "")
    bad.write_text(text.replace("- RandomErasing:", "- RandomErase:"))
    with pytest.raises(ConfigError, match="unknown op 'RandomErase'") as e:
        load_config(bad)
    assert "RandomErasing" in (e.value.hint or "")


def test_validate_fills_defaults():
    cfg = validate({"Arch": {"name": "PPLCNet_x0_5", "class_num": 3}})
    assert cfg["Optimizer"]["name"] == "Momentum" and cfg["Global"]["image_shape"] == [3, 224, 224]
