"""``edgeclas convert MODEL_DIR --to nb``: a legacy Paddle program → Paddle Lite ``.nb``, checked and recorded.

Before opt runs, the legacy program is read (a corrupt file is a clear error, not an opt crash) and
checked against the known crashers of the target. opt runs in a subprocess with a timeout through
the first available route (:mod:`edgeclas.lite.runtime`). The result's header must be a sane
``.nb`` written by the pinned Paddle Lite version; only then is it moved into
``MODEL_DIR/nb/<name>_<variant>.nb`` and recorded under ``formats.nb.<variant>`` in the manifest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ConversionError, ModelError, ToolchainError
from ..fsutil import sha256_file
from ..manifest import read_manifest, update_manifest
from ..model_dir import ModelDir
from .formats import (
    TAILOR_FILES,
    FormatError,
    Tailoring,
    normalize_lite_version,
    parse_nb,
    parse_nb_header,
    parse_supported_ops,
    parse_tailoring,
    program_op_types,
    rewrite_flatten_to_reshape,
)
from .runtime import LITE_VERSION, Route, resolve_route, run_opt_bin, run_worker

__all__ = ["TARGETS", "KNOWN_CRASHERS", "NbResult", "OpsReport", "convert_nb", "model_ops", "check_lite_version",
           "check_tailored_library", "record_tailoring"]


@dataclass(frozen=True)
class _Target:
    valid_places: str  # opt's --valid_targets
    fp16: bool  # opt's enable_fp16 has kernels for it


TARGETS: dict[str, _Target] = {
    "arm": _Target("arm", True),
    "x86": _Target("x86", False),
    "opencl": _Target("opencl,arm", False),  # GPU kernels with an ARM fallback for ops OpenCL lacks
}

# (target, op) → why opt cannot take it and what to do instead, when edgeclas cannot rewrite it safely.
KNOWN_CRASHERS: dict[tuple[str, str], str] = {
    ("x86", "flatten_contiguous_range"): (
        "Paddle Lite 2.13's opt segfaults on flatten_contiguous_range (paddle.flatten / nn.Flatten) for x86; "
        "use paddle.reshape(x, [-1, C]) before the classifier and re-export, or convert for --target arm"
    ),
}
# (target, op) → a rewrite of the program into the same computation without that op.
_REWRITES = {("x86", "flatten_contiguous_range"): (rewrite_flatten_to_reshape, "reshape [0, -1]")}

_IGNORED_OPS = {"feed", "fetch"}


@dataclass(frozen=True)
class NbResult:
    path: Path
    target: str
    variant: str  # key under formats.nb: target plus precision/quant suffixes
    route: str
    opt_version: str
    precision: str
    quant: str | None
    sha256: str
    size: int
    seconds: float
    tailoring: Tailoring | None = None  # the ops/kernels the .nb needs (what a tailored library must have)


@dataclass(frozen=True)
class OpsReport:
    target: str
    ops: dict[str, int]  # op type → count, in program order
    unsupported: list[str]
    crashers: dict[str, str]  # op → why it is refused on this target
    rewrites: dict[str, str]  # op → what edgeclas replaces it with before opt (same computation)
    route: str


def _plan_rewrites(target: str, program: bytes, ops: list[str]) -> tuple[bytes, dict[str, str], dict[str, str]]:
    """(program to give opt, {op: rewritten as}, {op: why refused}) for the target's known crashers."""
    rewrites, refused = {}, {}
    for op in dict.fromkeys(ops):
        if (target, op) not in KNOWN_CRASHERS:
            continue
        rewrite, becomes = _REWRITES.get((target, op), (None, ""))
        if rewrite is None:
            refused[op] = KNOWN_CRASHERS[(target, op)]
            continue
        new, count, why_not = rewrite(program)
        if why_not:
            refused[op] = f"{'; '.join(why_not)}; {KNOWN_CRASHERS[(target, op)]}"
        else:
            program, rewrites[op] = new, f"{becomes} (x{count})"
    return program, rewrites, refused


