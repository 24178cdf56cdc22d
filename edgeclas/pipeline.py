"""``edgeclas run PIPELINE.yaml``: data → train → export → convert → verify → build → deploy → bench → report.

Every stage is a call to that stage's public function, writing under the pipeline's output folder::

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
from typing import Any, Callable

from .errors import ConfigError, EdgeclasError, ModelError, ValidationError
from .fsutil import atomic_write_json, sha256_file
from .manifest import MANIFEST_NAME, check_files, read_manifest, utc_now, write_manifest
from .paths import repo_root

__all__ = ["STAGES", "SCHEMA", "DEMO_PIPELINE", "StageOutcome", "PipelineResult", "load_pipeline", "run_pipeline"]

STAGES = ("data", "train", "export", "convert", "verify", "build", "deploy", "bench", "report")
DEMO_PIPELINE = Path(__file__).parent / "resources" / "demo.yaml"

# key → (type(s), default, meaning). The one table that validates and documents the YAML.
SCHEMA: dict[str, dict[str, tuple[Any, Any, str]]] = {
    "data": {
        "task": (str, "clarity", "sample task (edgeclas data sample --task)"),
        "num": (int, 120, "number of sample images"),
        "seed": (int, 0, "random seed of the sample"),
        "prepare": ((str, type(None)), None, "a class-per-folder dataset to prepare instead of sampling"),
        "val_ratio": (float, 0.2, "validation share"),
    },
    "train": {
        "recipe": (str, "training/demo_clarity.yaml", "training recipe (relative to the edgeclas source tree or the pipeline file)"),
        "overrides": (list, [], "extra -o Key.Sub=Value overrides"),
    },
    "export": {"name": (str, "model", "model name")},
    "convert": {
        "to": (list, ["onnx"], "formats to add: onnx, nb"),
        "nb_targets": (list, ["arm"], "Paddle Lite targets of the .nb files: arm for devices, x86 for the host lite engine"),
        "opset": (int, 13, "ONNX opset"),
    },
    "verify": {"tol": (float, 1e-4, "max |Δprob| allowed between host engines"), "images": (int, 8, "images compared")},
    "build": {
        "arch": (str, "armv8", "armv7 | armv8 | host"),
        "os": (str, "linux", "android | linux"),
        "engines": (list, ["onnxruntime"], "one build per engine"),
        "jobs": (int, 2, "parallel compile jobs"),
        "lite_source": (str, "auto", "Paddle Lite for engine lite: auto (built from $EDGECLAS_PADDLE_LITE_SOURCE or "
                                     "the CI bundle, tailored to the model; else the installed library; else lite "
                                     "is skipped, saying why), installed (the installed library only), or a source "
                                     "path/URL to build from"),
    },
    "deploy": {
        "engine": (str, "onnxruntime", "engine of the smoke run"),
        "images": (int, 2, "validation images to classify on the device"),
        "threads": (int, 1, "threads of the smoke run"),
    },
    "bench": {
        "engines": (list, ["onnxruntime"], "engines"),
        "threads": (list, [1, 2], "thread counts"),
        "power_modes": (list, [0], "power modes"),
        "warmup": (int, 1, "untimed runs per image"),
        "repeats": (int, 20, "timed runs per image"),
        "images": (int, 2, "validation images"),
        "cooldown": (float, 0.0, "seconds between cells"),
        "reference": (str, "paddle", "host reference engine, or none"),
    },
    "report": {"formats": (list, ["md", "html"], "md, html, json")},
}
_TOP = {"name", "device", "stages"}
_DEVICE = {"emulator", "serial", "adb_server"}
_DEPS = {
    "data": (), "train": ("data",), "export": ("train",), "convert": ("export",), "verify": ("convert",),
    "build": (), "deploy": ("convert", "build"), "bench": ("convert", "build"), "report": ("bench",),
}


def _nearest(key: str, choices: Any) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; valid: {', '.join(choices)}"


@dataclass
class Pipeline:
    path: Path | None
    name: str
    device: dict[str, Any]
    stages: dict[str, dict[str, Any]]  # only the stages to run, in STAGES order, defaults filled in


def load_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """Read and validate a pipeline YAML; errors name the file and the key."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the pipeline ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
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
        stages[name] = filled
    ordered = {s: stages[s] for s in STAGES if s in stages}
    for s in ordered:
        missing = [d for d in _DEPS[s] if d not in ordered]
        if missing:
            raise ConfigError(f"{path}: stage '{s}' needs stage(s) {', '.join(missing)} in the pipeline")
    device = raw.get("device") or {}
    if not isinstance(device, dict) or any(k not in _DEVICE for k in device):
        bad = next((k for k in device if k not in _DEVICE), "device") if isinstance(device, dict) else "device"
        raise ConfigError(f"{path}: device: unknown key '{bad}'{_nearest(str(bad), sorted(_DEVICE))}")
    if ({"deploy", "bench"} & set(ordered)) and not ("emulator" in device or "serial" in device):
        raise ConfigError(f"{path}: deploy/bench need a device: 'device: {{serial: SERIAL}}' or 'device: {{emulator: {{arch: armv8}}}}'")
    return Pipeline(path, str(raw.get("name") or path.stem), device, ordered)


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


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


