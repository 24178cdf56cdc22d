"""Distillation: the four losses against their formulas, unlabelled images in the teacher–student loss only,
the recipe checks (class counts, model names), a frozen teacher, and export of the student alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")

from edgeclas.errors import ConfigError, DataError  # noqa: E402
from edgeclas.train.config import load_config  # noqa: E402
from edgeclas.train.distill import build_distill_loss  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "training" / "demo_clarity.yaml"
DISTILL = ["Arch.name=DistillationModel", "Arch.freeze_params_list=[True, False]", "Arch.infer_model_name=Student",
           "Arch.models=[{'Teacher': {'name': 'ResNet18_vd'}}, {'Student': {'name': 'PPLCNet_x0_25'}}]",
           "Loss.Train=[{'DistillationDMLLoss': {'model_name_pairs': [['Student', 'Teacher']]}}, "
           "{'DistillationGTCELoss': {'model_names': ['Student']}}]"]


def _softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    e = np.exp((z - z.max(axis=1, keepdims=True)) / t)
    return e / e.sum(axis=1, keepdims=True)


def _loss(entry: dict, s: np.ndarray, t: np.ndarray, labels) -> float:
    fn = build_distill_loss([entry], s.shape[1])
    out = {"Student": paddle.to_tensor(s), "Teacher": paddle.to_tensor(t)}
    return float(fn(out, paddle.to_tensor(np.asarray(labels, dtype=np.int64))))


RNG = np.random.default_rng(0)
S, T = RNG.standard_normal((4, 3)).astype(np.float32), RNG.standard_normal((4, 3)).astype(np.float32)
Y = [2, -1, 0, -1]  # two images without a label


def test_gt_ce_averages_over_the_labelled_images_only():
    ps = _softmax(S)
    want = -np.mean([np.log(ps[0, 2]), np.log(ps[2, 0])])
    got = _loss({"DistillationGTCELoss": {"model_names": ["Student"]}}, S, T, Y)
    assert got == pytest.approx(want, rel=1e-5)
    smooth = _loss({"DistillationGTCELoss": {"model_names": ["Student"], "epsilon": 0.1}}, S, T, Y)
    soft = np.full((2, 3), 0.1 / 3) + 0.9 * np.eye(3)[[2, 0]]
    assert smooth == pytest.approx(np.mean(-(soft * np.log(ps[[0, 2]])).sum(1)), rel=1e-5)
    assert _loss({"DistillationGTCELoss": {"model_names": ["Student"]}}, S, T, [-1] * 4) == 0.0


def test_ce_dml_and_kl_follow_paddleclas_formulas_on_every_image():
    ps, pt = _softmax(S), _softmax(T)
    ce = _loss({"DistillationCELoss": {"model_name_pairs": [["Student", "Teacher"]]}}, S, T, Y)
    assert ce == pytest.approx(np.mean(-(pt * np.log(ps)).sum(1)), rel=1e-5)
    # DML: PaddleClas's (KL(s,t) + KL(t,s)) / 2 per element, × class count, averaged over all elements
    eps = 1e-12
    kl = lambda x, t: t * np.log((t + eps) / (x + eps)) * 3  # noqa: E731
    dml = _loss({"DistillationDMLLoss": {"model_name_pairs": [["Student", "Teacher"]]}}, S, T, Y)
    assert dml == pytest.approx(np.mean((kl(ps, pt) + kl(pt, ps)) / 2), rel=1e-5)
    summed = _loss({"DistillationDMLLoss": {"model_name_pairs": [["Student", "Teacher"]],
                                            "sum_across_class_dim": True}}, S, T, Y)
    assert summed == pytest.approx(np.mean(((kl(ps, pt) + kl(pt, ps)) / 2).sum(1)), rel=1e-5)
    # KL at temperature T: sum KL(teacher || student) / N × T²
    ps4, pt4 = _softmax(S, 4.0), _softmax(T, 4.0)
    kd = _loss({"DistillationKLDivLoss": {"model_name_pairs": [["Student", "Teacher"]]}}, S, T, Y)
    assert kd == pytest.approx((pt4 * (np.log(pt4) - np.log(ps4))).sum() / 4 * 16, rel=1e-4)
    weighted = _loss({"DistillationKLDivLoss": {"model_name_pairs": [["Student", "Teacher"]], "weight": 0.5,
                                                "temperature": 2.0}}, S, T, Y)
    ps2, pt2 = _softmax(S, 2.0), _softmax(T, 2.0)
    assert weighted == pytest.approx(0.5 * (pt2 * (np.log(pt2) - np.log(ps2))).sum() / 4 * 4, rel=1e-4)


def test_unlabelled_images_move_only_the_teacher_student_loss():
    def grads(entry):
        s = paddle.to_tensor(S, stop_gradient=False)
        t = paddle.to_tensor(T)
        loss = build_distill_loss([entry], 3)({"Student": s, "Teacher": t}, paddle.to_tensor(np.array(Y)))
        loss.backward()
        return np.abs(s.grad.numpy()).sum(1)

    gt = grads({"DistillationGTCELoss": {"model_names": ["Student"]}})
    assert gt[1] == 0 and gt[3] == 0 and gt[0] > 0 and gt[2] > 0
    assert (grads({"DistillationDMLLoss": {"model_name_pairs": [["Student", "Teacher"]]}}) > 0).all()


@pytest.mark.parametrize("extra, message, hint", [
    (["Arch.models.1.Student.class_num=3"], "Arch.models.1.Student.class_num: 3 classes, but Arch.class_num is 2",
     "teacher and student must classify the same classes"),
    (["Arch.infer_model_name=Studnet"], "'Studnet' is not one of the models", "did you mean 'Student'"),
    (["Loss.Train=[{'DistillationDMLLoss': {'model_name_pairs': [['Student', 'Teahcer']]}}]"],
     "'Teahcer' is not one of Arch.models", "did you mean 'Teacher'"),
    (["Loss.Train=[{'CELoss': {}}]"], "CELoss takes one network's output", "DistillationGTCELoss"),
    (["Arch.freeze_params_list=[True, True]"], "every model is frozen", None),
    (["Arch.freeze_params_list=[True]"], "expected a list of 2 values", None),
    (["Loss.Train=[{'DistillationKLDivLoss': {'model_name_pairs': [['Student', 'Teacher']], 'temprature': 2}}]"],
     "unknown argument", "temperature"),
    (["Loss.Eval=[{'DistillationCELoss': {'model_name_pairs': [['Student', 'Teacher']]}}]"],
     "evaluation scores the Student alone", "CELoss"),
])
def test_distillation_recipe_mistakes_are_named(extra, message, hint):
    with pytest.raises(ConfigError) as e:
        load_config(RECIPE, DISTILL + extra)
    assert message in e.value.message
    if hint:
        assert hint in e.value.hint


def test_distillation_losses_need_a_distillation_model():
    with pytest.raises(ConfigError, match="compares the models of a DistillationModel"):
        load_config(RECIPE, ["Loss.Train=[{'DistillationDMLLoss': {'model_name_pairs': [['Student', 'Teacher']]}}]"])


def test_unlabelled_lines_only_in_a_distillation_list(tmp_path: Path):
    from edgeclas.data import read_list

    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b c.png").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("a.png 1\na.png\nb c.png\n")
    items = read_list(tmp_path / "list.txt", tmp_path, 2, unlabelled=True)
    assert [i.label for i in items] == [1, -1, -1]
    with pytest.raises(DataError, match=r"list.txt:2: expected 'relative/path label'") as e:
        read_list(tmp_path / "list.txt", tmp_path, 2)
    assert "distillation list" in e.value.hint


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    """The demo recipe without its PP-LCNet-only Arch options (stride_list, bn_weight_init): a DistillationModel
    takes its members' options under Arch.models, and refuses them beside its own name."""
    import yaml

    cfg = yaml.safe_load(RECIPE.read_text())
    for key in ("stride_list", "bn_weight_init"):
        cfg["Arch"].pop(key, None)
    path = tmp_path_factory.mktemp("recipe") / "distill_base.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")
    from edgeclas.data import sample

    return sample("clarity", tmp_path_factory.mktemp("data") / "clarity", num=40, seed=1, unlabelled=16).root


