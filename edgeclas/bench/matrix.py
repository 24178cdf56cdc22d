"""The benchmark matrix: devices × models × engines × threads × power modes, as a list of cells.

A cell's key is a stable hash of what decides its numbers (device serial, the sha256 of the model
file the engine loads, engine, threads, power mode, warm-up, repeats), so ``--resume`` recognises a
finished cell across processes and a changed model is a new cell, never a stale "done".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .. import targets
from ..errors import ConfigError
from ..fsutil import sha256_file
from ..manifest import read_manifest

__all__ = ["POWER_MODES", "Cell", "ModelRef", "check_engines", "model_ref", "build_matrix", "cell_key"]

# Paddle Lite's power modes; edgeclas's clas_system gives them the same meaning for every engine.
POWER_MODES = {0: "big cores", 1: "little cores", 2: "all cores", 3: "no binding"}


@dataclass(frozen=True)
class ModelRef:
    """A model dir and, per engine, the file that engine loads (relative path, sha256); None if absent."""

    dir: str
    name: str
    arch: str | None
    precision: dict[str, str | None]
    files: dict[str, tuple[str, str] | None]


def check_engines(engines: Sequence[str]) -> None:
    choices = targets.model_engine_names()
    unknown = [e for e in engines if e not in choices]
    if unknown or not engines:
        raise ConfigError(
            f"--engine: unknown engine(s) {', '.join(unknown) or '(none)'}",
            hint=f"choose from {', '.join(choices)}",
        )


def model_ref(model_dir: str | Path, engines: Sequence[str]) -> ModelRef:
    """Read a model dir's manifest; the sha256 of each engine's file comes from it (verified later by deploy)."""
    check_engines(engines)
    model_dir = Path(model_dir).resolve()
    manifest = read_manifest(model_dir, "model")
    formats = manifest.get("formats", {})
    hashes = manifest.get("files", {})
    files: dict[str, tuple[str, str] | None] = {}
    precision: dict[str, str | None] = {}
    for engine in engines:
        entry = targets.engine(engine).model_entry(formats)
        rel = entry["file"] if entry else None
        if rel is None or not (model_dir / rel).is_file():
            files[engine] = None
            precision[engine] = None
            continue
        files[engine] = (rel, hashes.get(rel) or sha256_file(model_dir / rel))
        precision[engine] = entry.get("precision", "fp32")
    model = manifest.get("model", {})
    return ModelRef(
        dir=str(model_dir),
        name=str(model.get("name") or model_dir.name),
        arch=model.get("arch"),
        precision=precision,
        files=files,
    )


def cell_key(serial: str, model_sha256: str, engine: str, threads: int, power_mode: int, warmup: int, repeats: int) -> str:
    payload = json.dumps([serial, model_sha256, engine, threads, power_mode, warmup, repeats], separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Cell:
    device: str
    model: ModelRef
    engine: str
    threads: int
    power_mode: int
    warmup: int
    repeats: int

    @property
    def model_file(self) -> tuple[str, str] | None:
        return self.model.files.get(self.engine)

    @property
    def key(self) -> str:
        # A model without this engine's format still gets a stable key (from its dir), so its error
        # cell is recorded once; converting the model later changes the key and the cell runs.
        sha = self.model_file[1] if self.model_file else f"missing:{self.model.dir}"
        return cell_key(self.device, sha, self.engine, self.threads, self.power_mode, self.warmup, self.repeats)

    def label(self) -> str:
        return f"{self.model.name} {self.engine} threads={self.threads} power_mode={self.power_mode}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["key"] = self.key
        return d


def _check_values(name: str, values: Sequence[int], lo: int, hi: int | None = None) -> None:
    if not values:
        raise ConfigError(f"--{name}: no values given")
    for v in values:
        if v < lo or (hi is not None and v > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise ConfigError(f"--{name}: {v} is out of range ({rng})")


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def build_matrix(
    devices: Sequence[str],
    models: Sequence[ModelRef],
    engines: Sequence[str],
    threads: Sequence[int],
    power_modes: Sequence[int],
    warmup: int,
    repeats: int,
) -> list[Cell]:
    """All cells, grouped by device, then model, engine, power mode, threads (the order they run in)."""
    if not devices:
        raise ConfigError("no devices to benchmark", hint="pass --devices SERIAL[,SERIAL…] or --devices all")
    if not models:
        raise ConfigError("no models to benchmark", hint="pass --model MODEL_DIR[,MODEL_DIR…]")
    check_engines(engines)
    _check_values("threads", threads, 1, 64)
    _check_values("power-mode", power_modes, 0, 3)
    _check_values("warmup", [warmup], 0)
    _check_values("repeats", [repeats], 1)
    return [
        Cell(d, m, e, t, p, warmup, repeats)
        for d in _unique(devices)
        for m in models
        for e in _unique(engines)
        for p in _unique(power_modes)
        for t in _unique(threads)
    ]