def check_lite_version(nb_entry: dict[str, Any], build_lite_version: str) -> None:
    """Refuse a ``.nb`` whose opt version differs from a device build's Paddle Lite library version."""
    made_by = str(nb_entry.get("opt_version") or "")
    if normalize_lite_version(made_by) != normalize_lite_version(build_lite_version):
        file = nb_entry.get("file", "the .nb")
        raise ConversionError(
            f"{file} was made by Paddle Lite opt {made_by or '(unknown version)'} but the device build uses "
            f"Paddle Lite {build_lite_version}; they must be the same version",
            hint=f"re-convert with opt {build_lite_version} (edgeclas convert MODEL --to nb --opt-bin OPT) "
            f"or rebuild against Paddle Lite {made_by or LITE_VERSION}",
        )


def check_tailored_library(nb_entry: dict[str, Any], library: dict[str, Any] | None, model_dir: str | os.PathLike[str],
                           build: str | os.PathLike[str] | None, target: dict[str, Any]) -> None:
    """Refuse a ``.nb`` that needs kernels a tailored Paddle Lite library lacks (it would abort on the device).

    ``library``: a build manifest's ``engine.library`` section (``tailored_kernels`` None: every kernel);
    ``target``: its ``target`` section (for the rebuild command in the hint).
    """
    tailored = (library or {}).get("tailored_kernels")
    if tailored is None:
        return
    arch, os_name = target.get("arch", "ARCH"), target.get("os", "OS")
    file = nb_entry.get("file", "the .nb")
    needed = nb_entry.get("kernels")
    still_there = [m for m in (library or {}).get("tailored_models", []) if Path(m).is_dir()]
    rebuild = (f"edgeclas sdk build paddle-lite --arch {arch} --os {os_name} --tailor "
               + ",".join(dict.fromkeys([*still_there, str(model_dir)]))
               + f" && edgeclas build --arch {arch} --os {os_name} --engine lite --out {build or 'BUILD_DIR'}")
    if needed is None:
        raise ConversionError(
            f"{model_dir}: {file} does not record which kernels it needs (converted by an older edgeclas), and the "
            f"Paddle Lite library of {build} is tailored to {len(tailored)} kernels",
            hint=f"re-convert it: edgeclas convert {model_dir} --to nb --target arm")
    have = set(tailored)
    missing = [k for k in needed if k not in have]
    if missing:
        ops = list(dict.fromkeys(k.split(",")[0] for k in missing))
        raise ToolchainError(
            f"{model_dir}: {file} needs ops the tailored Paddle Lite library of {build} lacks: {', '.join(ops)} "
            f"({len(missing)} kernel(s): {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''})",
            hint=f"rebuild the library for this model too: {rebuild}")


def _build_lite_version(build: str | os.PathLike[str]) -> str:
    m = read_manifest(build, "build")
    engine = m.get("engine") or {}
    if engine.get("name") != "lite":
        raise ConfigError(
            f"{build}: built with engine '{engine.get('name')}', which does not run .nb models",
            hint="build one with: edgeclas build --arch ARCH --engine lite",
        )
    return str(engine.get("version") or "")


def _legacy_program(md: ModelDir) -> tuple[Path, Path, bytes, list[str]]:
    """(pdmodel, pdiparams, its bytes, op types) of the legacy export, exported on demand from the checkpoint."""
    if not md.has("legacy"):
        _export_legacy_on_demand(md)
        md = ModelDir.load(md.path)
    prog, params = md.paddle_files("legacy")
    program = prog.read_bytes()
    try:
        ops = program_op_types(program)
    except FormatError as e:
        raise ModelError(
            f"{prog}: not a readable Paddle legacy program ({e})",
            hint=f"the file is corrupt or truncated; re-export with: edgeclas export CHECKPOINT --out {md.path}",
        ) from None
    if params.stat().st_size == 0:
        raise ModelError(f"{params}: empty parameter file", hint="re-export the model")
    return prog, params, program, ops


