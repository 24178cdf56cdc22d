"""The settings of one ``edgeclas serve``, validated in one place and handed to every worker as JSON."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

from ..errors import ConfigError, ModelError
from ..model_dir import ModelDir

__all__ = ["ServeSettings", "resolve"]

ENGINE_PREFERENCE = ("onnxruntime", "paddle", "lite")  # "auto": the first that runs this model here


@dataclass(frozen=True)
class ServeSettings:
    model_dir: str
    engine: str = "auto"  # onnxruntime | paddle | lite | auto
    host: str = "127.0.0.1"
    port: int = 8868
    workers: int = 1  # server processes, each with its own engine and batcher
    threads: int = 1  # CPU threads of each engine
    max_batch: int = 8  # images per engine call
    max_delay_ms: float = 2.0  # how long the first image of a batch waits for others
    topk: int = 5
    threshold: float | None = None  # /predict reports only classes with probability >= threshold
    max_body_mb: float = 20.0
    max_pixels: int = 40_000_000  # per image, as stored and after the short-side resize
    access_log: bool = True

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeSettings":
        return cls(**json.loads(text))


def _check(ok: bool, option: str, value: object, want: str) -> None:
    if not ok:
        raise ConfigError(f"{option} {value!r}: must be {want}")


def resolve(settings: ServeSettings) -> ServeSettings:
    """Check every setting and the model; ``engine="auto"`` becomes the engine that will run.

    Raises :class:`ConfigError` naming the option, or the model's/engine's own error.
    """
    s = settings
    _check(0 <= s.port <= 65535, "--port", s.port, "0-65535")
    _check(s.workers >= 1, "--workers", s.workers, ">= 1")
    _check(s.threads >= 1, "--threads", s.threads, ">= 1")
    _check(s.max_batch >= 1, "--max-batch", s.max_batch, ">= 1")
    _check(0 <= s.max_delay_ms <= 10_000, "--max-delay-ms", s.max_delay_ms, "0-10000")
    _check(s.topk >= 1, "--topk", s.topk, ">= 1")
    _check(s.threshold is None or 0.0 <= s.threshold <= 1.0, "--threshold", s.threshold, "between 0 and 1")
    _check(s.max_body_mb > 0, "--max-body-mb", s.max_body_mb, "> 0")
    _check(s.max_pixels >= 1, "--max-pixels", s.max_pixels, ">= 1")
    from .. import engines

    model = ModelDir.load(s.model_dir)
    avail = engines.available(model)
    if s.engine == "auto":
        usable = [name for name in ENGINE_PREFERENCE if avail.get(name, (False, ""))[0]]
        if not usable:
            reasons = "; ".join(f"{name}: {why}" for name, (ok, why) in avail.items())
            raise ModelError(f"{model.path}: no host engine can run this model here ({reasons})",
                             hint=f"convert it (edgeclas convert {model.path} --to onnx) or install an engine (edgeclas doctor)")
        engine = usable[0]
    elif s.engine not in avail:
        raise ConfigError(f"--engine {s.engine!r}: unknown engine", hint=f"use one of: auto, {', '.join(avail)}")
    else:
        ok, why = avail[s.engine]
        if not ok:
            raise ModelError(f"--engine {s.engine}: cannot run {model.path} here: {why}",
                             hint="pick another engine (--engine auto takes the first that can)")
        engine = s.engine
    return dataclasses.replace(s, model_dir=os.fspath(model.path.resolve()), engine=engine)