def test_unlabelled_images_come_in_the_distillation_list_and_change_nothing_else(dataset: Path, tmp_path: Path):
    from edgeclas.data import sample

    plain = sample("clarity", tmp_path / "plain", num=40, seed=1).root
    assert (plain / "train_list.txt").read_bytes() == (dataset / "train_list.txt").read_bytes()
    assert not (plain / "train_list_for_distill.txt").exists()
    lines = (dataset / "train_list_for_distill.txt").read_text().splitlines()
    assert lines[:32] == (dataset / "train_list.txt").read_text().splitlines()
    assert len(lines) == 48 and all(len(x.split()) == 1 for x in lines[32:])
    assert json.loads((dataset / "manifest.json").read_text())["dataset"]["unlabelled"] == 16


def test_a_teacher_for_other_classes_is_refused(recipe: Path, dataset: Path, tmp_path: Path):
    from edgeclas.models import build_model
    from edgeclas.train import train

    paddle.save(build_model("ResNet18_vd", 1000).state_dict(), str(tmp_path / "imagenet.pdparams"))
    with pytest.raises(ConfigError) as e:
        train(recipe, DISTILL + [f"Global.dataset_dir={dataset}", f"Global.output_dir={tmp_path / 'run'}",
                                 f"Arch.models.0.Teacher.pretrained={tmp_path / 'imagenet.pdparams'}"])
    assert "imagenet.pdparams classifies 1000 classes, the distillation 2" in e.value.message
    assert "train it first" in e.value.hint


