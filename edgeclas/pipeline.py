"""``edgeclas run PIPELINE.yaml``: data → train → export → convert → verify → build → deploy → bench → report.

Each stage is one object in :data:`TABLE` (its options, the stages it needs, the files it reads and
writes, how it runs); the runner only walks that table. Every stage calls that stage's public function,
writing under the pipeline's output folder::

    OUT/data  OUT/runs  OUT/model  OUT/build/<os>-<arch>-<engine>  OUT/deploy/result.json
    OUT/bench/results.jsonl  OUT/report/report.{md,html}  OUT/manifest.json (kind "pipeline")

``OUT/manifest.json`` records, per stage, a hash of its inputs (its options, the files it reads, the
fingerprints of the stages it depends on), its status and a fingerprint of what it produced. On a
re-run a stage is **skipped** when its inputs hash is unchanged and its outputs still verify
(manifest sha256s intact); otherwise it runs again and everything downstream follows. A failed
stage is simply not "done": re-running resumes there (a half-done bench continues with --resume).

The YAML (every key documented in :data:`SCHEMA`; unknown keys are rejected with the nearest one)::

    name: demo
    device: {emulator: {arch: armv8}}        # or {serial: SERIAL}; adb_server: HOST:PORT optional
    stages:
      data:    {task: clarity, num: 120, seed: 0}     # or {prepare: FOLDER, val_ratio: 0.2}
      train:   {recipe: training/demo_clarity.yaml, overrides: []}
      export:  {name: clarity}
      convert: {to: [onnx, nb], nb_targets: [arm, x86]}
      verify:  {tol: 1.0e-4}
      build:   {arch: armv8, os: linux, engines: [onnxruntime, lite], lite_source: auto}
      deploy:  {engine: onnxruntime, images: 2}
      bench:   {engines: [onnxruntime, lite], threads: [1, 2], power_modes: [0], warmup: 1, repeats: 20, images: 2}
      report:  {formats: [md, html]}

A stage left out of ``stages`` is not run (a pipeline may stop after ``verify``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from .errors import ConfigError, EdgeclasError, ModelError, ValidationError
from .fsutil import atomic_write_json, read_yaml, sha256_file
from .manifest import MANIFEST_NAME, check_files, read_manifest, utc_now, write_manifest
from .paths import source_dir
from .targets import engine_names, model_engine_names, target

__all__ = [
    "STAGES", "SCHEMA", "TABLE", "DEMO_PIPELINE", "Stage", "Outcome", "StageOutcome", "PipelineResult",
    "Workspace", "load_pipeline", "run_pipeline",
]

DEMO_PIPELINE = Path(__file__).parent / "resources" / "demo.yaml"

# An option: (type(s), default, meaning). Each stage's table validates and documents its YAML keys.
Option = tuple[Any, Any, str]


@dataclass(frozen=True)
class Outcome:
    """What a stage's run reports: one summary line, and ``failed`` when part of its work failed (the
    stage is recorded "partial", the pipeline goes on and fails at the end with ``failed`` and ``hint``)."""

    summary: str
    failed: str = ""
    hint: str = ""


@dataclass(frozen=True)
class StageOutcome:
    name: str
    status: str  # ran | skipped | failed | partial
    seconds: float
    summary: str


@dataclass
class PipelineResult:
    out: Path
    stages: list[StageOutcome] = field(default_factory=list)
    report: dict[str, Path] = field(default_factory=dict)
    verify_table: str | None = None


@dataclass
class Pipeline:
    path: Path | None
    name: str
    device: dict[str, Any]
    stages: dict[str, dict[str, Any]]  # only the stages to run, in STAGES order, defaults filled in


def start_emulator(spec: Any, root: Path) -> tuple[str, Callable[[], None]]:
    """Start the pipeline's emulated device (``device: {emulator: {arch, profile}}``) with its files under
    ``root``; its serial, and how to stop it together with an adb server it had to start."""
    from .emulator import manager

    em = spec if isinstance(spec, dict) else {}
    emulator = manager.start(arch=str(em.get("arch", "armv8")), profile=em.get("profile"), root=root)

    def stop() -> None:
        # An adb server the emulator's start had to start goes with it; a user's own one is left alone.
        manager.stop(port=emulator.port, with_adb_server=True)

    return emulator.serial, stop


@dataclass
class Workspace:
    """What the stages share: the pipeline, its output folder, where each artifact lives, the device."""

    pipe: Pipeline
    out: Path
    say: Callable[[str], None]  # a progress line
    result: PipelineResult
    verify: bool = True  # check artifacts against their manifests (sha256 + size); False: --no-verify
    _serial: str | None = None
    _stop_device: Callable[[], None] | None = None

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    @property
    def model(self) -> Path:
        return self.out / "model"

    def build_dir(self, engine: str) -> Path:
        from .build import build_dir

        b = self.pipe.stages["build"]
        return build_dir(self.out / "build", target(b["arch"], b["os"]), engine)

    def val_images(self, n: int) -> list[Path]:
        from .model_dir import ModelDir
        from .verify import default_images

        return default_images(ModelDir.load(self.model), n)

    def recipe(self) -> Path:
        rec = Path(self.pipe.stages["train"]["recipe"])
        tree = source_dir("training").parent  # recipes are named "training/<file>" from the edgeclas tree
        for base in ([self.pipe.path.parent] if self.pipe.path else []) + [tree]:
            if (base / rec).is_file():
                return base / rec
        if rec.is_file():
            return rec
        raise ConfigError(f"stages.train.recipe: {rec} not found (relative to the pipeline file or the edgeclas tree)")

    def device_serial(self) -> str:
        """The pipeline's device: the given serial, or an emulated device started on first use."""
        if self._serial is None:
            self._serial = self.pipe.device.get("serial")
        if self._serial is None:
            spec = self.pipe.device.get("emulator")
            self._serial, self._stop_device = start_emulator(spec, self.out / "device")
            arch = spec.get("arch", "armv8") if isinstance(spec, dict) else "armv8"
            self.say(f"emulated {arch} device started as {self._serial}")
        return self._serial

    def stop_device(self) -> None:
        if self._stop_device is not None:
            self._stop_device()
            self._stop_device = None


