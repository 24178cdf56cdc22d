"""``edgeclas demo``: the host pipeline on the embedded default, one stage function per step.

sample data → train the small recipe briefly → export → ONNX → verify → predict, into
``OUT/data``, ``OUT/runs``, ``OUT/model``. Each step is a plain call to the stage's public function,
timed by :class:`_Steps`, so a pipeline runner can append build/deploy/bench/report steps the same way.
``OUT/manifest.json`` (``kind: "demo"``) marks the folder as the demo's own: a re-run may replace its
subfolders, while a folder that is not a demo folder is never touched.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, ModelError
from .fsutil import atomic_write_json
from .manifest import MANIFEST_NAME, read_manifest, write_manifest
from .paths import repo_root
from .predict import Prediction
from .verify import VerifyReport

__all__ = ["DEMO_RECIPE", "DemoResult", "StepResult", "demo"]

DEMO_RECIPE = "training/demo_clarity.yaml"


@dataclass(frozen=True)
class StepResult:
    name: str
    seconds: float
    summary: str


@dataclass
class DemoResult:
    out: Path
    data: Path
    run: Path
    model: Path
    verify: VerifyReport | None = None
    predictions: list[Prediction] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)


class _Steps:
    """Run named steps in order, time them, tell ``on_step`` when each starts and ends."""

    def __init__(self, on_step: Callable[[str, StepResult | None], None] | None) -> None:
        self.done: list[StepResult] = []
        self._on_step = on_step or (lambda name, result: None)

    def run(self, name: str, fn: Callable[[], Any], summary: Callable[[Any], str]) -> Any:
        self._on_step(name, None)
        t0 = time.perf_counter()
        value = fn()
        result = StepResult(name, time.perf_counter() - t0, summary(value))
        self.done.append(result)
        self._on_step(name, result)
        return value


def _claim(out: Path) -> None:
    """Make ``out`` the demo's folder, refusing a non-empty folder something else made."""
    if out.exists() and any(out.iterdir()):
        try:
            read_manifest(out, "demo")
        except ModelError:
            raise ConfigError(
                f"{out}: exists and is not an edgeclas demo folder; the demo will not write into it",
                hint="pass another --out, or remove the folder",
            ) from None
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, "demo", {"status": "running"})


def demo(
    out: str | os.PathLike[str] = "edgeclas-demo",
    *,
    num_images: int = 120,
    overrides: list[str] | tuple[str, ...] = (),
    predict_images: int = 6,
    on_step: Callable[[str, StepResult | None], None] | None = None,
) -> DemoResult:
    """Run the host demo into ``out``; returns every artifact's path, the verify report and predictions.

    ``overrides`` are extra ``-o Key.Sub=Value`` for the demo recipe (e.g. ``Global.epochs=1``).
    A verify mismatch does not raise here: the report is returned for the caller to judge.
    """
    from .data import sample
    from .export import export
    from .model_dir import ModelDir
    from .onnx_convert import convert_onnx
    from .predict import predict
    from .train import train
    from .verify import default_images, verify

    out = Path(out).resolve()
    _claim(out)
    res = DemoResult(out, out / "data", out / "runs", out / "model")
    steps = _Steps(on_step)

    info = steps.run("data", lambda: sample("clarity", res.data, num=num_images, seed=0),
                     lambda i: f"{i.train} train + {i.val} val images, labels {', '.join(i.labels)}")
    shutil.rmtree(res.run, ignore_errors=True)  # the demo's own previous run; train refuses to overwrite one
    recipe = repo_root() / DEMO_RECIPE
    trained = steps.run(
        "train",
        lambda: train(recipe, [f"Global.dataset_dir={info.root}", f"Global.output_dir={res.run}", *overrides]),
        lambda t: f"{t.epochs} epochs, {t.images_per_sec:.0f} img/s, best {_fmt_metrics(t.best_metrics)}",
    )
    steps.run("export", lambda: export(trained.best, res.model, name="clarity"), lambda p: "legacy + pir")
    steps.run("onnx", lambda: convert_onnx(res.model), lambda p: p.name)
    res.verify = steps.run("verify", lambda: verify(res.model),
                           lambda r: "engines agree" if r.passed else "MISMATCH")
    val_images = default_images(ModelDir.load(res.model), predict_images)
    res.predictions = steps.run("predict", lambda: list(predict(res.model, val_images, topk_k=2)),
                                lambda ps: f"{len(ps)} validation images")
    res.steps = steps.done
    manifest = read_manifest(out, "demo")
    manifest.update(status="done", data=str(res.data), run=str(res.run), model=str(res.model),
                    verify_passed=res.verify.passed, steps=[asdict(s) for s in res.steps])
    atomic_write_json(out / MANIFEST_NAME, manifest)
    return res


def _fmt_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in list(metrics.items())[:3]) or "-"
