"""The bench results schema, as data, and its validator.

One benchmark cell (device × model × engine × threads × power mode) is one JSON object, one line of
``RUN_DIR/results.jsonl``. :data:`CELL_SCHEMA` describes every field (type, nullability, meaning);
:func:`validate_cell` checks a record against it and returns every problem, not just the first;
``docs/results-schema.md`` documents the same table (a test keeps them in step).
Unknown keys are problems too: a field nobody documented is a field nobody can rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from ..errors import ValidationError

__all__ = ["SCHEMA_VERSION", "CELL_SCHEMA", "Field", "Obj", "Arr", "validate_cell", "check_cell", "field_paths"]

SCHEMA_VERSION = 1

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "number": (int, float),
    "bool": (bool,),
}


@dataclass(frozen=True)
class Field:
    """A scalar: ``type`` one of str/int/number/bool; ``enum`` restricts values."""

    type: str
    doc: str
    nullable: bool = False
    enum: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Arr:
    item: "Spec"
    doc: str
    nullable: bool = False


@dataclass(frozen=True)
class Obj:
    fields: dict[str, "Spec"]
    doc: str
    nullable: bool = False
    optional: frozenset[str] = field(default_factory=frozenset)


Spec = Union[Field, Arr, Obj]

_CLUSTER = Obj(
    {
        "name": Field("str", "cluster name: big, little (or prime/mid/… when there are more)"),
        "cores": Arr(Field("int", "core index"), "core indices in this cluster"),
        "max_freq_khz": Field("int", "cpuinfo_max_freq of the cluster's cores", nullable=True),
    },
    "one CPU cluster",
)

_LATENCY = Obj(
    {
        "init": Field("number", "model load time (engine init), ms", nullable=True),
        "first": Field("number", "first (cold) inference, ms", nullable=True),
        "n": Field("int", "number of timed runs the statistics cover"),
        "mean": Field("number", "mean of the timed runs, ms"),
        "std": Field("number", "sample standard deviation, ms", nullable=True),
        "min": Field("number", "fastest timed run, ms"),
        "max": Field("number", "slowest timed run, ms"),
        "p50": Field("number", "median, ms", nullable=True),
        "p90": Field("number", "90th percentile, ms", nullable=True),
        "p99": Field("number", "99th percentile, ms", nullable=True),
        "trimmed_mean": Field("number", "mean without the fastest and slowest 10 %, ms", nullable=True),
        "samples": Arr(Field("number", "one timed run, ms"), "raw timed runs in order (empty for imported tool output)"),
    },
    "latency of the timed inference runs after warm-up; statistics computed by edgeclas from the raw samples "
    "(imported benchmark_bin output has only min/max/mean: the rest is null)",
    nullable=True,
)

CELL_SCHEMA = Obj(
    {
        "schema": Field("int", f"results schema version (this document: {SCHEMA_VERSION})"),
        "kind": Field("str", "always bench_cell", enum=("bench_cell",)),
        "key": Field("str", "stable cell key: sha256 of device serial, model sha256, engine, threads, power mode, "
                     "warm-up, repeats (first 16 hex digits); --resume skips keys already present"),
        "status": Field("str", "ok, or error when the cell failed (the matrix goes on)", enum=("ok", "error")),
        "error": Obj(
            {
                "type": Field("str", "error class, e.g. RemoteCrash, RemoteTimeout, OutputParseError"),
                "message": Field("str", "one-line message"),
                "hint": Field("str", "what to do next", nullable=True),
            },
            "why the cell failed; null when status is ok",
            nullable=True,
        ),
        "source": Field("str", "what produced the numbers", enum=("edgeclas", "benchmark_bin", "paddleclas_demo")),
        "started": Field("str", "UTC start time, ISO 8601 to the millisecond"),
        "finished": Field("str", "UTC end time, ISO 8601 to the millisecond"),
        "duration_s": Field("number", "wall time of the cell on the host (sync + run; the cool-down is not included)"),
        "device": Obj(
            {
                "serial": Field("str", "adb serial"),
                "model": Field("str", "ro.product.model", nullable=True),
                "manufacturer": Field("str", "ro.product.manufacturer", nullable=True),
                "soc": Field("str", "ro.soc.model or ro.board.platform", nullable=True),
                "abi": Field("str", "primary ABI (ro.product.cpu.abi)", nullable=True),
                "android_version": Field("str", "ro.build.version.release (null on Linux boards)", nullable=True),
                "sdk": Field("str", "ro.build.version.sdk", nullable=True),
                "kernel": Field("str", "kernel release (uname -r or /proc/version)", nullable=True),
                "cpu_clusters": Arr(_CLUSTER, "CPU clusters, fastest first"),
            },
            "the device the cell ran on",
        ),
        "build": Obj(
            {
                "dir": Field("str", "build directory on the host", nullable=True),
                "os": Field("str", "target OS: android or linux", nullable=True),
                "abi": Field("str", "target ABI", nullable=True),
                "engine": Field("str", "inference engine: onnxruntime or lite"),
                "engine_version": Field("str", "engine library version", nullable=True),
                "compiler": Field("str", "compiler and version", nullable=True),
                "binary_sha256": Field("str", "sha256 of bin/clas_system", nullable=True),
            },
            "the device build that ran",
        ),
        "edgeclas": Obj(
            {
                "version": Field("str", "edgeclas package version"),
                "git_commit": Field("str", "git commit of the edgeclas source tree", nullable=True),
                "git_dirty": Field("bool", "uncommitted changes in the source tree", nullable=True),
            },
            "the driver that ran the benchmark",
        ),
        "model": Obj(
            {
                "name": Field("str", "model name from the model manifest"),
                "arch": Field("str", "architecture, e.g. PPLCNet_x0_25", nullable=True),
                "dir": Field("str", "model directory on the host", nullable=True),
                "file": Field("str", "model file the engine loaded (relative to dir)", nullable=True),
                "format": Field("str", "onnx or nb", nullable=True),
                "sha256": Field("str", "sha256 of that model file", nullable=True),
                "precision": Field("str", "fp32, fp16, int8 …", nullable=True),
            },
            "the model",
        ),
        "settings": Obj(
            {
                "engine": Field("str", "engine asked for"),
                "threads": Field("int", "inference threads"),
                "power_mode": Field("int", "0 big cores, 1 little, 2 all, 3 no binding (Paddle Lite's meaning)"),
                "warmup": Field("int", "untimed runs before timing"),
                "repeats": Field("int", "timed runs per image"),
                "images": Field("int", "number of benchmark images"),
                "cooldown_s": Field("number", "pause before the cell on its device"),
            },
            "what was asked for",
        ),
        "latency_ms": _LATENCY,
        "peak_rss_kb": Field("int", "peak resident memory of clas_system, KiB", nullable=True),
        "affinity": Obj(
            {
                "cores": Arr(Field("int", "core index"), "cores the inference threads were bound to (empty: unbound)"),
                "clusters": Arr(Field("str", "cluster name"), "clusters those cores belong to"),
                "applied": Field("bool", "whether the binding took effect (sched_setaffinity succeeded)"),
                "note": Field("str", "how the cores were chosen, or why binding failed", nullable=True),
            },
            "where the threads ran, from clas_system's summary",
            nullable=True,
        ),
        "accuracy": Obj(
            {
                "reference": Field("str", "host engine used as reference", enum=("paddle", "onnxruntime")),
                "images": Field("int", "images compared"),
                "top1_agreement": Field("number", "fraction of images whose top-1 class equals the reference's"),
                "max_abs_dprob": Field("number", "largest |device prob - reference prob| over all images and classes"),
                "mismatched": Arr(Field("str", "image name"), "images whose top-1 differs"),
            },
            "device outputs against the host reference on the same images (null when not measured)",
            nullable=True,
        ),
    },
    "one benchmark cell",
)


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _check(spec: Spec, value: Any, path: str, problems: list[str]) -> None:
    if value is None:
        if not spec.nullable:
            problems.append(f"{path}: must not be null")
        return
    if isinstance(spec, Field):
        types = _TYPES[spec.type]
        # bool is an int in Python; a JSON true is not a valid count.
        if not isinstance(value, types) or (isinstance(value, bool) and spec.type != "bool"):
            problems.append(f"{path}: expected {spec.type}, got {_type_name(value)}")
        elif spec.enum is not None and value not in spec.enum:
            problems.append(f"{path}: {value!r} is not one of {', '.join(map(str, spec.enum))}")
    elif isinstance(spec, Arr):
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {_type_name(value)}")
            return
        for i, item in enumerate(value):
            _check(spec.item, item, f"{path}[{i}]", problems)
    else:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {_type_name(value)}")
            return
        for name, sub in spec.fields.items():
            if name not in value:
                if name not in spec.optional:
                    problems.append(f"{path}.{name}: missing".lstrip("."))
                continue
            _check(sub, value[name], f"{path}.{name}".lstrip("."), problems)
        for name in value:
            if name not in spec.fields:
                problems.append(f"{path}.{name}: unknown key (not in the results schema)".lstrip("."))


def validate_cell(record: Any) -> list[str]:
    """Every problem of ``record`` against :data:`CELL_SCHEMA` plus the cross-field rules; empty if valid."""
    problems: list[str] = []
    _check(CELL_SCHEMA, record, "", problems)
    if problems or not isinstance(record, dict):
        return problems
    if record["schema"] != SCHEMA_VERSION:
        problems.append(f"schema: version {record['schema']} is not {SCHEMA_VERSION}")
    if record["status"] == "ok":
        if record["error"] is not None:
            problems.append("error: must be null when status is ok")
        if record["latency_ms"] is None:
            problems.append("latency_ms: must be present when status is ok")
    elif record["error"] is None:
        problems.append("error: must say why when status is error")
    lat = record["latency_ms"]
    if lat is not None:
        if lat["samples"] and len(lat["samples"]) != lat["n"]:
            problems.append(f"latency_ms.n: {lat['n']} but {len(lat['samples'])} samples")
        if lat["min"] > lat["max"]:
            problems.append("latency_ms: min is greater than max")
    return problems


def check_cell(record: Any, where: str = "cell") -> None:
    """Raise :class:`ValidationError` listing every problem of ``record``."""
    problems = validate_cell(record)
    if problems:
        raise ValidationError(
            f"{where}: not a valid bench result ({len(problems)} problem(s)): " + "; ".join(problems[:8]),
            hint="see docs/results-schema.md",
        )


def field_paths(spec: Spec = CELL_SCHEMA, prefix: str = "") -> list[tuple[str, Spec]]:
    """Every documented path (``device.cpu_clusters[].name`` style) with its spec, in schema order."""
    out: list[tuple[str, Spec]] = []
    if isinstance(spec, Obj):
        for name, sub in spec.fields.items():
            path = f"{prefix}.{name}" if prefix else name
            out.append((path, sub))
            out.extend(field_paths(sub, path))
    elif isinstance(spec, Arr) and isinstance(spec.item, Obj):
        out.extend(field_paths(spec.item, prefix + "[]"))
    return out