def _manifest_ok(d: Path, kind: str, verify: bool = True) -> bool:
    """The manifest is there and (``verify``) every file it records is intact."""
    try:
        m = read_manifest(d, kind)
        return not verify or not check_files(d, m)
    except ModelError:
        return False


def _tree_hash(*roots: Path) -> str:
    """Content hash of source trees (native/, toolchains/): a changed C++ file means a new build."""
    h = hashlib.sha256()
    for root in roots:
        for p in sorted(root.rglob("*")) if root.is_dir() else []:
            rel = p.relative_to(root).parts
            # in-tree build folders (native/build*) are outputs, not sources
            if p.is_file() and "__pycache__" not in rel and not rel[0].startswith("build"):
                h.update(str(p.relative_to(root.parent)).encode() + b"\0" + sha256_file(p).encode())
    return h.hexdigest()[:16]


class Stage:
    """One step of a pipeline. Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()  # stages whose outputs it reads (their fingerprints are its inputs)
    options: ClassVar[dict[str, Option]] = {}
    uses_device: ClassVar[bool] = False

    def check(self, o: dict[str, Any]) -> str | None:
        """What is wrong with valid-typed options (an unknown engine), or None."""
        return None

    def inputs(self, ws: Workspace, o: dict[str, Any]) -> dict[str, Any]:
        """What it reads besides its options and the stages it needs (file hashes, the device)."""
        return {}

    def outputs(self, ws: Workspace, o: dict[str, Any]) -> list[Path]:
        """The files whose content is its fingerprint: what later stages depend on."""
        return []

    def done(self, ws: Workspace, o: dict[str, Any]) -> bool:
        """Whether what it made is still there and intact (else it runs again)."""
        return True

    def run(self, ws: Workspace, o: dict[str, Any], resume: bool) -> Outcome:
        """Do it; ``resume`` is True when the last attempt had the same inputs and did not finish."""
        raise NotImplementedError

    def record(self, ws: Workspace, o: dict[str, Any]) -> None:
        """Add what it made to the pipeline's result, whether it ran now or was up to date."""


