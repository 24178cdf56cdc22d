"""The skeleton every stage uses: atomic writes, manifests, the error → exit-code path, preprocessing maths."""

from __future__ import annotations

import json
import os

import click
import numpy as np
import pytest
from click.testing import CliRunner

from edgeclas.cli._app import cli, handle_errors, parse_csv
from edgeclas.errors import ConfigError, DataError, EdgeclasError, ModelError
from edgeclas.fsutil import append_jsonl, atomic_write_json, json_text, read_yaml, sha256_file, staging_dir
from edgeclas.manifest import check_files, read_manifest, update_manifest, verify_file, write_manifest
from edgeclas.preprocess import PreprocessConfig, center_crop, preprocess, resize_short_size


def test_staging_dir_publishes_only_on_success(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staging_dir(target) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no staging leftovers

    with staging_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with staging_dir(target) as tmp:  # replaces the previous version whole
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    atomic_write_json(tmp_path / "m.json", {"a": 2})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_append_jsonl_one_line_per_object(tmp_path):
    path = tmp_path / "r.jsonl"
    for i in range(3):
        append_jsonl(path, {"i": i, "s": "ü\n"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["i"] for x in lines] == [0, 1, 2]


def test_json_files_are_strict_and_keep_non_utf8_names(tmp_path):
    name = os.fsdecode(b"x\xff1.png")  # what os.listdir gives for a file name that is not UTF-8
    obj = {"loss": float("nan"), "inf": [float("inf"), -float("inf"), 1.5], "image": name, "ok": "ü"}
    text = json_text(obj)
    assert "NaN" not in text and "Infinity" not in text and "\\udcff" in text and "ü" in text
    back = json.loads(text)
    assert back == {"loss": None, "inf": [None, None, 1.5], "image": name, "ok": "ü"}
    assert os.fsencode(back["image"]) == b"x\xff1.png"
    append_jsonl(tmp_path / "m.jsonl", obj)
    atomic_write_json(tmp_path / "m.json", obj)
    for f in ("m.jsonl", "m.json"):
        raw = (tmp_path / f).read_bytes()
        raw.decode("utf-8")  # valid UTF-8 text
        assert json.loads(raw, parse_constant=lambda c: pytest.fail(f"bare {c} token")) == back


def test_read_yaml_names_the_file_for_binary_and_broken_input(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=r"bin.yaml: not a text file \(byte 128 is not UTF-8\); a recipe is YAML") as e:
        read_yaml(tmp_path / "bin.yaml", "recipe")
    assert "not a binary" in e.value.hint
    (tmp_path / "nul.yaml").write_bytes(b"a: 1\n\x00\x01\n")  # UTF-8, but not characters YAML accepts
    with pytest.raises(ConfigError, match=r"nul.yaml(:\d+)?: not valid YAML"):
        read_yaml(tmp_path / "nul.yaml", "recipe")
    with pytest.raises(ConfigError, match="not a regular file; a pipeline is a YAML file"):
        read_yaml(tmp_path, "pipeline")  # a directory
    with pytest.raises(ConfigError, match="/dev/zero: not a regular file"):
        read_yaml("/dev/zero", "pipeline")  # would be read forever
    with pytest.raises(ConfigError, match="cannot read the recipe"):
        read_yaml(tmp_path / "missing.yaml", "recipe")
    assert read_yaml(_write(tmp_path / "ok.yaml", "a: [1, 2]\n"), "recipe") == {"a": [1, 2]}


def _write(path, text):
    path.write_text(text)
    return path


def test_manifest_round_trip_and_tamper_detection(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\x00" * 10)
    m = write_manifest(tmp_path, "model", {"model": {"arch": "X"}}, files=["w.bin"])
    assert m["files"]["w.bin"] == sha256_file(tmp_path / "w.bin")
    assert read_manifest(tmp_path, "model")["model"] == {"arch": "X"}
    assert check_files(tmp_path, m) == [] and m["sizes"] == {"w.bin": 10}
    (tmp_path / "w.bin").write_bytes(b"\x00" * 9 + b"\x01")  # same size, one byte flipped
    assert check_files(tmp_path, m) == [f"{tmp_path / 'w.bin'}: changed since the manifest was written (sha256 differs)"]
    (tmp_path / "w.bin").write_bytes(b"\x00" * 4)
    assert check_files(tmp_path, m) == [f"{tmp_path / 'w.bin'}: truncated: 4 bytes, the manifest says 10"]
    with pytest.raises(ModelError, match=r"w.bin: truncated: 4 bytes, the manifest says 10") as e:
        verify_file(tmp_path, m, "w.bin", remake="make it again")
    assert e.value.hint == "make it again; or pass --no-verify to use it as it is"
    with pytest.raises(ModelError, match="other.bin: not listed in manifest.json's files"):
        verify_file(tmp_path, m, "other.bin", remake="x")
    os.unlink(tmp_path / "w.bin")
    assert any("missing" in p for p in check_files(tmp_path, m))


def test_update_manifest_hashes_only_what_it_adds(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"a" * 3)
    write_manifest(tmp_path, "model", {"formats": {}}, files=["a.bin"])
    (tmp_path / "a.bin").write_bytes(b"A" * 3)  # changed behind the manifest's back
    (tmp_path / "b.bin").write_bytes(b"b" * 5)

    def add(m):
        m["formats"]["b"] = {"file": "b.bin"}
        return ["b.bin"]

    m = update_manifest(tmp_path, "model", add)
    assert m["formats"] == {"b": {"file": "b.bin"}} and m["sizes"] == {"a.bin": 3, "b.bin": 5}
    assert read_manifest(tmp_path, "model") == m
    # the change to a.bin is still detected: the update did not bless it
    assert check_files(tmp_path, m) == [f"{tmp_path / 'a.bin'}: changed since the manifest was written (sha256 differs)"]


def test_read_manifest_errors_name_the_directory_and_the_maker(tmp_path):
    with pytest.raises(ModelError, match="no manifest.json") as e:
        read_manifest(tmp_path, "model")
    assert "edgeclas export" in (e.value.hint or "")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable manifest"):
        read_manifest(tmp_path)
    write_manifest(tmp_path, "build", {})
    with pytest.raises(ModelError, match="'build' directory, expected a 'model'"):
        read_manifest(tmp_path, "model")


def test_cli_turns_errors_into_one_line_and_exit_code():
    @cli.command("_raise_for_test", hidden=True)
    @handle_errors
    def _raise() -> None:
        raise DataError("list.txt:3: label 7 out of range [0, 2)", hint="fix the label")

    try:
        result = CliRunner().invoke(cli, ["_raise_for_test"])
        assert result.exit_code == DataError.exit_code
        assert "error: list.txt:3: label 7 out of range" in result.output
        assert "hint: fix the label" in result.output
        assert "Traceback" not in result.output
        debug = CliRunner().invoke(cli, ["--debug", "_raise_for_test"])
        assert isinstance(debug.exception, EdgeclasError)  # --debug re-raises for the traceback
    finally:
        cli.commands.pop("_raise_for_test")


def test_parse_csv_names_the_bad_item():
    assert parse_csv("1, 2,4", int) == [1, 2, 4]
    with pytest.raises(click.BadParameter, match="'x'"):
        parse_csv("1,x", int)


@pytest.mark.parametrize(
    ("w", "h", "short", "expected"),
    [(640, 480, 256, (341, 256)), (480, 640, 256, (256, 341)), (100, 100, 73, (73, 73)), (3, 2, 3, (4, 3))],
)
def test_resize_short_size_follows_paddleclas_rounding(w, h, short, expected):
    # 3x2 → 4.5 rounds half to even: 4 (PaddleClas uses Python's round()).
    assert resize_short_size(w, h, short) == expected


def test_preprocess_shape_and_normalisation():
    cfg = PreprocessConfig(resize_short=8, crop_size=6)
    img = np.full((10, 12, 3), 255, np.uint8)
    x = preprocess(img, cfg)
    assert x.shape == (3, 6, 6) and x.dtype == np.float32
    expected = (1.0 - np.array(cfg.mean)) / np.array(cfg.std)
    np.testing.assert_allclose(x[:, 0, 0], expected, rtol=1e-6)
    with pytest.raises(DataError, match="smaller than crop size"):
        center_crop(np.zeros((4, 4, 3), np.float32), 6)