def _state(path: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in paddle.load(str(path)).items()}


@pytest.mark.integration
def test_distillation_trains_the_student_keeps_the_teacher_and_exports_the_student(recipe: Path, dataset: Path,
                                                                                   tmp_path: Path):
    from edgeclas.export import export
    from edgeclas.manifest import read_manifest
    from edgeclas.models import build_model
    from edgeclas.train import train
    from edgeclas.train.checkpoint import load_model

    paddle.seed(3)
    teacher = build_model("ResNet18_vd", 2)
    paddle.save(teacher.state_dict(), str(tmp_path / "teacher.pdparams"))
    run = tmp_path / "run"
    r = train(recipe, DISTILL + [f"Global.dataset_dir={dataset}", f"Global.output_dir={run}", "Global.epochs=2",
                                 "Global.steps_per_epoch=3", "DataLoader.Train.sampler.batch_size=8",
                                 f"Arch.models.0.Teacher.pretrained={tmp_path / 'teacher.pdparams'}"])
    state = _state(r.latest / "model.pdparams")
    loaded = _state(tmp_path / "teacher.pdparams")
    # checkpoints keep both models; the frozen teacher's weights are the loaded ones, its BN statistics
    # follow the batches (train mode, as PaddleClas's SSLD teacher)
    assert {k.split(".")[0] for k in state} == {"Teacher", "Student"}
    for k, v in loaded.items():
        if "_mean" in k or "_variance" in k:
            continue
        np.testing.assert_array_equal(state[f"Teacher.{k}"], v, err_msg=k)
    assert not np.array_equal(state["Teacher.stem.0.bn._mean"], loaded["stem.0.bn._mean"])
    assert state["Student.fc.bias"].any()  # the student trained (its classifier bias starts at zero)

    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2] and all(0 <= x["train_top1"] <= 1 for x in lines)

    # eval and export see the student alone
    student, manifest = load_model(r.best)
    assert manifest["model"]["arch"] == "DistillationModel"
    assert set(student.state_dict()) == set(build_model("PPLCNet_x0_25", 2).state_dict())
    model_dir = export(r.best, tmp_path / "model")
    m = read_manifest(model_dir, "model")
    assert (m["model"]["arch"], m["model"]["class_num"], m["model"]["arch_kwargs"]) == ("PPLCNet_x0_25", 2, {})
    assert m["distillation"] == {"infer_model_name": "Student", "models": {"Teacher": "ResNet18_vd",
                                                                           "Student": "PPLCNet_x0_25"}}
    from edgeclas.engines import load

    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    want = paddle.nn.functional.softmax(student(paddle.to_tensor(x)), axis=-1).numpy()
    got = load("paddle", model_dir)(x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    size = (model_dir / "pir" / "inference.pdiparams").stat().st_size
    assert size < 2_000_000  # PP-LCNet x0.25's weights, not ResNet18's (45 MB)


def test_single_model_options_beside_a_distillation_model_say_where_they_go(dataset: Path, tmp_path: Path):
    from edgeclas.train import train

    with pytest.raises(ConfigError) as e:  # the demo recipe carries PP-LCNet's stride_list at Arch level
        train(RECIPE, DISTILL + [f"Global.dataset_dir={dataset}", f"Global.output_dir={tmp_path / 'run'}"])
    assert e.value.message == "Arch.stride_list: not an option of DistillationModel"
    assert "Arch.models.N.<Name>.stride_list" in e.value.hint
    assert not (tmp_path / "run").exists()
