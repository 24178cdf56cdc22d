"""``edgeclas verify``: do all engines give the same probabilities on the same images?

Every available host engine runs the one batch preprocessed with the model's own
:class:`~edgeclas.preprocess.PreprocessConfig`; each is compared with Paddle Inference (the
reference) by max |Δprob| and by agreement of the answers: the top-1 class, or for a model with a
threshold (binary ``ThreshOutput``, multi-label) the classes the model's post-processing decides. With
``device``, each device engine (Paddle Lite on the arm ``.nb``, ONNX Runtime) also runs the same images
through ``clas_system`` on that device (deployed like ``edgeclas deploy``, decoding and preprocessing in
C++ there) and gets a row in the same table. Failures of every engine are collected first, then
:meth:`VerifyReport.raise_for_failures` raises one :class:`ValidationError` naming them all.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import ConfigError, DataError, EdgeclasError, ValidationError
from .model_dir import ModelDir
from .preprocess import list_images, load_batch

__all__ = ["DEFAULT_TOL", "EngineCheck", "VerifyReport", "verify", "default_images"]

DEFAULT_TOL = 1e-4
REFERENCE = "paddle"


@dataclass(frozen=True)
class EngineCheck:
    engine: str
    status: str  # "reference" | "ok" | "mismatch" | "error" | "skipped"
    detail: str = ""  # version and file run, or why it was skipped / failed
    max_abs_diff: float | None = None
    # fraction of images answered as the reference does: same top-1 class, or the same decided classes for
    # a thresholded model (ThreshOutput, MultiLabelThreshOutput)
    top1_agreement: float | None = None
    seconds: float | None = None  # one forward pass over the whole batch (after load); host engines only
    where: str = "host"  # "host", or the device serial the engine ran on

    @property
    def label(self) -> str:
        return self.engine if self.where == "host" else f"{self.engine} on {self.where}"


@dataclass(frozen=True)
class VerifyReport:
    model_dir: Path
    images: list[str]
    tol: float
    checks: list[EngineCheck] = field(default_factory=list)
    postprocess: str = "Topk"  # how answers were compared (the model's post-processing, threshold included)

    @property
    def failures(self) -> list[EngineCheck]:
        return [c for c in self.checks if c.status in ("mismatch", "error")]

    @property
    def passed(self) -> bool:
        return not self.failures

    def raise_for_failures(self) -> None:
        if self.failures:
            what = "; ".join(
                f"{c.label}: max |Δprob| {c.max_abs_diff:.2e}" if c.status == "mismatch" else f"{c.label}: {c.detail}"
                for c in self.failures
            )
            raise ValidationError(
                f"{self.model_dir}: engines disagree with {REFERENCE} beyond tol {self.tol:g} on "
                f"{len(self.images)} images ({what})",
                hint="re-export/re-convert the model; --tol raises the tolerance if the difference is expected",
            )

    def table(self):
        """A rich Table of the checks (rich imported here so the dataclass stays cheap)."""
        from rich.table import Table

        t = Table(title=f"verify {self.model_dir.name}: {len(self.images)} images, tol {self.tol:g}, "
                        f"answers by {self.postprocess}")
        agree = "top-1 agree" if self.postprocess == "Topk" else "answers agree"
        for col in ("engine", "where", "status", "max |Δprob|", agree, "batch ms"):
            t.add_column(col, no_wrap=True)
        t.add_column("detail", overflow="fold")
        colour = {"reference": "cyan", "ok": "green", "mismatch": "red", "error": "red", "skipped": "yellow"}
        for c in self.checks:
            t.add_row(
                c.engine,
                c.where,
                f"[{colour[c.status]}]{c.status}[/]",
                "" if c.max_abs_diff is None else f"{c.max_abs_diff:.2e}",
                "" if c.top1_agreement is None else f"{c.top1_agreement:.0%}",
                "" if c.seconds is None else f"{c.seconds * 1e3:.1f}",
                c.detail,
            )
        return t


def default_images(model: ModelDir, limit: int) -> list[Path]:
    """The first ``limit`` images of the model's validation list (recorded at export)."""
    if model.val_list is None or not model.val_list.is_file():
        raise DataError(
            f"{model.path}: no validation list recorded or it is gone ({model.val_list})",
            hint="pass --images PATH",
        )
    out = []
    for line in model.val_list.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(model.dataset_root / line.split()[0])
        if len(out) == limit:
            break
    if not out:  # comparing engines on no image would pass without comparing anything
        raise DataError(f"{model.val_list}: the model's validation list is empty", hint="pass --images PATH")
    return out