def _manifest_ok(d: Path, kind: str) -> bool:
    try:
        return not check_files(d, read_manifest(d, kind))
    except ModelError:
        return False


class _Runner:
    def __init__(self, pipe: Pipeline, out: Path, on_stage: Callable[[str, StageOutcome | None], None]) -> None:
        self.pipe, self.out, self.on_stage = pipe, out, on_stage
        self.state_path = out / MANIFEST_NAME
        self.state = read_manifest(out, "pipeline") if self.state_path.is_file() else {}
        self.state.setdefault("stages", {})
        self.emulator: Any = None
        self.own_adb_port: int | None = None
        self.serial: str | None = pipe.device.get("serial")
        self.result = PipelineResult(out)
        self.values: dict[str, Any] = {}

    # -- paths -------------------------------------------------------------------------------
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
        b = self.pipe.stages["build"]
        return self.out / "build" / f"{b['os']}-{b['arch']}-{engine}"

    # -- state ------------------------------------------------------------------------------
    def _save(self) -> None:
        body = {k: v for k, v in self.state.items() if k not in ("kind", "schema", "edgeclas_version", "created", "files")}
        body["pipeline"] = {"name": self.pipe.name, "file": str(self.pipe.path) if self.pipe.path else None}
        write_manifest(self.out, "pipeline", body)

    def _inputs(self, name: str) -> str:
        opts = self.pipe.stages[name]
        deps = {d: self.state["stages"].get(d, {}).get("fingerprint") for d in _DEPS[name]}
        extra: dict[str, Any] = {}
        if name == "train":
            extra["recipe"] = sha256_file(self._recipe())
        elif name == "build":
            extra["sources"] = _tree_hash(repo_root() / "native", repo_root() / "toolchains")
            if "lite" in opts["engines"]:  # the Lite library is tailored to the model
                extra["model"] = self.state["stages"].get("export", {}).get("fingerprint")
        elif name == "data" and opts["prepare"]:
            extra["src"] = _tree_hash(Path(opts["prepare"]))
        elif name in ("deploy", "bench"):
            extra["device"] = self.pipe.device
        return _hash({"options": opts, "deps": deps, "extra": extra})

    def _outputs_ok(self, name: str) -> bool:
        s = self.pipe.stages
        if name == "data":
            return _manifest_ok(self.data, "dataset")
        if name == "train":
            return _manifest_ok(self.runs / "best", "checkpoint")
        if name == "export":
            return _manifest_ok(self.model, "model")
        if name == "convert":
            if not _manifest_ok(self.model, "model"):
                return False
            formats = read_manifest(self.model, "model").get("formats", {})
            nb_ok = "nb" not in s["convert"]["to"] or all(t in formats.get("nb", {}) for t in s["convert"]["nb_targets"])
            return all(f in formats for f in s["convert"]["to"]) and nb_ok
        if name == "build":
            skipped = self.state["stages"].get("build", {}).get("skipped", {})
            return all(_manifest_ok(self.build_dir(e), "build") or e in skipped for e in s["build"]["engines"])
        if name == "deploy":
            p = self.out / "deploy" / "result.json"
            return p.is_file() and json.loads(p.read_text(encoding="utf-8")).get("status") == "ok"
        if name == "bench":
            return (self.out / "bench" / "results.jsonl").is_file()
        if name == "report":
            return all((self.out / "report" / f"report.{f}").is_file() for f in s["report"]["formats"])
        return True  # verify: nothing on disk, its inputs hash says it all

    def _fingerprint(self, name: str, inputs: str) -> str:
        """What downstream stages depend on: inputs plus the produced manifest(s) as they are now."""
        produced = {
            "data": self.data / MANIFEST_NAME, "train": self.runs / "best" / MANIFEST_NAME,
            "export": self.model / MANIFEST_NAME, "convert": self.model / MANIFEST_NAME,
            "deploy": self.out / "deploy" / "result.json", "bench": self.out / "bench" / "results.jsonl",
        }.get(name)
        if name == "build":
            return _hash([inputs] + [sha256_file(self.build_dir(e) / MANIFEST_NAME)
                                     for e in self.pipe.stages["build"]["engines"]
                                     if (self.build_dir(e) / MANIFEST_NAME).is_file()])
        return _hash([inputs, sha256_file(produced) if produced and produced.is_file() else None])

    # -- devices ----------------------------------------------------------------------------
    def device_serial(self) -> str:
        if self.serial is None:
            from .emulator import manager

            em = self.pipe.device.get("emulator") or {}
            if not isinstance(em, dict):
                em = {}
            port = manager.adb_server_port(None)
            # An adb server this pipeline starts is stopped with the emulator; a user's own one is left alone.
            self.own_adb_port = None if manager._adb_server_running(port) else port
            self.emulator = manager.start(arch=str(em.get("arch", "armv8")), profile=em.get("profile"),
                                          root=self.out / "device")
            self.serial = self.emulator.serial
            self.on_stage(f"emulated {em.get('arch', 'armv8')} device started as {self.serial}", None)
        return self.serial

    def stop_device(self) -> None:
        if self.emulator is not None:
            from .emulator import manager

            manager.stop(port=self.emulator.port)
            self.emulator = None
            if self.own_adb_port is not None:
                manager._adb(self.own_adb_port, "kill-server")
                self.own_adb_port = None

    # -- stages -----------------------------------------------------------------------------
    def _recipe(self) -> Path:
        rec = Path(self.pipe.stages["train"]["recipe"])
        for base in ([self.pipe.path.parent] if self.pipe.path else []) + [repo_root()]:
            if (base / rec).is_file():
                return base / rec
        if rec.is_file():
            return rec
        raise ConfigError(f"stages.train.recipe: {rec} not found (relative to the pipeline file or the edgeclas tree)")

    def stage_data(self, o: dict[str, Any]) -> str:
        from .data import prepare, sample

        info = (prepare(o["prepare"], self.data, o["val_ratio"], o["seed"]) if o["prepare"]
                else sample(o["task"], self.data, num=o["num"], seed=o["seed"], val_ratio=o["val_ratio"]))
        return f"{info.train} train + {info.val} val images"

    def stage_train(self, o: dict[str, Any]) -> str:
        from .train import train

        shutil.rmtree(self.runs, ignore_errors=True)  # the pipeline's own run; train refuses to overwrite one
        t = train(self._recipe(), [f"Global.dataset_dir={self.data}", f"Global.output_dir={self.runs}", *o["overrides"]])
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in list(t.best_metrics.items())[:2])
        return f"{t.epochs} epoch(s), {t.images_per_sec:.0f} img/s, best {metrics or '-'}"

    def stage_export(self, o: dict[str, Any]) -> str:
        from .export import export

        export(self.runs / "best", self.model, name=o["name"])
        return "legacy + pir"

    def stage_convert(self, o: dict[str, Any]) -> str:
        done = []
        for fmt in o["to"]:
            if fmt == "onnx":
                from .onnx_convert import convert_onnx

                done.append(f"onnx ({convert_onnx(self.model, opset=o['opset']).name})")
            elif fmt == "nb":
                from .lite import convert_nb

                for target in o["nb_targets"]:
                    r = convert_nb(self.model, target=target)
                    done.append(f"nb ({r.path.name}, opt {r.opt_version})")
            else:
                raise ConfigError(f"stages.convert.to: unknown format '{fmt}'", hint="use onnx and/or nb")
        return ", ".join(done)

    def stage_verify(self, o: dict[str, Any]) -> str:
        from .verify import verify

        rep = verify(self.model, tol=o["tol"], limit=o["images"])
        self.result.verify_table = rep.table()
        rep.raise_for_failures()
        return f"engines agree (max |Δprob| within {o['tol']:g})"

    def stage_build(self, o: dict[str, Any]) -> str:
        from .build import build

        parts, skipped = [], {}
        for engine in o["engines"]:
            lite_root = None
            if engine == "lite":
                lite_root, why_not = self._lite_library(o)
                if why_not:
                    skipped[engine] = why_not
                    parts.append(f"lite skipped: {why_not}")
                    self.on_stage(f"  lite skipped: {why_not}", None)
                    continue
            r = build(o["arch"], o["os"], engine, self.build_dir(engine), jobs=o["jobs"], lite_root=lite_root)
            parts.append(f"{o['os']}-{o['arch']} {engine} {r.engine_version} ({r.compiler})")
        self.state["stages"]["build"]["skipped"] = skipped
        return ", ".join(parts)

    def _lite_library(self, o: dict[str, Any]) -> tuple[Path | None, str]:
        """(Paddle Lite dir for ``build --lite-root``, or None for the installed one; why lite is skipped, or "")."""
        from . import sdk
        from .errors import ToolchainError
        from .sdk.paddle_lite_source import build_paddle_lite, default_source, source_hint

        source = o["lite_source"]
        if source == "installed":
            return None, ""
        if source == "auto":
            found = default_source()
            if found is None:
                try:
                    sdk.resolve("paddle-lite", arch=o["arch"], os=o["os"])
                    return None, ""
                except ToolchainError as e:
                    return None, f"{e.message}; no Paddle Lite source either ({source_hint()})"
            source = found[0]
        b = build_paddle_lite(source, arch=o["arch"], os_=o["os"], tailor=[self.model], jobs=o["jobs"],
                              log=lambda m: self.on_stage(f"  {m}", None))
        return b.root, ""

    def _val_images(self, n: int) -> list[Path]:
        from .model_dir import ModelDir
        from .verify import default_images

        return default_images(ModelDir.load(self.model), n)

    def stage_deploy(self, o: dict[str, Any]) -> str:
        from .deploy import RunSettings, deploy

        serial = self.device_serial()
        res = deploy(serial, self.model, self._val_images(o["images"]), self.build_dir(o["engine"]),
                     RunSettings(threads=o["threads"], repeats=3, topk=2), out=self.out / "deploy" / "result.json",
                     bundle_dir=self.out / "deploy" / "bundle", adb_server=self.pipe.device.get("adb_server"))
        top = [p.topk[0].label for p in res.run.predictions if p.topk]
        return f"{len(top)} image(s) on {serial}: {', '.join(top)}"

    def stage_bench(self, o: dict[str, Any], resume: bool) -> str:
        from .bench import bench

        serial = self.device_serial()
        bench_dir = self.out / "bench"
        if not resume:
            shutil.rmtree(bench_dir, ignore_errors=True)
        skipped = self.state["stages"].get("build", {}).get("skipped", {})
        engines = [e for e in o["engines"] if e not in skipped]  # the build stage said why, once
        if not engines:
            raise ConfigError(f"bench: no engine left to run (skipped at build: {', '.join(skipped)})",
                              hint="see the build stage's message for what is missing")
        res = bench([serial], [self.model], engines=engines, threads=o["threads"], power_modes=o["power_modes"],
                    warmup=o["warmup"], repeats=o["repeats"], cooldown_s=o["cooldown"],
                    images=self._val_images(o["images"]), out=bench_dir, resume=resume, retry_errors=resume,
                    adb_server=self.pipe.device.get("adb_server"),
                    builds=[self.build_dir(e) for e in engines], allow_build=False,
                    reference=None if o["reference"] == "none" else o["reference"],
                    progress=lambda line: self.on_stage("  " + line, None))
        self.values["bench_errors"] = res.errors + len(res.device_failures)
        return (f"{res.ran} cell(s) run, {res.skipped} already done, {res.errors} failed"
                + (f" ({', '.join(skipped)}: no build, see the build stage)" if skipped else ""))

    def stage_report(self, o: dict[str, Any]) -> str:
        from .report import report

        r = report(self.out / "bench", self.out / "report", formats=o["formats"])
        self.result.report = dict(r.paths)
        return ", ".join(str(p) for p in r.paths.values())

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> PipelineResult:
        try:
            for name, opts in self.pipe.stages.items():
                self._one(name, opts)
        finally:
            self.stop_device()
        failed = self.values.get("bench_errors")
        if failed:
            raise ValidationError(
                f"{failed} bench cell(s) or device(s) failed; the report shows why",
                hint="fix the cause and re-run the same command: only the failed cells run again",
            )
        return self.result

    def _one(self, name: str, opts: dict[str, Any]) -> None:
        inputs = self._inputs(name)
        prev = self.state["stages"].get(name, {})
        if prev.get("status") == "done" and prev.get("inputs") == inputs and self._outputs_ok(name):
            out = StageOutcome(name, "skipped", 0.0, "up to date")
            self.result.stages.append(out)
            self.on_stage(name, out)
            if name == "report":
                self.result.report = {f: self.out / "report" / f"report.{f}" for f in opts["formats"]}
            return
        self.on_stage(name, None)
        self.state["stages"][name] = {"status": "running", "inputs": inputs, "started": utc_now()}
        self._save()
        t0 = time.monotonic()
        try:
            if name == "bench":
                # A bench cut short with the same inputs continues where it stopped.
                summary = self.stage_bench(opts, resume=prev.get("inputs") == inputs)
            else:
                summary = getattr(self, f"stage_{name}")(opts)
        except (EdgeclasError, KeyboardInterrupt) as e:
            msg = e.message if isinstance(e, EdgeclasError) else "interrupted"
            self.state["stages"][name].update(status="failed", error=msg, finished=utc_now())
            self._save()
            failed = StageOutcome(name, "failed", time.monotonic() - t0, msg)
            self.result.stages.append(failed)
            self.on_stage(name, failed)
            raise
        status = "partial" if name == "bench" and self.values.get("bench_errors") else "done"
        self.state["stages"][name].update(status=status, finished=utc_now(), summary=summary,
                                          seconds=round(time.monotonic() - t0, 1),
                                          fingerprint=self._fingerprint(name, inputs))
        self._save()
        out = StageOutcome(name, "ran" if status == "done" else status, time.monotonic() - t0, summary)
        self.result.stages.append(out)
        self.on_stage(name, out)


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
) -> PipelineResult:
    """Run (or resume) a pipeline into ``out`` (default ``./<name>``); ``force`` re-runs the named stages."""
    pipe = pipeline if isinstance(pipeline, Pipeline) else load_pipeline(pipeline)
    bad = [f for f in force if f not in STAGES]
    if bad:
        raise ConfigError(f"--force: unknown stage '{bad[0]}'{_nearest(bad[0], STAGES)}")
    out_path = Path(out if out is not None else pipe.name).resolve()
    _claim(out_path)
    runner = _Runner(pipe, out_path, on_stage or (lambda name, outcome: None))
    for name in force:
        runner.state["stages"].pop(name, None)
    return runner.run()