class DataStage(Stage):
    name = "data"
    options = {
        "task": (str, "clarity", "sample task (edgeclas data sample --task)"),
        "num": (int, 120, "number of sample images"),
        "seed": (int, 0, "random seed of the sample"),
        "prepare": ((str, type(None)), None, "a class-per-folder dataset to prepare instead of sampling"),
        "val_ratio": (float, 0.2, "validation share"),
    }

    def inputs(self, ws, o):
        return {"src": _tree_hash(Path(o["prepare"]))} if o["prepare"] else {}

    def outputs(self, ws, o):
        return [ws.data / MANIFEST_NAME]

    def done(self, ws, o):
        return _manifest_ok(ws.data, "dataset", ws.verify)

    def run(self, ws, o, resume):
        from .data import prepare, sample

        info = (prepare(o["prepare"], ws.data, o["val_ratio"], o["seed"]) if o["prepare"]
                else sample(o["task"], ws.data, num=o["num"], seed=o["seed"], val_ratio=o["val_ratio"]))
        return Outcome(f"{info.train} train + {info.val} val images")


class TrainStage(Stage):
    name = "train"
    needs = ("data",)
    options = {
        "recipe": (str, "training/demo_clarity.yaml",
                   "training recipe (relative to the edgeclas source tree or the pipeline file)"),
        "overrides": (list, [], "extra -o Key.Sub=Value overrides"),
    }

    def inputs(self, ws, o):
        return {"recipe": sha256_file(ws.recipe())}

    def outputs(self, ws, o):
        return [ws.runs / "best" / MANIFEST_NAME]

    def done(self, ws, o):
        return _manifest_ok(ws.runs / "best", "checkpoint", ws.verify)

    def run(self, ws, o, resume):
        from .train import train

        shutil.rmtree(ws.runs, ignore_errors=True)  # the pipeline's own run; train refuses to overwrite one
        t = train(ws.recipe(), [f"Global.dataset_dir={ws.data}", f"Global.output_dir={ws.runs}", *o["overrides"]])
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in list(t.best_metrics.items())[:2])
        return Outcome(f"{t.epochs} epoch(s), {t.images_per_sec:.0f} img/s, best {metrics or '-'}")


class ExportStage(Stage):
    name = "export"
    needs = ("train",)
    options = {"name": (str, "model", "model name")}

    def outputs(self, ws, o):
        return [ws.model / MANIFEST_NAME]

    def done(self, ws, o):
        return _manifest_ok(ws.model, "model", ws.verify)

    def run(self, ws, o, resume):
        from .export import export

        export(ws.runs / "best", ws.model, name=o["name"], verify=ws.verify)
        return Outcome("legacy + pir")


class ConvertStage(Stage):
    name = "convert"
    needs = ("export",)
    options = {
        "to": (list, ["onnx"], "formats to add: onnx, nb"),
        "nb_targets": (list, ["arm"], "Paddle Lite targets of the .nb files: arm for devices, x86 for the host lite engine"),
        "opset": (int, 13, "ONNX opset"),
    }

    def outputs(self, ws, o):
        return [ws.model / MANIFEST_NAME]

    def done(self, ws, o):
        if not _manifest_ok(ws.model, "model", ws.verify):
            return False
        formats = read_manifest(ws.model, "model").get("formats", {})
        nb_ok = "nb" not in o["to"] or all(t in formats.get("nb", {}) for t in o["nb_targets"])
        return all(f in formats for f in o["to"]) and nb_ok

    def run(self, ws, o, resume):
        done = []
        for fmt in o["to"]:
            if fmt == "onnx":
                from .onnx_convert import convert_onnx

                done.append(f"onnx ({convert_onnx(ws.model, opset=o['opset'], verify=ws.verify).name})")
            elif fmt == "nb":
                from .lite import convert_nb

                for t in o["nb_targets"]:
                    r = convert_nb(ws.model, target=t, verify=ws.verify)
                    done.append(f"nb ({r.path.name}, opt {r.opt_version})")
            else:
                raise ConfigError(f"stages.convert.to: unknown format '{fmt}'", hint="use onnx and/or nb")
        return Outcome(", ".join(done))


class VerifyStage(Stage):
    name = "verify"
    needs = ("convert",)
    options = {"tol": (float, 1e-4, "max |Δprob| allowed between host engines"), "images": (int, 8, "images compared")}

    def run(self, ws, o, resume):
        from .verify import verify

        rep = verify(ws.model, tol=o["tol"], limit=o["images"], verify=ws.verify)
        ws.result.verify_table = rep.table()
        rep.raise_for_failures()
        return Outcome(f"engines agree (max |Δprob| within {o['tol']:g})")