def _export_legacy_on_demand(md: ModelDir) -> None:
    ckpt = (md.manifest.get("inputs") or {}).get("checkpoint")
    why = "opt reads only legacy .pdmodel programs and a PIR .json program cannot be turned back into one"
    if not md.has("pir") and not ckpt:
        raise ConversionError(f"{md.path}: has neither a legacy nor a PIR export", hint="run edgeclas export first")
    if not ckpt or not (Path(ckpt) / "manifest.json").is_file():
        raise ConversionError(
            f"{md.path}: has only a PIR program and its checkpoint "
            f"{'is not recorded' if not ckpt else ckpt + ' no longer exists'}; {why}",
            hint=f"re-export from the checkpoint: edgeclas export CHECKPOINT --out {md.path} (writes legacy and PIR)",
        )
    from ..export import export

    with tempfile.TemporaryDirectory(dir=md.path, prefix=".legacy-") as tmp:
        out = Path(tmp) / "model"
        export(ckpt, out, formats=("legacy",), name=md.name)
        fresh = read_manifest(out, "model")
        dest = md.path / "legacy"
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(out / "legacy", dest)

    def add(m: dict[str, Any]) -> list[str]:
        m.setdefault("formats", {})["legacy"] = fresh["formats"]["legacy"]
        return list(fresh["formats"]["legacy"].values())

    update_manifest(md.path, "model", add)


def _check_target(target: str, fp16: bool, quant: str | None) -> _Target:
    if target not in TARGETS:
        raise ConfigError(f"unknown .nb target '{target}'", hint=f"use one of: {', '.join(TARGETS)}")
    spec = TARGETS[target]
    if fp16 and not spec.fp16:
        raise ConfigError(f"--fp16 has no kernels on target '{target}'", hint="use --fp16 with --target arm only")
    if quant not in (None, "int8", "int16"):
        raise ConfigError(f"unknown --quant '{quant}'", hint="use int8 or int16 (weight-only dynamic quantization)")
    return spec


def _supported_ops(route: Route, spec: _Target, timeout: float) -> set[str]:
    if route.can_run_models:
        text = run_worker(route, ["ops", "--targets", spec.valid_places], timeout=timeout, what="opt (supported ops)")["text"]
    else:
        text = run_opt_bin(route, ["--print_supported_ops=true", f"--valid_targets={spec.valid_places}"],
                           timeout=timeout, what="opt --print_supported_ops")
    try:
        return set(parse_supported_ops(text))
    except FormatError as e:
        raise ConversionError(f"could not read opt's supported-ops table ({route.kind} route): {e}") from None


def _run_opt(route: Route, spec: _Target, prog: Path, params: Path, prefix: str, fp16: bool, quant: str | None,
             timeout: float) -> None:
    """opt through a worker (module/compat) or an executable (gflags-style args); writes ``prefix``.nb and the
    tailoring lists (the ops and kernels the .nb needs) into the directory ``prefix``/."""
    if route.can_run_models:
        args = ["opt", "--model-file", str(prog), "--param-file", str(params), "--out", prefix, "--record",
                "--targets", spec.valid_places] + (["--fp16"] if fp16 else []) + (["--quant", quant] if quant else [])
        run_worker(route, args, timeout=timeout, what="opt")
    else:
        args = [f"--model_file={prog}", f"--param_file={params}", "--optimize_out_type=naive_buffer",
                f"--optimize_out={prefix}", f"--valid_targets={spec.valid_places}", "--record_tailoring_info=true"]
        args += ["--enable_fp16=true"] if fp16 else []
        args += ["--quant_model=true", f"--quant_type=QUANT_{quant.upper()}"] if quant else []
        run_opt_bin(route, args, timeout=timeout)


