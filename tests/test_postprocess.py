"""How scores become answers (PaddleClas's Infer.PostProcess): Topk, a binary ThreshOutput threshold chosen
at export, multi-label MultiLabelThreshOutput; the same answers from predict, verify, clas_system (host and
ARM under qemu) and the deploy config."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeclas.errors import ConfigError
from edgeclas.export import resolve_postprocess
from edgeclas.model_dir import PostProcess
from edgeclas.parsers.clas_system import parse_clas_system
from edgeclas.predict import postprocess

ROOT = Path(__file__).resolve().parents[1]
LABELS3 = ["blurred", "noisy", "dark"]


def test_postprocess_kinds_hand_checked():
    probs = np.array([[0.2, 0.8], [0.75, 0.25]], np.float32)
    a, b = postprocess(probs, ["a", "b"], ["nobody", "someone"], 1, threshold=0.9, kind="ThreshOutput")
    # score1 0.8 < 0.9: class 0 with 1 - 0.8; score1 0.25 < 0.9: class 0 with 0.75
    assert (a.class_ids, a.scores, a.label_names) == ([0], [0.2], ["nobody"])
    assert (b.class_ids, b.scores) == ([0], [0.75])
    a, _ = postprocess(probs, ["a", "b"], ["nobody", "someone"], 1, threshold=0.8, kind="ThreshOutput")
    assert (a.class_ids, a.scores) == ([1], [0.8])  # at the threshold counts as positive
    multi = np.array([[0.9, 0.2, 0.5], [0.1, 0.3, 0.4]], np.float32)
    a, b = postprocess(multi, ["a", "b"], LABELS3, 1, kind="MultiLabelThreshOutput")  # threshold unset: 0.5
    assert (a.class_ids, a.label_names, a.scores) == ([0, 2], ["blurred", "dark"], [0.9, 0.5])
    assert (b.class_ids, b.scores, b.label_names) == ([], [], [])
    a, _ = postprocess(multi, ["a", "b"], LABELS3, 1, threshold=0.15, kind="MultiLabelThreshOutput")
    assert a.class_ids == [0, 1, 2]  # label order, not score order
    with pytest.raises(ConfigError, match="needs a 2-class model"):
        postprocess(multi, ["a", "b"], LABELS3, 1, kind="ThreshOutput")


def _ckpt(**over):
    m = {"model": {"class_num": 2, "multilabel": False}, "metrics": {"top1": 0.9, "tpr@fpr=0.01": 0.8,
                                                                      "threshold@fpr=0.01": 0.6}}
    m.update(over)
    return m


def test_export_threshold_choices():
    assert resolve_postprocess(_ckpt()) == (PostProcess("Topk", 5, None), "default")
    assert resolve_postprocess(_ckpt(postprocess={"name": "ThreshOutput", "threshold": 0.9})) == (
        PostProcess("ThreshOutput", 5, 0.9), "recipe")
    post, src = resolve_postprocess(_ckpt(), "auto")
    # TprAtFpr: positive when score > 0.6; ThreshOutput: when score >= threshold → the next float32 above 0.6
    assert post.name == "ThreshOutput" and post.threshold == float(np.nextafter(np.float32(0.6), np.float32(1)))
    assert np.float32(0.6) < np.float32(post.threshold) and src == "auto: fpr=0.01 of the checkpoint"
    assert resolve_postprocess(_ckpt(), "0.7")[0] == PostProcess("ThreshOutput", 5, 0.7)
    multi = _ckpt(model={"class_num": 3, "multilabel": True})
    assert resolve_postprocess(multi)[0] == PostProcess("MultiLabelThreshOutput", 5, None)
    assert resolve_postprocess(multi, 0.3)[0] == PostProcess("MultiLabelThreshOutput", 5, 0.3)
    with pytest.raises(ConfigError, match="binary models only"):
        resolve_postprocess(multi, "auto")
    with pytest.raises(ConfigError, match="no TPR-at-FPR measurement") as e:
        resolve_postprocess(_ckpt(metrics={"top1": 0.9}), "auto")
    assert "TprAtFpr" in e.value.hint
    with pytest.raises(ConfigError, match="between 0 and 1"):
        resolve_postprocess(_ckpt(), "1.5")
    with pytest.raises(ConfigError, match="expected 'auto' or a number"):
        resolve_postprocess(_ckpt(), "high")


def test_parser_reads_decided_classes():
    line = {"type": "image", "image": "images/a.png", "topk": [{"class_id": 0, "label": "blurred", "score": 0.9}],
            "classes": [], "probs": [0.9, 0.1, 0.2], "timing_ms": {}}
    summary = {"type": "summary", "engine": "onnxruntime", "latency_ms": {"samples": [1.0]}}
    out = parse_clas_system(json.dumps(line) + "\n" + json.dumps(summary) + "\n")
    assert out.images[0].classes == [] and out.images[0].answer == []
    text = ("===clas result for image: images/a.png===\n\tno class at or above the threshold\n"
            "===clas result for image: images/b.png===\n\tTop-1, class_id: 2, class_name: dark, score: 0.7\n")
    out = parse_clas_system(text)
    assert out.images[0].answer == [] and [t.class_id for t in out.images[1].answer] == [2]


def test_deploy_config_carries_the_post_processing():
    from edgeclas.deploy import RunSettings, render_config
    from edgeclas.preprocess import PreprocessConfig

    text = render_config("model/m.onnx", "labels.txt", PreprocessConfig(73, 64), "onnxruntime", RunSettings(),
                         PostProcess("MultiLabelThreshOutput", 5, 0.4))
    assert "postprocess MultiLabelThreshOutput\n" in text and "threshold 0.4\n" in text
    text = render_config("model/m.onnx", "labels.txt", PreprocessConfig(73, 64), "onnxruntime",
                         RunSettings(threshold=0.25), PostProcess("ThreshOutput", 5, 0.9))
    assert "postprocess ThreshOutput\n" in text and "threshold 0.25\n" in text  # --threshold wins
    assert "threshold" not in render_config("m.onnx", "l.txt", PreprocessConfig(), "onnxruntime", RunSettings())
    with pytest.raises(ConfigError, match="threshold=2"):
        RunSettings(threshold=2).validate()


# --- end to end ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def multilabel_model(tmp_path_factory):
    """A briefly trained multi-label quality model, exported (sigmoid head) and converted to ONNX."""
    pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")
    from edgeclas.data import sample
    from edgeclas.export import export
    from edgeclas.onnx_convert import convert_onnx
    from edgeclas.train import train

    work = tmp_path_factory.mktemp("ml")
    data = sample("quality", work / "data", num=48, seed=0)
    run = train(ROOT / "training" / "multilabel_quality.yaml", [
        f"Global.dataset_dir={data.root}", f"Global.output_dir={work / 'run'}", "Global.epochs=2",
        "Global.steps_per_epoch=2", "DataLoader.Train.sampler.batch_size=8"])
    model = export(run.best, work / "model", name="quality")
    convert_onnx(model)
    return model, data


def _gap_threshold(probs: np.ndarray) -> float:
    """A threshold in the widest gap between two of the model's scores: some labels fall on each side, and
    none sits on the edge, where engines that differ by ~1e-6 could decide it differently (a barely trained
    model scores everything near 0.5)."""
    s = np.unique(probs.ravel())
    i = int(np.argmax(np.diff(s)))
    assert s[i + 1] - s[i] > 1e-4, "the scores are too close together to compare decisions"
    return float((s[i] + s[i + 1]) / 2)


@pytest.mark.integration
def test_multilabel_answers_agree_on_host_engines_and_clas_system(multilabel_model, host_build, armv8_linux_build,
                                                                  tmp_path):
    from edgeclas.engines import load
    from edgeclas.model_dir import ModelDir
    from edgeclas.predict import predict
    from edgeclas.preprocess import load_batch
    from edgeclas.verify import verify

    from fixtures_build import clas_config

    model_dir, data = multilabel_model
    model = ModelDir.load(model_dir)
    m = json.loads((model_dir / "manifest.json").read_text())
    assert m["model"]["head"] == "sigmoid" and m["postprocess"]["name"] == "MultiLabelThreshOutput"
    images = sorted((data.root / "images").glob("*.png"))[:12]
    probs = load("paddle", model)(load_batch(images, model.preprocess))
    assert probs.shape == (12, 3) and ((probs > 0) & (probs < 1)).all()
    assert not np.allclose(probs.sum(axis=1), 1.0)  # independent sigmoids, not a softmax
    thr = _gap_threshold(probs)
    host = {Path(p.image).name: p.class_ids for p in predict(model_dir, images, threshold=thr)}
    want = {p.name: [int(i) for i in np.flatnonzero(row >= thr)] for p, row in zip(images, probs)}
    assert host == want and any(host.values())
    report = verify(model_dir, images, threshold=thr)
    assert report.passed and all(c.top1_agreement == 1.0 for c in report.checks if c.status == "ok")

    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in images:
        (folder / p.name).write_bytes(p.read_bytes())
    for build in (host_build, armv8_linux_build):
        d = tmp_path / build.manifest["target"]["arch"]
        d.mkdir()
        cfg = clas_config(d, model_dir / m["formats"]["onnx"]["file"], model.labels_file, m["preprocess"],
                          multilabel=1, threshold=repr(thr))
        r = subprocess.run(build.command(cfg, folder), capture_output=True, text=True, env=build.env(), timeout=600)
        assert r.returncode == 0, r.stderr
        rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")][:-1]
        got = {Path(d["image"]).name: [c["class_id"] for c in d["classes"]] for d in rows}
        assert got == host, build.manifest["target"]
        names = {Path(d["image"]).name: [c["label"] for c in d["classes"]] for d in rows}
        assert all(n == [LABELS3[i] for i in host[k]] for k, n in names.items())


@pytest.mark.integration
def test_binary_threshold_chosen_at_export_is_applied_everywhere(host_build, tmp_path):
    """eval reports TPR at the recipe's FPR and its threshold; export --threshold auto records it; predict and
    clas_system (through deploy's config) answer with PaddleClas's ThreshOutput rule."""
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")
    from click.testing import CliRunner

    from edgeclas.cli import cli
    from edgeclas.data import sample
    from edgeclas.deploy import RunSettings, render_config
    from edgeclas.engines import load
    from edgeclas.model_dir import ModelDir
    from edgeclas.onnx_convert import convert_onnx
    from edgeclas.preprocess import load_batch
    from edgeclas.train import train

    data = sample("clarity", tmp_path / "data", num=40, seed=9)
    run = train(ROOT / "training" / "demo_clarity.yaml", [
        f"Global.dataset_dir={data.root}", f"Global.output_dir={tmp_path / 'run'}", "Global.epochs=1",
        "DataLoader.Train.sampler.batch_size=8", "Global.steps_per_epoch=2"])
    r = CliRunner().invoke(cli, ["eval", str(run.best)])
    assert r.exit_code == 0 and "at FPR ≤ 0.1" in r.output and "--threshold auto" in r.output
    r = CliRunner().invoke(cli, ["export", str(run.best), "--out", str(tmp_path / "model"), "--threshold", "auto"])
    assert r.exit_code == 0, r.output
    model = ModelDir.load(tmp_path / "model")
    measured = json.loads((run.best / "manifest.json").read_text())["metrics"]["threshold@fpr=0.1"]
    assert model.postprocess.name == "ThreshOutput"
    assert np.float32(model.postprocess.threshold) == np.nextafter(np.float32(measured), np.float32(1))
    assert f"post-processing ThreshOutput, threshold {model.postprocess.threshold:.6g}" in r.output
    convert_onnx(model.path)
    model = ModelDir.load(tmp_path / "model")

    images = sorted((data.root / "images").rglob("*.png"))[:10]
    p1 = load("paddle", model)(load_batch(images, model.preprocess))[:, 1]
    thr = model.postprocess.threshold
    want = [1 if s >= thr else 0 for s in p1]
    r = CliRunner().invoke(cli, ["predict", str(model.path), "--images", str(images[0].parent.parent), "--json"])
    got = {Path(x["image"]).name: x["class_ids"] for x in map(json.loads, r.output.splitlines())}
    assert [got[p.name] for p in images] == [[w] for w in want]

    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in images:
        (folder / p.name).write_bytes(p.read_bytes())
    cfg = tmp_path / "config.txt"
    cfg.write_text(render_config(str(model.onnx_file), str(model.labels_file), model.preprocess, "onnxruntime",
                                 RunSettings(warmup=0, repeats=1), model.postprocess).replace("output json", "output text"))
    out = subprocess.run(host_build.command(cfg, folder), capture_output=True, text=True, env=host_build.env(), timeout=300)
    assert out.returncode == 0, out.stderr
    assert "postprocess ThreshOutput" in out.stdout  # the settings in effect, printed first
    parsed = {Path(i.image).name: [t.class_id for t in i.answer] for i in parse_clas_system(out.stdout).images}
    assert [parsed[p.name] for p in images] == [[w] for w in want]