class BuildStage(Stage):
    name = "build"
    options = {
        "arch": (str, "armv8", "armv7 | armv8 | host"),
        "os": (str, "linux", "android | linux"),
        "engines": (list, ["onnxruntime"], "one build per engine"),
        "jobs": (int, 2, "parallel compile jobs"),
        "lite_source": (str, "auto", "Paddle Lite for engine lite: auto (built from $EDGECLAS_PADDLE_LITE_SOURCE or "
                                     "the CI bundle, tailored to the model; else the installed library; else lite "
                                     "is skipped, saying why), installed (the installed library only), or a source "
                                     "path/URL to build from"),
    }

    def check(self, o):
        bad = [e for e in o["engines"] if e not in engine_names()]
        return f"stages.build.engines: unknown engine '{bad[0]}'; use {', '.join(engine_names())}" if bad else None

    def inputs(self, ws, o):
        extra = {"sources": _tree_hash(source_dir("native"), source_dir("toolchains"))}
        if "lite" in o["engines"] and (ws.model / MANIFEST_NAME).is_file():  # the library is tailored to the model
            extra["model"] = sha256_file(ws.model / MANIFEST_NAME)
        return extra

    def outputs(self, ws, o):
        return [ws.build_dir(e) / MANIFEST_NAME for e in o["engines"]]

    def done(self, ws, o):
        return all(_manifest_ok(ws.build_dir(e), "build", ws.verify) or (e == "lite" and _lite_skipped(o))
                   for e in o["engines"])

    def run(self, ws, o, resume):
        from .build import build
        from .lite.source_build import build_paddle_lite

        parts = []
        for engine in o["engines"]:
            root = None
            if engine == "lite":
                why = _lite_skipped(o)
                if why:
                    shutil.rmtree(ws.build_dir(engine), ignore_errors=True)  # no stale build stands in for it
                    ws.say(f"  lite skipped: {why}")
                    parts.append(f"lite skipped: {why}")
                    continue
                source = _lite_source(o)
                if source is not None:
                    root = build_paddle_lite(source, arch=o["arch"], os_=o["os"], tailor=[ws.model], jobs=o["jobs"],
                                             log=lambda m: ws.say(f"  {m}")).root
            r = build(o["arch"], o["os"], engine, ws.build_dir(engine), jobs=o["jobs"], engine_root=root)
            parts.append(f"{o['os']}-{o['arch']} {engine} {r.engine_version} ({r.compiler})")
        return Outcome(", ".join(parts))


def _lite_source(o: dict[str, Any]) -> str | None:
    """Where the build stage builds Paddle Lite from, or None to use the installed library."""
    from .lite.source_build import default_source

    if o["lite_source"] == "installed":
        return None
    if o["lite_source"] == "auto":
        found = default_source()
        return found[0] if found else None
    return o["lite_source"]


def _lite_skipped(o: dict[str, Any]) -> str:
    """Why ``lite_source: auto`` leaves Paddle Lite out (no source and no installed library), else ""."""
    from . import sdk
    from .errors import ToolchainError
    from .lite.source_build import source_hint

    if o["lite_source"] != "auto" or _lite_source(o) is not None:
        return ""
    try:
        sdk.resolve("paddle-lite", arch=o["arch"], os=o["os"])
        return ""
    except ToolchainError as e:
        return f"{e.message}, and no Paddle Lite source to build one ({source_hint()})"


class DeployStage(Stage):
    name = "deploy"
    needs = ("convert", "build")
    uses_device = True
    options = {
        "engine": (str, "onnxruntime", "engine of the smoke run"),
        "images": (int, 2, "validation images to classify on the device"),
        "threads": (int, 1, "threads of the smoke run"),
    }

    def check(self, o):
        ok = model_engine_names()
        if o["engine"] not in ok:
            return f"stages.deploy.engine: unknown engine '{o['engine']}'; use {', '.join(ok)}"
        return None if o["threads"] >= 1 else f"stages.deploy.threads = {o['threads']}: must be >= 1"

    def inputs(self, ws, o):
        return {"device": ws.pipe.device}

    def outputs(self, ws, o):
        return [ws.out / "deploy" / "result.json"]

    def done(self, ws, o):
        p = ws.out / "deploy" / "result.json"
        return p.is_file() and json.loads(p.read_text(encoding="utf-8")).get("status") == "ok"

    def run(self, ws, o, resume):
        from .deploy import RunSettings, deploy

        serial = ws.device_serial()
        res = deploy(serial, ws.model, ws.val_images(o["images"]), build_dir=ws.build_dir(o["engine"]),
                     settings=RunSettings(threads=o["threads"], repeats=3, topk=2), out=ws.out / "deploy" / "result.json",
                     bundle_dir=ws.out / "deploy" / "bundle", adb_server=ws.pipe.device.get("adb_server"),
                     verify=ws.verify)
        top = [p.topk[0].label for p in res.run.predictions if p.topk]
        return Outcome(f"{len(top)} image(s) on {serial}: {', '.join(top)}")


