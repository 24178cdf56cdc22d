"""The thin CLI verbs over data and training: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeclas.cli import cli
from edgeclas.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]


def test_data_sample_and_prepare_cli(tmp_path: Path):
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install -e .[data])")
    runner = CliRunner()
    r = runner.invoke(cli, ["data", "sample", "--out", str(tmp_path / "s"), "--num", "8", "--seed", "2"])
    assert r.exit_code == 0, r.output
    assert "6 train + 2 val images, 2 classes (clear, blurred)" in r.output
    # the sample's class folders are a valid input for prepare
    r = runner.invoke(cli, ["data", "prepare", str(tmp_path / "s" / "images"), "--out", str(tmp_path / "p"),
                            "--val-ratio", "0.25"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "p" / "label_list.txt").read_text() == "0 blurred\n1 clear\n"  # sorted folder names


def test_cli_errors_are_one_line_with_exit_codes(tmp_path: Path):
    runner = CliRunner()
    r = runner.invoke(cli, ["data", "prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert r.exit_code == DataError.exit_code
    assert "error:" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["train", "-c", str(ROOT / "training" / "demo_clarity.yaml"), "-o", "Global.epoch=3"])
    assert r.exit_code == ConfigError.exit_code
    assert "Global.epoch: unknown key" in r.output and "did you mean 'epochs'" in r.output


def test_eval_cli_json(tmp_path: Path):
    pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
    from edgeclas.data import sample
    from edgeclas.train import train

    data = sample("clarity", tmp_path / "d", num=12, seed=0).root
    run = train(ROOT / "training" / "demo_clarity.yaml", [
        f"Global.dataset_dir={data}", f"Global.output_dir={tmp_path / 'r'}", "Global.epochs=1",
        "Global.steps_per_epoch=1", "DataLoader.Train.sampler.batch_size=4"])
    lst = tmp_path / "two.txt"
    lst.write_text("images/clear/00000.png 0\nimages/blurred/00001.png 1\n")
    r = CliRunner().invoke(cli, ["eval", str(run.best), "--list", str(lst), "--root", str(data), "--json"])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output.strip().splitlines()[-1])
    assert metrics["images"] == 2 and metrics["top1"] in (0.0, 0.5, 1.0)
    assert np.isfinite(metrics["tpr@fpr=0.1"])


def test_train_cli_reports_pretrained_mismatch(tmp_path: Path):
    paddle = pytest.importorskip("paddle", reason="paddlepaddle not installed (pip install -e .[paddle])")
    from edgeclas.data import sample
    from edgeclas.models import build_model

    data = sample("clarity", tmp_path / "d", num=12, seed=0).root
    paddle.save(build_model("PPLCNet_x0_25", 1000).state_dict(), str(tmp_path / "in1k.pdparams"))
    r = CliRunner().invoke(cli, [
        "train", "-c", str(ROOT / "training" / "demo_clarity.yaml"), "--pretrained", str(tmp_path / "in1k.pdparams"),
        "-o", f"Global.dataset_dir={data}", "-o", f"Global.output_dir={tmp_path / 'r'}", "-o", "Global.epochs=1",
        "-o", "Global.steps_per_epoch=1", "-o", "DataLoader.Train.sampler.batch_size=4"])
    assert r.exit_code == 0, r.output
    assert "shape mismatch fc.weight: model [1280, 2], file [1280, 1000]  (classifier re-initialised)" in r.output
    assert "trained 1 epoch at" in r.output and "best:" in r.output
