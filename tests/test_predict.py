"""``edgeclas predict``: PaddleClas's line format, JSON lines, engines, and user errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from edgeclas.cli import cli
from edgeclas.errors import ConfigError, DataError, ModelError
from edgeclas.predict import Prediction, format_json, format_paddleclas, topk

LINE = re.compile(r"^(?P<name>.+):\tclass id\(s\): \[(?P<ids>[\d, ]+)\], score\(s\): \[(?P<scores>[\d., ]+)\], "
                  r"label_name\(s\): \[(?P<labels>.+)\]$")


def test_paddleclas_line_format_is_exact():
    p = Prediction("demo/cat.jpg", [1, 0], [0.98765, 0.01235], ["blurred", "clear"])
    assert format_paddleclas(p) == (
        "demo/cat.jpg:\tclass id(s): [1, 0], score(s): [0.99, 0.01], label_name(s): ['blurred', 'clear']"
    )
    assert json.loads(format_json(p)) == {"image": "demo/cat.jpg", "class_ids": [1, 0],
                                          "scores": [0.98765, 0.01235], "label_names": ["blurred", "clear"]}


def test_topk_is_best_first_and_stable_on_ties():
    probs = np.array([[0.1, 0.6, 0.3], [0.25, 0.5, 0.25]], np.float32)
    assert topk(probs, 2).tolist() == [[1, 2], [1, 0]]


def _run(*args: str):
    return CliRunner().invoke(cli, ["predict", *args])


def test_missing_images_path_is_a_data_error(tmp_path):
    from edgeclas.manifest import write_manifest
    from edgeclas.preprocess import PreprocessConfig

    write_manifest(tmp_path, "model", {"model": {"arch": "PPLCNet_x0_25", "class_num": 2, "input_size": [3, 64, 64]},
                                       "preprocess": PreprocessConfig(73, 64).to_dict(), "labels": ["a", "b"]})
    r = _run(str(tmp_path), "--images", str(tmp_path / "none.jpg"))
    assert r.exit_code == DataError.exit_code
    assert r.output == f"error: {tmp_path / 'none.jpg'}: no such file or directory\n"
    r = _run(str(tmp_path), "--images", "/dev/zero")  # a device file would be read forever
    assert r.exit_code == DataError.exit_code and "error: /dev/zero: not a regular file or a folder" in r.output


def test_not_a_model_dir_says_how_to_make_one(tmp_path):
    r = _run(str(tmp_path), "--images", str(tmp_path))
    assert r.exit_code == ModelError.exit_code
    assert "no manifest.json" in r.output and "edgeclas export CHECKPOINT --out MODEL_DIR" in r.output


@pytest.mark.integration
def test_folder_prediction_in_paddleclas_format(model_dir, sample_images):
    r = _run(str(model_dir), "--images", str(sample_images[0].parent), "--topk", "5", "--batch-size", "3")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert len(lines) == len(sample_images)
    for line, img in zip(lines, sorted(sample_images)):
        m = LINE.match(line)
        assert m, line
        assert m["name"] == str(img)
        ids = [int(x) for x in m["ids"].split(", ")]
        assert sorted(ids) == [0, 1]  # topk is clipped to class_num
        scores = [float(x) for x in m["scores"].split(", ")]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.integration
def test_json_lines_agree_across_engines_and_batch_sizes(model_dir, sample_images):
    outs = {}
    for engine, bs in (("paddle", "1"), ("onnxruntime", "4")):
        r = _run(str(model_dir), "-i", str(sample_images[0].parent), "-e", engine, "-b", bs, "-k", "1", "--json")
        assert r.exit_code == 0, r.output
        outs[engine] = [json.loads(line) for line in r.output.splitlines()]
    a, b = outs["paddle"], outs["onnxruntime"]
    assert [x["image"] for x in a] == [x["image"] for x in b] and len(a) == len(sample_images)
    for x, y in zip(a, b):
        assert len(x["scores"]) == 1 and 0.0 <= x["scores"][0] <= 1.0
        assert abs(x["scores"][0] - y["scores"][0]) <= 1e-4


@pytest.mark.integration
def test_bad_topk_and_unknown_engine_are_config_errors(model_dir, sample_images):
    r = _run(str(model_dir), "-i", str(sample_images[0]), "--topk", "0")
    assert r.exit_code == ConfigError.exit_code and "--topk" in r.output
    r = _run(str(model_dir), "-i", str(sample_images[0]), "--engine", "tflite")
    assert r.exit_code == ConfigError.exit_code and "unknown engine 'tflite'" in r.output


@pytest.mark.parametrize("argv", [
    ["predict", "M", "--images", "I", "--threads", "0"],
    ["verify", "M", "--threads", "-1"],
    ["serve", "M", "--threads", "0"],
    ["deploy", "--model", "M", "--images", "I", "--threads", "0"],
    ["bench", "--model", "M", "--threads", "1,0"],
])
def test_threads_below_one_are_refused_everywhere(argv):
    r = CliRunner().invoke(cli, argv)  # refused before the (missing) model or any device is looked at
    assert r.exit_code == ConfigError.exit_code, r.output
    assert "threads" in r.output and "Traceback" not in r.output
    assert "no manifest.json" not in r.output and "no such directory" not in r.output


def test_threads_below_one_are_refused_by_the_engines_api():
    from edgeclas import engines

    for bad in (0, -3, True, 1.5):
        with pytest.raises(ConfigError, match=r"threads .*: must be an integer >= 1"):
            engines.load("paddle", "/no/such/model", threads=bad)


@pytest.mark.integration
def test_names_that_are_not_utf8_give_valid_json_and_come_back_exactly(model_dir, sample_images, tmp_path):
    import base64
    import os
    import shutil

    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    shutil.copy(sample_images[0], os.fsdecode(raw))
    r = _run(str(model_dir), "--images", str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    line = json.loads(r.stdout_bytes.decode("utf-8"))  # strict UTF-8, one valid JSON object
    assert line["image"] == os.fsdecode(raw).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    assert line["image"].endswith("caf\\xe9.png") and base64.b64decode(line["image_raw"]) == raw
    r = _run(str(model_dir), "--images", str(tmp_path))
    assert r.exit_code == 0 and LINE.match(r.stdout_bytes.decode("utf-8").splitlines()[0])
    assert "caf\\xe9.png:\t" in r.output
    # a UTF-8 name has no image_raw
    shutil.copy(sample_images[0], tmp_path / "été.png")
    lines = [json.loads(x) for x in _run(str(model_dir), "--images", str(tmp_path / "été.png"), "--json").output.splitlines()]
    assert lines[0]["image"].endswith("été.png") and "image_raw" not in lines[0]