def verify(
    model_dir: str | os.PathLike[str],
    images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    engines: Sequence[str] | None = None,
    tol: float = DEFAULT_TOL,
    limit: int = 16,
    threads: int | None = None,
    threshold: float | None = None,
    *,
    verify: bool = True,
    device: str | None = None,
    device_engines: Sequence[str] | None = None,
    builds: Sequence[str | os.PathLike[str]] = (),
    adb_server: str | None = None,
    os_name: str | None = None,
) -> VerifyReport:
    """Run the engines (default: every one available) on the same batch; never raises for a mismatch.

    ``verify``: each engine's files are checked against the model's manifest before it loads them.
    ``device``: also run ``device_engines`` there (default: every engine that runs models, from
    :data:`edgeclas.targets.ENGINES`; builds from ``builds``, ``build/<os>-<arch>-<engine>`` or made like
    ``edgeclas deploy`` does), one row per engine.
    ``threshold`` overrides the model's recorded one for the answer comparison.
    """
    from . import engines as registry
    from .predict import postprocess, postprocess_for

    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ConfigError(f"--tol {tol!r}: must be a finite number >= 0", hint=f"the default is {DEFAULT_TOL:g}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"--limit {limit!r}: must be an integer >= 1")
    model = ModelDir.load(model_dir, verify=verify)
    post = postprocess_for(model, 1, threshold)

    def answers(probs: np.ndarray) -> list[list[int]]:
        return [p.class_ids for p in postprocess(probs, [""] * len(probs), model.labels, 1, post.threshold, post.name)]

    if images is None:
        paths = default_images(model, limit)
    elif isinstance(images, (str, os.PathLike)):
        paths = list_images(images, limit=limit)
    else:
        paths = [Path(p) for p in images]
    batch = load_batch(paths, model.preprocess)
    avail = registry.available(model)
    wanted = list(engines) if engines else list(avail)
    wanted = [REFERENCE] + [n for n in wanted if n != REFERENCE]
    ref_ok, ref_why = avail.get(REFERENCE, (False, "not registered"))
    if not ref_ok:
        try:  # loading it raises the engine's own error, with its hint (a damaged file: what to re-make)
            registry.load(REFERENCE, model, threads=threads)
        except EdgeclasError as e:
            raise ValidationError(f"the reference engine '{REFERENCE}' cannot run: {e.message}", hint=e.hint) from None
        raise ValidationError(f"the reference engine '{REFERENCE}' cannot run: {ref_why}")

    checks: list[EngineCheck] = []
    ref: np.ndarray | None = None
    for name in wanted:
        ok, why = avail.get(name, (False, f"unknown engine (known: {', '.join(avail)})"))
        if not ok:
            # an engine asked for by name but unusable is a failure; one merely not installed is a skip
            why = why.removeprefix(f"{model.path}: ")
            checks.append(EngineCheck(name, "error" if engines and name in engines else "skipped", why))
            continue
        try:
            predictor = registry.load(name, model, threads=threads)
            t0 = time.perf_counter()
            probs = predictor(batch)
            seconds = time.perf_counter() - t0
        except EdgeclasError as e:
            if name == REFERENCE:
                raise ValidationError(f"the reference engine '{REFERENCE}' failed: {e.message}", hint=e.hint) from None
            checks.append(EngineCheck(name, "error", e.message))
            continue
        detail = f"{predictor.version} {predictor.source}"
        if name == REFERENCE:
            ref = probs
            checks.append(EngineCheck(name, "reference", detail, 0.0, 1.0, seconds))
            continue
        assert ref is not None  # REFERENCE is first in ``wanted``
        diff = float(np.abs(probs - ref).max()) if len(probs) else 0.0
        agree = float(np.mean([a == b for a, b in zip(answers(probs), answers(ref))])) if len(probs) else 1.0
        # The tolerance is on probabilities; top-1 agreement is reported (near-ties may flip legitimately).
        checks.append(EngineCheck(name, "ok" if diff <= tol else "mismatch", detail, diff, agree, seconds))
    if device is not None:
        assert ref is not None
        checks += _device_checks(model, paths, ref, tol, device, device_engines, builds, adb_server, os_name,
                                 threads or 1, answers, verify)
    thr = f" ≥ {post.threshold:.4g}" if post.threshold is not None else ""
    return VerifyReport(model.path, [str(p) for p in paths], tol, checks, f"{post.name}{thr}")


def _device_checks(model: ModelDir, paths: list[Path], ref: np.ndarray, tol: float, serial: str,
                   engines: Sequence[str] | None, builds: Sequence[str | os.PathLike[str]], adb_server: str | None,
                   os_name: str | None, threads: int,
                   answers: Callable[[np.ndarray], list[list[int]]], verify: bool = True) -> list[EngineCheck]:
    """One row per device engine: clas_system's probabilities for the same images against the host reference."""
    import tempfile

    from .build import device_target, locate
    from .deploy import RunSettings, deploy
    from .device import AdbServer, select_device
    from .targets import model_engine_names

    known = model_engine_names()
    engines = list(engines) if engines else known
    unknown = [e for e in engines if e not in known]
    if unknown:
        raise ValidationError(f"--device-engines: unknown device engine(s) {', '.join(unknown)}",
                              hint=f"choose from {', '.join(known)}")
    dev = select_device(serial, AdbServer.resolve(adb_server))
    info = dev.info()
    checks = []
    for engine in engines:
        try:
            build_dir = locate(device_target(info, os_name), engine, given=builds, verify=verify)
            with tempfile.TemporaryDirectory(prefix="edgeclas-verify-") as td:
                res = deploy(dev.serial, model.path, paths, build_dir=build_dir,
                             settings=RunSettings(threads=threads, warmup=0, repeats=1), engine=engine,
                             adb_server=adb_server, os_name=os_name, bundle_dir=Path(td) / "bundle",
                             out=Path(td) / "result.json", verify=verify)
        except EdgeclasError as e:
            checks.append(EngineCheck(engine, "error", e.message + (f" (hint: {e.hint})" if e.hint else ""),
                                      where=dev.serial))
            continue
        got = []
        for rel in res.bundle.images:
            p = res.run.prediction(rel)
            got.append(p.probs if p is not None and p.probs is not None else None)
        if any(g is None for g in got) or len(got) != len(ref):
            checks.append(EngineCheck(engine, "error", "clas_system printed no probabilities for some images",
                                      where=dev.serial))
            continue
        # deploy orders images by their bundle names; the reference is in the order given
        order = {str(Path(src).resolve()): i for i, src in enumerate(paths)}
        ref_rows = np.stack([ref[order[str(Path(res.bundle.image_sources[rel]).resolve())]] for rel in res.bundle.images])
        probs = np.asarray(got, dtype=np.float64)
        diff = float(np.abs(probs - ref_rows).max()) if len(probs) else 0.0
        agree = float(np.mean([a == b for a, b in zip(answers(probs), answers(ref_rows))])) if len(probs) else 1.0
        lat = res.run.latency
        per_image = f", {lat.mean:.1f} ms per image" if lat and lat.mean is not None else ""
        detail = (f"{res.run.engine_version or res.bundle.engine_version} {res.bundle.target.get('os')}-"
                  f"{res.bundle.target.get('arch')} clas_system{per_image}; build {build_dir}")
        checks.append(EngineCheck(engine, "ok" if diff <= tol else "mismatch", detail, diff, agree, where=dev.serial))
    return checks