class BenchStage(Stage):
    name = "bench"
    needs = ("convert", "build")
    uses_device = True
    options = {
        "engines": (list, ["onnxruntime"], "engines"),
        "threads": (list, [1, 2], "thread counts"),
        "power_modes": (list, [0], "power modes"),
        "warmup": (int, 1, "untimed runs per image"),
        "repeats": (int, 20, "timed runs per image"),
        "images": (int, 2, "validation images"),
        "cooldown": (float, 0.0, "seconds between cells"),
        "reference": (str, "paddle", "host reference engine, or none"),
    }

    def check(self, o):
        ok = model_engine_names()
        bad = [e for e in o["engines"] if e not in ok]
        if bad:
            return f"stages.bench.engines: unknown engine '{bad[0]}'; use {', '.join(ok)}"
        bad_threads = [t for t in o["threads"] if isinstance(t, bool) or not isinstance(t, int) or t < 1]
        if bad_threads or not o["threads"]:
            what = repr(bad_threads[0]) if bad_threads else "an empty list"
            return f"stages.bench.threads: {what} is not a list of thread counts >= 1"
        return None

    def inputs(self, ws, o):
        return {"device": ws.pipe.device}

    def outputs(self, ws, o):
        return [ws.out / "bench" / "results.jsonl"]

    def done(self, ws, o):
        return (ws.out / "bench" / "results.jsonl").is_file()

    def run(self, ws, o, resume):
        from .bench import bench

        # An engine the build stage skipped (it said why) has no build: the others run.
        engines = [e for e in o["engines"] if _manifest_ok(ws.build_dir(e), "build", ws.verify)]
        skipped = [e for e in o["engines"] if e not in engines]
        if not engines:
            raise ConfigError(f"stages.bench: no build for any of {', '.join(o['engines'])}",
                              hint="the build stage says what is missing")
        serial = ws.device_serial()
        bench_dir = ws.out / "bench"
        if not resume:  # a bench cut short with the same inputs continues where it stopped
            shutil.rmtree(bench_dir, ignore_errors=True)
        res = bench([serial], [ws.model], engines=engines, threads=o["threads"], power_modes=o["power_modes"],
                    warmup=o["warmup"], repeats=o["repeats"], cooldown_s=o["cooldown"],
                    images=ws.val_images(o["images"]), out=bench_dir, resume=resume, retry_errors=resume,
                    adb_server=ws.pipe.device.get("adb_server"),
                    builds=[ws.build_dir(e) for e in engines], allow_build=False,
                    reference=None if o["reference"] == "none" else o["reference"],
                    progress=lambda line: ws.say("  " + line), verify=ws.verify)
        failed = res.errors + len(res.device_failures)
        return Outcome(
            f"{res.ran} cell(s) run, {res.skipped} already done, {res.errors} failed"
            + (f" ({', '.join(skipped)}: no build, see the build stage)" if skipped else ""),
            failed=f"{failed} bench cell(s) or device(s) failed; the report shows why" if failed else "",
            hint="fix the cause and re-run the same command: only the failed cells run again",
        )


class ReportStage(Stage):
    name = "report"
    needs = ("bench",)
    options = {"formats": (list, ["md", "html"], "md, html, json")}

    def _paths(self, ws, o):
        return {f: ws.out / "report" / f"report.{f}" for f in o["formats"]}

    def outputs(self, ws, o):
        return list(self._paths(ws, o).values())

    def done(self, ws, o):
        return all(p.is_file() for p in self._paths(ws, o).values())

    def run(self, ws, o, resume):
        from .report import report

        r = report(ws.out / "bench", ws.out / "report", formats=o["formats"])
        return Outcome(", ".join(str(p) for p in r.paths.values()))

    def record(self, ws, o):
        ws.result.report = self._paths(ws, o)