def _read_tailoring(directory: Path, route: Route) -> Tailoring:
    texts = {}
    for names in TAILOR_FILES.values():
        for name in names:
            try:
                texts[name] = (directory / name).read_text()
            except OSError:
                pass  # parse_tailoring names the missing file
    try:
        return parse_tailoring(texts)
    except FormatError as e:
        raise ConversionError(f"opt ({route.kind} route) did not record the model's ops and kernels: {e}",
                              hint="this opt may not support record_model_info; use the compat runtime "
                                   "(unset EDGECLAS_LITE_OPT)") from None


def model_ops(
    model_dir: str | os.PathLike[str], target: str = "arm", *, opt_bin: str | None = None, timeout: float = 120
) -> OpsReport:
    """The model's ops and which of them the target lacks (opt's own table) or is known to crash on."""
    spec = _check_target(target, False, None)
    md = ModelDir.load(model_dir)
    _, _, program, ops = _legacy_program(md)
    _, rewrites, crashers = _plan_rewrites(target, program, ops)
    route = resolve_route(opt_bin)
    supported = _supported_ops(route, spec, timeout)
    counts = Counter(o for o in ops if o not in _IGNORED_OPS)
    unsupported = sorted(o for o in counts if o not in supported)
    return OpsReport(target, dict(counts), unsupported, crashers, rewrites, route.kind)


def convert_nb(
    model_dir: str | os.PathLike[str],
    *,
    target: str = "arm",
    fp16: bool = False,
    quant: str | None = None,
    out: str | os.PathLike[str] | None = None,
    opt_bin: str | os.PathLike[str] | None = None,
    build: str | os.PathLike[str] | None = None,
    timeout: float = 600,
    verify: bool = True,
) -> NbResult:
    """Convert ``model_dir``'s legacy export to ``.nb`` for ``target`` and record it in the manifest.

    ``build``: a device build directory; its Paddle Lite version must equal the opt version used
    (default: the pinned :data:`LITE_VERSION`). The legacy program is checked against the manifest
    first (``verify``); the written ``.nb`` must be whole (every parameter record inside the file) and,
    for x86, load and run in Paddle Lite here, before it is recorded. ``out`` outside the model
    directory is recorded relative to it (``../elsewhere/m.nb``), hashes included.
    """
    spec = _check_target(target, fp16, quant)
    md = ModelDir.load(model_dir, verify=verify)
    expected = _build_lite_version(build) if build else LITE_VERSION
    variant = target + ("_fp16" if fp16 else "") + (f"_{quant}" if quant else "")
    dest = Path(out) if out else md.path / "nb"
    if dest.is_dir() or not out:
        dest = dest / f"{md.name}_{variant}.nb"
    result, prog, rewrites, checked = _opt(md, spec, target, fp16, quant, dest, opt_bin, expected,
                                  f"by the device build {build}" if build else f"edgeclas pins {LITE_VERSION}", timeout)
    tailoring = result.tailoring
    assert tailoring is not None  # _opt always records it
    # relative even outside the model dir: the manifest never holds an absolute path that verify/predict
    # would read unchecked, and a model dir moved together with its neighbour keeps working
    rel = Path(os.path.relpath(dest.resolve(), md.path.resolve())).as_posix()

    def record(m: dict[str, Any]) -> list[str]:
        m.setdefault("formats", {}).setdefault("nb", {})[variant] = {
            "file": rel, "target": target, "valid_targets": spec.valid_places, "opt_version": result.opt_version,
            "route": result.route, "precision": result.precision, "quant": quant, "sha256": result.sha256,
            "size": result.size, "from": os.path.relpath(prog, md.path), "checked": checked,
            "rewrites": {op: f"rewritten as {as_}" for op, as_ in rewrites.items()},
            # What a tailored Paddle Lite library must contain to run this .nb (checked before a deploy).
            "ops": tailoring.op_names,
            "kernels": tailoring.kernel_specs,
        }
        return [rel]

    update_manifest(md.path, "model", record)
    return result


