"""``edgeclas bench``: latency, memory and on-device accuracy over devices × models × engines × threads × power modes.

The pieces: :mod:`.matrix` (cells and their stable keys), :mod:`.runner` (one worker per device,
each holding its device's lock, appending to results.jsonl), :mod:`.results` (reading results.jsonl),
:mod:`.session` (a device session over edgeclas.deploy), :mod:`.accuracy` (device vs host reference),
:mod:`.schema` (the record format, docs/results-schema.md); statistics from raw samples are
:mod:`edgeclas.stats`, device locks :mod:`edgeclas.device.lock`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ConfigError, DataError

__all__ = ["BenchResult", "bench", "default_images"]

DEFAULT_IMAGES = 4


@dataclass
class BenchResult:
    run_dir: Path
    results_path: Path
    total: int
    ran: int
    skipped: int
    errors: int
    device_failures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.errors == 0 and not self.device_failures


def default_images(model_dir: str | os.PathLike[str], n: int = DEFAULT_IMAGES) -> list[Path]:
    """The first ``n`` validation images of the dataset the model was trained on (from its manifest)."""
    from ..model_dir import ModelDir
    from ..verify import default_images as validation_images

    paths = validation_images(ModelDir.load(model_dir), n)
    missing = [p for p in paths if not Path(p).is_file()]
    if missing or not paths:
        raise DataError(
            f"{model_dir}: the model's validation images are gone ({missing[0] if missing else 'none listed'})",
            hint="pass --images FILE_OR_FOLDER",
        )
    return [Path(p) for p in paths]


def _resolve_images(images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None, first_model: str) -> list[Path]:
    from ..preprocess import list_images

    if images is None:
        return default_images(first_model)
    if isinstance(images, (str, os.PathLike)):
        found = list_images(images)
        if not found:
            raise DataError(f"{images}: no images (.jpg/.jpeg/.png/.bmp) found")
        return [Path(p) for p in found]
    return [Path(p) for p in images]


def bench(
    devices: str | Sequence[str],
    models: Sequence[str | os.PathLike[str]],
    *,
    engines: Sequence[str] = ("onnxruntime",),
    threads: Sequence[int] = (1,),
    power_modes: Sequence[int] = (0,),
    warmup: int = 1,
    repeats: int = 20,
    cooldown_s: float = 0.0,
    images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    retry_errors: bool = False,
    adb_server: str | None = None,
    builds: Sequence[str | os.PathLike[str]] = (),
    build_root: str | os.PathLike[str] = "build",
    allow_build: bool = True,
    os_name: str | None = None,
    timeout_s: float = 600.0,
    reference: str | None = "paddle",
    lock_timeout_s: float = 600.0,
    progress: Callable[[str], None] = print,
    session_factory: Callable[[str], Any] | None = None,
    verify: bool = True,
) -> BenchResult:
    """Run the matrix (see :mod:`edgeclas.bench.runner`); ``devices`` is ``"all"``, ``"a,b"`` or a list."""
    from ..manifest import write_manifest
    from .matrix import build_matrix, check_settings, model_ref
    from .results import RESULTS_NAME, read_results
    from .runner import run_matrix
    from .session import BuildCache, DeploySession, ReferenceCache

    if not models:
        raise ConfigError("no models to benchmark", hint="pass --model MODEL_DIR[,MODEL_DIR…]")
    # Everything local is checked before any device is contacted: the settings first, then the models.
    check_settings(engines, threads, power_modes, warmup, repeats)
    refs = [model_ref(m, engines) for m in models]
    image_paths = _resolve_images(images, refs[0].dir)
    build_matrix(["?"], refs, engines, threads, power_modes, warmup, repeats)
    if isinstance(devices, str):
        from ..device import AdbServer, select_devices

        serials = [d.serial for d in select_devices(devices, AdbServer.resolve(adb_server))]
    else:
        serials = list(devices)
    cells = build_matrix(serials, refs, engines, threads, power_modes, warmup, repeats)
    run_dir = Path(out) if out else Path("runs") / datetime.now(timezone.utc).strftime("bench-%Y%m%d-%H%M%S")
    if not resume and read_results(run_dir / RESULTS_NAME):
        raise ConfigError(f"{run_dir / RESULTS_NAME}: already holds results",
                          hint="pass --resume to continue that run, or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(run_dir, "bench", {
        "bench": {
            "devices": serials, "models": [r.dir for r in refs], "engines": list(engines), "threads": list(threads),
            "power_modes": list(power_modes), "warmup": warmup, "repeats": repeats, "cooldown_s": cooldown_s,
            "images": [str(p.resolve()) for p in image_paths], "reference": reference,
            "cells": [c.key for c in cells], "results": RESULTS_NAME,
        },
    })
    if session_factory is None:
        build_cache = BuildCache(Path(build_root), [Path(b) for b in builds], allow_build, verify)
        ref_cache = ReferenceCache(reference, verify=verify) if reference else None

        def session_factory(serial: str) -> DeploySession:
            return DeploySession(serial, images=image_paths, work_dir=run_dir, builds=build_cache,
                                 references=ref_cache, adb_server=adb_server, os_name=os_name, timeout_s=timeout_s,
                                 verify=verify)

    res = run_matrix(cells, run_dir, session_factory, images=len(image_paths), resume=resume,
                     retry_errors=retry_errors, cooldown_s=cooldown_s, lock_timeout_s=lock_timeout_s, progress=progress)
    return BenchResult(run_dir, res.results_path, res.total, res.ran, res.skipped, res.errors, res.device_failures)
