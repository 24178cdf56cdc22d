"""Training: a few real steps at 64², checkpoint contract, resume, eval, and errors before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")

from edgeclas.errors import ConfigError, DataError  # noqa: E402
from edgeclas.manifest import check_files, read_manifest  # noqa: E402
from edgeclas.preprocess import PreprocessConfig  # noqa: E402
from edgeclas.train import evaluate, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "training" / "demo_clarity.yaml"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from edgeclas.data import sample

    return sample("clarity", tmp_path_factory.mktemp("data") / "clarity", num=40, seed=1).root


def _quick(dataset: Path, run: Path, *extra: str) -> list[str]:
    return [f"Global.dataset_dir={dataset}", f"Global.output_dir={run}", "Global.steps_per_epoch=2",
            "DataLoader.Train.sampler.batch_size=8", *extra]


def test_train_writes_the_checkpoint_contract_and_eval_reproduces_it(dataset: Path, tmp_path: Path):
    run = tmp_path / "run"
    r = train(RECIPE, _quick(dataset, run, "Global.epochs=2"))
    assert (r.latest, r.best) == (run / "latest", run / "best")
    m = read_manifest(r.best, "checkpoint")
    assert check_files(r.best, m) == []
    assert m["model"] == {"arch": "PPLCNet_x0_25", "class_num": 2, "input_size": [3, 64, 64],
                          "arch_kwargs": {"stride_list": [1, 2, 2, 2, 2], "bn_weight_init": 0.2}, "multilabel": False,
                          "head": "softmax"}
    assert PreprocessConfig.from_dict(m["preprocess"]) == PreprocessConfig(resize_short=73, crop_size=64)
    assert m["labels"] == ["clear", "blurred"]
    assert m["dataset"] == {"root": str(dataset.resolve()), "val_list": "val_list.txt"}
    assert set(m["files"]) == {"model.pdparams", "model.pdopt"}
    assert m["recipe"]["Arch"]["name"] == "PPLCNet_x0_25"
    assert 1 <= m["epoch"] <= 2 and read_manifest(r.latest, "checkpoint")["epoch"] == 2

    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert all(np.isfinite(x["train_loss"]) and 0 <= x["eval_top1"] <= 1 and x["images_per_sec"] > 0 for x in lines)
    assert all(0 <= x["train_top1"] <= 1 and np.isfinite(x["eval_loss"]) for x in lines)
    assert "eval_tpr@fpr=0.1" in lines[0]
    assert read_manifest(run, "run")["run"]["best_metrics"] == m["metrics"]

    # eval re-computes the stored metrics with the deployed preprocessing
    again = evaluate(r.best)
    assert again["images"] == 8
    assert again["top1"] == pytest.approx(m["metrics"]["top1"])
    assert again["tpr@fpr=0.1"] == pytest.approx(m["metrics"]["tpr@fpr=0.1"])
    assert again["loss"] == pytest.approx(m["metrics"]["loss"], rel=1e-5)


def test_resume_continues_from_latest_and_refuses_to_overwrite(dataset: Path, tmp_path: Path):
    run = tmp_path / "run"
    train(RECIPE, _quick(dataset, run, "Global.epochs=1"))
    with pytest.raises(ConfigError, match="already holds a run"):
        train(RECIPE, _quick(dataset, run, "Global.epochs=2"))
    r = train(RECIPE, _quick(dataset, run, "Global.epochs=2"), resume=True)
    assert r.epochs == 2
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert read_manifest(r.latest, "checkpoint")["epoch"] == 2

    # the same two epochs in one go give the same weights: resume restores weights, momentum and LR state
    straight = train(RECIPE, _quick(dataset, tmp_path / "straight", "Global.epochs=2"))
    import paddle

    a, b = paddle.load(str(r.latest / "model.pdparams")), paddle.load(str(straight.latest / "model.pdparams"))
    worst = max(float(np.abs(a[k].numpy() - b[k].numpy()).max()) for k in a)
    assert worst < 1e-4


def test_label_list_disagreeing_with_class_num_fails_before_training(dataset: Path, tmp_path: Path):
    with pytest.raises(DataError, match=r"label_list.txt: 2 labels but Arch.class_num = 3"):
        train(RECIPE, _quick(dataset, tmp_path / "run", "Arch.class_num=3"))
    assert not (tmp_path / "run").exists()


def test_pretrained_weights_with_other_class_count_start_training(dataset: Path, tmp_path: Path):
    import paddle

    from edgeclas.models import build_model

    src = build_model("PPLCNet_x0_25", 1000)
    paddle.save(src.state_dict(), str(tmp_path / "imagenet.pdparams"))
    r = train(RECIPE, _quick(dataset, tmp_path / "run", "Global.epochs=1",
                             f"Arch.pretrained={tmp_path / 'imagenet.pdparams'}", "Optimizer.lr.learning_rate=0.0",
                             "Optimizer.lr.warmup_epoch=0"))
    got = paddle.load(str(r.latest / "model.pdparams"))
    # lr 0: the backbone is exactly the pretrained one; the classifier was re-initialised to 2 classes
    np.testing.assert_array_equal(got["conv1.conv.weight"].numpy(), src.state_dict()["conv1.conv.weight"].numpy())
    assert list(got["fc.weight"].shape) == [1280, 2]


def _strict_lines(path: Path) -> list[dict]:
    """metrics.jsonl as strict JSON: a bare NaN/Infinity token fails the test."""
    return [json.loads(x, parse_constant=lambda c: pytest.fail(f"bare {c} in {path}"))
            for x in path.read_text().splitlines()]


def test_a_diverging_run_stops_with_a_clear_error_and_keeps_the_last_good_epoch(dataset: Path, tmp_path: Path):
    from edgeclas.errors import ValidationError

    run = tmp_path / "run"
    # from scratch: the first steps already explode, nothing is saved (no best/ from NaN)
    with pytest.raises(ValidationError, match=r"training diverged at epoch 1.*epoch 1 was not saved") as e:
        train(RECIPE, _quick(dataset, run, "Global.epochs=2", "Optimizer.lr.learning_rate=1e30"))
    assert "lower the learning rate (now 1e+30" in e.value.hint and "no checkpoint was written" in e.value.hint
    assert not (run / "best").exists() and not (run / "latest").exists()

    # a good epoch, then the same run resumed with a learning rate that diverges: latest/ and best/ stay epoch 1
    train(RECIPE, _quick(dataset, run, "Global.epochs=1"))
    best_before = (run / "best" / "model.pdparams").read_bytes()
    with pytest.raises(ValidationError, match="training diverged at epoch 2") as e:
        train(RECIPE, _quick(dataset, run, "Global.epochs=2", "Optimizer.lr.learning_rate=1e30"), resume=True)
    assert f"{run / 'latest'} still holds the last good epoch (1)" in e.value.hint
    assert read_manifest(run / "latest", "checkpoint")["epoch"] == 1
    assert check_files(run / "latest", read_manifest(run / "latest", "checkpoint")) == []
    assert (run / "best" / "model.pdparams").read_bytes() == best_before
    lines = _strict_lines(run / "metrics.jsonl")
    assert [x["epoch"] for x in lines] == [1] and all(np.isfinite(x["train_loss"]) for x in lines)


def test_an_empty_validation_list_trains_without_evaluating_and_says_so(dataset: Path, tmp_path: Path, caplog):
    import shutil

    data = Path(shutil.copytree(dataset, tmp_path / "data"))
    (data / "val_list.txt").write_text("")
    run = tmp_path / "run"
    with caplog.at_level("WARNING", logger="edgeclas.train.engine"):
        r = train(RECIPE, _quick(data, run, "Global.epochs=2"))
    assert "val_list.txt: no validation images: epochs are not evaluated and best/ is the last epoch" in caplog.text
    assert read_manifest(r.best, "checkpoint")["epoch"] == 2 and r.best_metrics == {}
    lines = _strict_lines(run / "metrics.jsonl")
    assert [x["epoch"] for x in lines] == [1, 2] and not any(k.startswith("eval_") for x in lines for k in x)


def test_a_one_class_recipe_trains_with_a_warning(dataset: Path, tmp_path: Path, caplog):
    import shutil

    from edgeclas.data import prepare

    src = tmp_path / "src" / "clear"
    src.mkdir(parents=True)
    for p in sorted((dataset / "images").rglob("*.png"))[:12]:
        shutil.copy(p, src / p.name)
    data = prepare(tmp_path / "src", tmp_path / "data", val_ratio=0.25).root
    with caplog.at_level("WARNING", logger="edgeclas.train.engine"):
        train(RECIPE, _quick(data, tmp_path / "run", "Global.epochs=1", "Arch.class_num=1"))
    assert "Arch.class_num is 1: a one-class classifier can only ever answer 'clear'" in caplog.text


def test_multilabel_training_reports_map_and_evaluates_the_same(tmp_path: Path):
    from edgeclas.data import sample

    data = sample("quality", tmp_path / "quality", num=40, seed=2)
    run = tmp_path / "run"
    r = train(ROOT / "training" / "multilabel_quality.yaml", _quick(data.root, run, "Global.epochs=2"))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= x["eval_mAP"] <= 1 and 0 <= x["eval_HammingDistance"] <= 1 for x in lines)
    assert all("train_AccuracyScore" in x for x in lines)
    best = read_manifest(r.best, "checkpoint")
    assert best["model"]["multilabel"] is True and best["model"]["head"] == "sigmoid"
    assert best["postprocess"] == {"name": "MultiLabelThreshOutput", "threshold": 0.5}
    assert best["metrics"]["mAP"] == max(x["eval_mAP"] for x in lines)  # mAP, the first metric, picks best
    again = evaluate(r.best)
    assert again["mAP"] == pytest.approx(best["metrics"]["mAP"]) and again["images"] == 8


def test_mixup_and_cutmix_train_on_soft_labels(tmp_path: Path, dataset: Path, caplog):
    ops = ("[{'OpSampler': {'MixupOperator': {'alpha': 0.8, 'prob': 0.5}, "
           "'CutmixOperator': {'alpha': 1.0, 'prob': 0.5}}}]")
    with caplog.at_level("WARNING"):
        r = train(RECIPE, _quick(dataset, tmp_path / "run", "Global.epochs=1",
                                 f"DataLoader.Train.dataset.batch_transform_ops={ops}"))
    rec = json.loads((r.run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert np.isfinite(rec["train_loss"]) and "train_top1" not in rec and "eval_top1" in rec
    assert "not computed with batch_transform_ops" in caplog.text


def test_pulc_clarity_recipe_trains_on_labels_made_by_blur(tmp_path: Path, dataset: Path, caplog):
    """PaddleClas's recipe as published (tests/data/pulc), paths pointed at the sample set; labels come
    from BlurImage (CustomLabelDataset, label_key blur_image). Smaller images and fewer steps keep it quick."""
    clear = [ln.split()[0] for ln in (dataset / "train_list.txt").read_text().splitlines() if ln.endswith(" 0")]
    (tmp_path / "clear.txt").write_text("\n".join(clear) + "\n")
    recipe = ROOT / "tests" / "data" / "pulc" / "clarity_assessment.yaml"
    with caplog.at_level("WARNING"):
        r = train(recipe, [
            f"DataLoader.Train.dataset.image_root={dataset}", f"DataLoader.Train.dataset.sample_list_path={tmp_path / 'clear.txt'}",
            f"DataLoader.Eval.dataset.image_root={dataset}", f"DataLoader.Eval.dataset.cls_label_path={dataset / 'val_list.txt'}",
            f"Global.output_dir={tmp_path / 'run'}", "Arch.pretrained=False",  # no network here
            "Global.image_shape=[3, 64, 64]", "DataLoader.Train.dataset.transform_ops.2.ResizeImage.size=64",
            "DataLoader.Eval.dataset.transform_ops.1.ResizeImage.resize_short=73",
            "DataLoader.Eval.dataset.transform_ops.2.CropImage.size=64", "Global.epochs=1", "Global.steps_per_epoch=2",
            "DataLoader.Train.sampler.batch_size=8"])
    rec = json.loads((r.run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert 0 <= rec["train_top1"] <= 1 and 0 <= rec["eval_top1"] <= 1
    assert "Global.device=gpu: this Paddle sees no GPU, training on the CPU" in caplog.text
    assert "Infer.transforms: differ from DataLoader.Eval's" in caplog.text
    m = read_manifest(r.best, "checkpoint")
    assert m["model"]["arch_kwargs"] == {"use_last_conv": False} and m["postprocess"] == {"name": "Topk", "topk": 1}


def test_labels_must_come_from_somewhere(tmp_path: Path, dataset: Path):
    (tmp_path / "list.txt").write_text("images/clear/00000.png\n")
    recipe = ROOT / "tests" / "data" / "pulc" / "clarity_assessment.yaml"
    with pytest.raises(ConfigError, match="label_key: 'blurry' is made by no op") as e:
        train(recipe, [f"DataLoader.Train.dataset.sample_list_path={tmp_path / 'list.txt'}",
                       "DataLoader.Train.dataset.label_key=blurry"])
    assert "blur_image (BlurImage)" in e.value.hint