TABLE: tuple[Stage, ...] = (DataStage(), TrainStage(), ExportStage(), ConvertStage(), VerifyStage(), BuildStage(),
                            DeployStage(), BenchStage(), ReportStage())
STAGES = tuple(s.name for s in TABLE)
SCHEMA: dict[str, dict[str, Option]] = {s.name: s.options for s in TABLE}
_BY_NAME = {s.name: s for s in TABLE}
_TOP = {"name", "device", "stages"}
_DEVICE = {"emulator", "serial", "adb_server"}


def _nearest(key: str, choices: Any) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; valid: {', '.join(choices)}"


def load_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """Read and validate a pipeline YAML; errors name the file and the key."""
    path = Path(path)
    raw = read_yaml(path, "pipeline")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a pipeline is a mapping with 'stages' (see edgeclas/resources/demo.yaml)")
    for k in raw:
        if k not in _TOP:
            raise ConfigError(f"{path}: unknown key '{k}'{_nearest(str(k), sorted(_TOP))}")
    stages_raw = raw.get("stages") or {}
    if not isinstance(stages_raw, dict) or not stages_raw:
        raise ConfigError(f"{path}: 'stages' must map stage names to options", hint=f"stages: {', '.join(STAGES)}")
    stages: dict[str, dict[str, Any]] = {}
    for name, opts in stages_raw.items():
        if name not in SCHEMA:
            raise ConfigError(f"{path}: unknown stage '{name}'{_nearest(str(name), STAGES)}")
        opts = opts or {}
        if not isinstance(opts, dict):
            raise ConfigError(f"{path}: stages.{name} must be a mapping of options")
        filled = {}
        for key, (types, default, _doc) in SCHEMA[name].items():
            value = opts.get(key, default)
            if isinstance(types, type) and types is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, types) or isinstance(value, bool) and types in (int, float):
                raise ConfigError(f"{path}: stages.{name}.{key} = {value!r} has the wrong type "
                                  f"(expected {getattr(types, '__name__', types)})")
            filled[key] = value
        for key in opts:
            if key not in SCHEMA[name]:
                raise ConfigError(f"{path}: unknown key stages.{name}.{key}{_nearest(str(key), SCHEMA[name])}")
        problem = _BY_NAME[name].check(filled)
        if problem:
            raise ConfigError(f"{path}: {problem}")
        stages[name] = filled
    ordered = {s: stages[s] for s in STAGES if s in stages}
    for s in ordered:
        missing = [d for d in _BY_NAME[s].needs if d not in ordered]
        if missing:
            raise ConfigError(f"{path}: stage '{s}' needs stage(s) {', '.join(missing)} in the pipeline")
    device = raw.get("device") or {}
    if not isinstance(device, dict) or any(k not in _DEVICE for k in device):
        bad = next((k for k in device if k not in _DEVICE), "device") if isinstance(device, dict) else "device"
        raise ConfigError(f"{path}: device: unknown key '{bad}'{_nearest(str(bad), sorted(_DEVICE))}")
    users = [s.name for s in TABLE if s.uses_device]
    if set(users) & set(ordered) and not ("emulator" in device or "serial" in device):
        raise ConfigError(f"{path}: {'/'.join(users)} need a device: "
                          "'device: {serial: SERIAL}' or 'device: {emulator: {arch: armv8}}'")
    return Pipeline(path, str(raw.get("name") or path.stem), device, ordered)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Runner:
    """Walks :data:`TABLE` over a pipeline: skip what is up to date, run the rest, record each stage."""

    def __init__(self, pipe: Pipeline, out: Path, on_stage: Callable[[str, StageOutcome | None], None],
                 verify: bool = True) -> None:
        self.pipe, self.out, self.on_stage = pipe, out, on_stage
        self.state = read_manifest(out, "pipeline") if (out / MANIFEST_NAME).is_file() else {}
        self.state.setdefault("stages", {})
        self.ws = Workspace(pipe, out, lambda line: on_stage(line, None), PipelineResult(out), verify=verify)
        self.failures: list[Outcome] = []

    def _save(self) -> None:
        body = {k: v for k, v in self.state.items() if k not in ("kind", "schema", "edgeclas_version", "created", "files")}
        body["pipeline"] = {"name": self.pipe.name, "file": str(self.pipe.path) if self.pipe.path else None}
        write_manifest(self.out, "pipeline", body)

    def run(self) -> PipelineResult:
        try:
            for name, opts in self.pipe.stages.items():
                self._one(_BY_NAME[name], opts)
        finally:
            self.ws.stop_device()
        if self.failures:
            raise ValidationError(self.failures[0].failed, hint=self.failures[0].hint or None)
        return self.ws.result

    def _finish(self, stage: Stage, outcome: StageOutcome) -> None:
        self.ws.result.stages.append(outcome)
        self.on_stage(stage.name, outcome)

    def _one(self, stage: Stage, opts: dict[str, Any]) -> None:
        deps = {d: self.state["stages"].get(d, {}).get("fingerprint") for d in stage.needs}
        inputs = _hash({"options": opts, "deps": deps, "extra": stage.inputs(self.ws, opts)})
        prev = self.state["stages"].get(stage.name, {})
        if prev.get("status") == "done" and prev.get("inputs") == inputs and stage.done(self.ws, opts):
            stage.record(self.ws, opts)
            self._finish(stage, StageOutcome(stage.name, "skipped", 0.0, "up to date"))
            return
        self.on_stage(stage.name, None)
        self.state["stages"][stage.name] = {"status": "running", "inputs": inputs, "started": utc_now()}
        self._save()
        t0 = time.monotonic()
        try:
            outcome = stage.run(self.ws, opts, resume=prev.get("inputs") == inputs)
        except (EdgeclasError, KeyboardInterrupt) as e:
            msg = e.message if isinstance(e, EdgeclasError) else "interrupted"
            self.state["stages"][stage.name].update(status="failed", error=msg, finished=utc_now())
            self._save()
            self._finish(stage, StageOutcome(stage.name, "failed", time.monotonic() - t0, msg))
            raise
        status = "partial" if outcome.failed else "done"
        if outcome.failed:
            self.failures.append(outcome)
        produced = [sha256_file(p) if p.is_file() else None for p in stage.outputs(self.ws, opts)]
        self.state["stages"][stage.name].update(status=status, finished=utc_now(), summary=outcome.summary,
                                                seconds=round(time.monotonic() - t0, 1),
                                                fingerprint=_hash([inputs, *produced]))
        self._save()
        stage.record(self.ws, opts)
        self._finish(stage, StageOutcome(stage.name, "ran" if status == "done" else status,
                                         time.monotonic() - t0, outcome.summary))


