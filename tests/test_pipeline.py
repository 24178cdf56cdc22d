from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgeclas import pipeline
from edgeclas.errors import ConfigError, ValidationError
from edgeclas.pipeline import DEMO_PIPELINE, STAGES, load_pipeline, run_pipeline

HOST = """
name: host
stages:
  data:    {task: clarity, num: 16, seed: 0}
  train:   {recipe: training/demo_clarity.yaml, overrides: [Global.epochs=1]}
  export:  {name: clarity}
  convert: {to: [onnx]}
  verify:  {tol: 1.0e-4, images: 4}
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def test_demo_pipeline_is_complete():
    p = load_pipeline(DEMO_PIPELINE)
    assert list(p.stages) == list(STAGES)
    assert p.device == {"emulator": {"arch": "armv8"}}
    assert p.stages["convert"]["to"] == ["onnx", "nb"] and p.stages["bench"]["threads"] == [1, 2]
    assert p.stages["build"]["os"] == "linux" and p.stages["build"]["arch"] == "armv8"


@pytest.mark.parametrize("text, message", [
    ("stages: {data: {}, trian: {}}", "unknown stage 'trian'; did you mean 'train'?"),
    ("stages: {data: {nmu: 3}}", "unknown key stages.data.nmu; did you mean 'num'?"),
    ("stages: {data: {num: three}}", "stages.data.num = 'three' has the wrong type (expected int)"),
    ("stages: {export: {}}", "stage 'export' needs stage(s) train"),
    ("stages: {build: {}, deploy: {}}", "stage 'deploy' needs stage(s) convert"),
    ("stages: {build: {}}\nname: x\ndevcie: {}", "unknown key 'devcie'; did you mean 'device'?"),
    ("- a\n- b", "a pipeline is a mapping"),
    ("stages: [", "not valid YAML"),
])
def test_bad_pipelines_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_pipeline(_write(tmp_path, text))
    assert message in e.value.message and "p.yaml" in e.value.message


def test_a_binary_pipeline_file_is_a_config_error(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)))  # a gzip file given as the pipeline
    with pytest.raises(ConfigError, match=r"p.yaml: not a text file \(byte 1 is not UTF-8\); a pipeline is YAML"):
        load_pipeline(p)


def test_device_stages_need_a_device(tmp_path):
    text = HOST + "  build: {}\n  deploy: {}\n"
    with pytest.raises(ConfigError, match="deploy/bench need a device"):
        load_pipeline(_write(tmp_path, text))


def test_refuses_a_foreign_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    with pytest.raises(ConfigError, match="is not an edgeclas pipeline folder"):
        run_pipeline(_write(tmp_path, HOST), out)
    assert (out / "precious.txt").read_text() == "x" and len(list(out.iterdir())) == 1


@pytest.mark.integration
def test_skip_rerun_and_resume_after_failure(tmp_path):
    out = tmp_path / "out"
    # convert to a format that does not exist: data..export run, convert fails, verify never starts.
    bad = _write(tmp_path, HOST.replace("to: [onnx]", "to: [onnx, tflite]"))
    seen = []
    with pytest.raises(ConfigError, match="unknown format 'tflite'"):
        run_pipeline(bad, out, on_stage=lambda n, o: o and seen.append((n, o.status)))
    assert seen == [("data", "ran"), ("train", "ran"), ("export", "ran"), ("convert", "failed")]
    state = json.loads((out / "manifest.json").read_text())
    assert state["kind"] == "pipeline" and state["stages"]["convert"]["status"] == "failed"
    trained = (out / "runs" / "best" / "manifest.json").read_bytes()

    good = _write(tmp_path, HOST)
    res = run_pipeline(good, out)  # resumes: the finished stages are not run again
    assert [(s.name, s.status) for s in res.stages] == [
        ("data", "skipped"), ("train", "skipped"), ("export", "skipped"), ("convert", "ran"), ("verify", "ran")]
    assert (out / "runs" / "best" / "manifest.json").read_bytes() == trained
    assert (out / "model" / "model.onnx").is_file()

    res = run_pipeline(good, out)
    assert {s.status for s in res.stages} == {"skipped"}

    # A changed option re-runs that stage and what depends on it, nothing upstream.
    res = run_pipeline(_write(tmp_path, HOST.replace("Global.epochs=1", "Global.epochs=2")), out)
    assert [(s.name, s.status) for s in res.stages] == [
        ("data", "skipped"), ("train", "ran"), ("export", "ran"), ("convert", "ran"), ("verify", "ran")]

    # An output damaged behind the pipeline's back fails its manifest check: the model is made again.
    (out / "model" / "model.onnx").write_bytes(b"broken")
    res = run_pipeline(_write(tmp_path, HOST.replace("Global.epochs=1", "Global.epochs=2")), out)
    assert [(s.name, s.status) for s in res.stages] == [
        ("data", "skipped"), ("train", "skipped"), ("export", "ran"), ("convert", "ran"), ("verify", "ran")]
    assert (out / "model" / "model.onnx").read_bytes() != b"broken"

    # --no-verify: an output changed on purpose counts as up to date (its manifest is there); verified again,
    # the change is found and the model made again.
    params = out / "model" / "legacy" / "inference.pdiparams"
    data = bytearray(params.read_bytes())
    data[-1] ^= 0xFF
    params.write_bytes(bytes(data))
    epochs2 = _write(tmp_path, HOST.replace("Global.epochs=1", "Global.epochs=2"))
    res = run_pipeline(epochs2, out, verify=False)
    assert {s.status for s in res.stages} == {"skipped"}
    assert params.read_bytes() == bytes(data)
    res = run_pipeline(epochs2, out)
    assert [(s.name, s.status) for s in res.stages] == [
        ("data", "skipped"), ("train", "skipped"), ("export", "ran"), ("convert", "ran"), ("verify", "ran")]
    assert params.read_bytes() != bytes(data)


# ------------------------------------------------------------------ the runner walks a table of stages

class _Write(pipeline.Stage):
    """Writes its option into a.txt; its output is that file."""

    name = "a"
    options = {"text": (str, "x", "what to write")}
    runs: list[bool] = []

    def outputs(self, ws, o):
        return [ws.out / "a.txt"]

    def done(self, ws, o):
        return (ws.out / "a.txt").is_file()

    def run(self, ws, o, resume):
        self.runs.append(resume)
        (ws.out / "a.txt").write_text(o["text"])
        return pipeline.Outcome(f"wrote {o['text']}")


class _Count(pipeline.Stage):
    """Needs a; fails part of its work while ``flaky`` is set."""

    name = "b"
    needs = ("a",)
    runs: list[bool] = []
    flaky = True

    def run(self, ws, o, resume):
        self.runs.append(resume)
        return pipeline.Outcome("counted", failed="1 thing failed" if self.flaky else "", hint="try again")


def test_runner_walks_the_table(tmp_path, monkeypatch):
    a, b = _Write(), _Count()
    a.runs, b.runs = [], []
    monkeypatch.setattr(pipeline, "_BY_NAME", {"a": a, "b": b})
    out = tmp_path / "out"

    def run(text: str) -> list[tuple[str, str]]:
        pipe = pipeline.Pipeline(None, "t", {}, {"a": {"text": text}, "b": {}})
        return [(s.name, s.status) for s in run_pipeline(pipe, out).stages]

    with pytest.raises(ValidationError, match="1 thing failed") as e:
        run("x")
    assert e.value.hint == "try again" and (a.runs, b.runs) == ([False], [False])
    state = json.loads((out / "manifest.json").read_text())["stages"]
    assert state["a"]["status"] == "done" and state["b"]["status"] == "partial"

    b.flaky = False
    assert run("x") == [("a", "skipped"), ("b", "ran")] and b.runs == [False, True]  # partial: resumed
    assert run("x") == [("a", "skipped"), ("b", "skipped")]
    (out / "a.txt").unlink()  # an output gone behind the pipeline's back: made again, same content
    assert run("x") == [("a", "ran"), ("b", "skipped")]
    assert run("y") == [("a", "ran"), ("b", "ran")]  # a new option changes a's output, so b follows
    assert a.runs == [False, True, False]  # resume: the same inputs as the attempt before


def test_every_stage_declares_its_options_and_needs():
    assert pipeline.STAGES == tuple(s.name for s in pipeline.TABLE)
    for stage in pipeline.TABLE:
        assert set(stage.needs) <= set(pipeline.STAGES[: pipeline.STAGES.index(stage.name)]), stage.name
        for key, (types, default, doc) in stage.options.items():
            assert doc and isinstance(default, types), (stage.name, key)
    assert [s.name for s in pipeline.TABLE if s.uses_device] == ["deploy", "bench"]


@pytest.mark.parametrize("stage, text, message", [
    ("build", "build: {engines: [tflite]}", "stages.build.engines: unknown engine 'tflite'"),
    ("deploy", "deploy: {engine: none}", "stages.deploy.engine: unknown engine 'none'"),
    ("bench", "bench: {engines: [onnxruntime, tflite]}", "stages.bench.engines: unknown engine 'tflite'"),
    # --threads below 1 is refused in a pipeline as on the command line, before any stage runs
    ("deploy", "deploy: {threads: 0}", "stages.deploy.threads = 0: must be >= 1"),
    ("bench", "bench: {threads: [1, -2]}", "stages.bench.threads: -2 is not a list of thread counts >= 1"),
    ("bench", "bench: {threads: []}", "stages.bench.threads: an empty list is not a list of thread counts >= 1"),
])
def test_engines_in_a_pipeline_come_from_the_engine_table(tmp_path, stage, text, message):
    yaml_text = f"device: {{serial: s}}\nstages:\n  {text}\n"
    if stage != "build":
        yaml_text = HOST.replace("stages:\n", "device: {serial: s}\nstages:\n") + "  build: {}\n  " + text + "\n"
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_pipeline(_write(tmp_path, yaml_text))