def record_tailoring(
    model_dir: str | os.PathLike[str],
    *,
    target: str = "arm",
    fp16: bool = False,
    opt_bin: str | os.PathLike[str] | None = None,
    timeout: float = 600,
) -> Tailoring:
    """The ops and kernels (with their source files) a ``.nb`` of this model needs: opt's record, as Paddle
    Lite's tailored build reads it. Converts into a temporary directory; the model dir is not touched."""
    spec = _check_target(target, fp16, None)
    md = ModelDir.load(model_dir)
    with tempfile.TemporaryDirectory(prefix="edgeclas-tailor-") as tmp:
        result, _, _, _ = _opt(md, spec, target, fp16, None, Path(tmp) / "model.nb", opt_bin, LITE_VERSION,
                            f"edgeclas pins {LITE_VERSION}", timeout)
    assert result.tailoring is not None
    return result.tailoring


def _opt(md: ModelDir, spec: _Target, target: str, fp16: bool, quant: str | None, dest: Path,
         opt_bin: str | os.PathLike[str] | None, expected: str, why_expected: str,
         timeout: float) -> tuple[NbResult, Path, dict[str, str], str]:
    """Run opt on the legacy program into ``dest`` (whole file checked, loaded and run where a runtime exists,
    tailoring recorded); (result, program, rewrites, how the file was checked)."""
    prog, params, program, ops = _legacy_program(md)
    program, rewrites, refused = _plan_rewrites(target, program, ops)
    if refused:
        op, why = next(iter(refused.items()))
        raise ConversionError(f"{prog}: contains {op}, refused for --target {target}", hint=why)

    route = resolve_route(opt_bin)
    if route.version and normalize_lite_version(route.version) != normalize_lite_version(expected):
        raise ConversionError(
            f"opt at {route.where} is Paddle Lite {route.version}, but {expected} is required ({why_expected})",
            hint=f"use opt {expected} (--opt-bin), or unset EDGECLAS_LITE_OPT to use the compat runtime",
        )

    variant = target + ("_fp16" if fp16 else "") + (f"_{quant}" if quant else "")
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".opt-") as tmp:
        prefix = str(Path(tmp) / "model")
        if rewrites:  # opt reads the rewritten program; the parameters are unchanged
            prog_in = Path(tmp) / "inference.pdmodel"
            prog_in.write_bytes(program)
        else:
            prog_in = prog
        try:
            _run_opt(route, spec, prog_in, params, prefix, fp16, quant, timeout)
        except ConversionError as e:
            if "crashed" in e.message and "flatten_contiguous_range" in ops:
                e.hint = ("the model has flatten_contiguous_range, which crashes opt 2.13 in several patterns; "
                          "use paddle.reshape(x, [-1, C]) instead and re-export")
            raise
        produced = Path(prefix + ".nb")
        if not produced.is_file():
            raise ConversionError(f"opt ({route.kind} route) reported success but wrote no {produced.name}")
        data = produced.read_bytes()
        try:
            header = parse_nb_header(data)
            check_lite_version({"file": dest.name, "opt_version": header.opt_version}, expected)
            parse_nb(data)  # then the whole file: every parameter record inside it
        except FormatError as e:
            raise ConversionError(f"opt ({route.kind} route) wrote a broken .nb: {e}") from None
        checked = "whole file read (header and every parameter record); no Paddle Lite runtime for " \
                  f"{target} on this host"
        if target == "x86":  # the only target whose runtime exists here
            from ..engines.lite import check_nb

            checked = check_nb(produced, md.input_size, md.class_num, md.multilabel) or \
                "whole file read; no Paddle Lite runtime that runs models here (an opt binary only)"
        tailoring = _read_tailoring(Path(prefix), route)
        os.replace(produced, dest)
    seconds = time.monotonic() - started
    result = NbResult(dest, target, variant, route.kind, header.opt_version, "fp16" if fp16 else "fp32",
                      quant, sha256_file(dest), dest.stat().st_size, seconds, tailoring)
    return result, prog, rewrites, checked