def _claim(out: Path) -> None:
    """Refuse to write into a non-empty folder that is not an edgeclas pipeline output (or an older demo)."""
    if out.exists() and any(out.iterdir()):
        try:
            m = read_manifest(out)
        except ModelError:
            m = {}
        if m.get("kind") not in ("pipeline", "demo"):
            raise ConfigError(f"{out}: exists and is not an edgeclas pipeline folder; nothing was written into it",
                              hint="pass another --out, or remove the folder")
        if m.get("kind") == "demo":  # a folder of the host-only demo: start the pipeline state afresh
            atomic_write_json(out / MANIFEST_NAME, {"kind": "pipeline", "schema": 1, "stages": {}})
    out.mkdir(parents=True, exist_ok=True)


def run_pipeline(
    pipeline: str | os.PathLike[str] | Pipeline,
    out: str | os.PathLike[str] | None = None,
    *,
    force: tuple[str, ...] = (),
    on_stage: Callable[[str, StageOutcome | None], None] | None = None,
    verify: bool = True,
) -> PipelineResult:
    """Run (or resume) a pipeline into ``out`` (default ``./<name>``); ``force`` re-runs the named stages.

    ``verify=False`` (``--no-verify``): stages read models, checkpoints and builds without checking their files
    against the manifests, and an output counts as up to date when its manifest is there, intact or not."""
    pipe = pipeline if isinstance(pipeline, Pipeline) else load_pipeline(pipeline)
    bad = [f for f in force if f not in STAGES]
    if bad:
        raise ConfigError(f"--force: unknown stage '{bad[0]}'{_nearest(bad[0], STAGES)}")
    out_path = Path(out if out is not None else pipe.name).resolve()
    _claim(out_path)
    runner = _Runner(pipe, out_path, on_stage or (lambda name, outcome: None), verify)
    for name in force:
        runner.state["stages"].pop(name, None)
    return runner.run()

