"""``edgeclas demo``: :func:`edgeclas.pipeline.run_pipeline` on the embedded default pipeline.

``edgeclas/resources/demo.yaml``: sample clarity data → train PP-LCNet x0.25 at 64² briefly → export
→ ONNX + .nb → verify → armv8 Linux build → deploy to an emulated armv8 device (started and stopped
by the pipeline) → bench at 1 and 2 threads → report. Writes ``OUT/data``, ``OUT/runs``,
``OUT/model``, ``OUT/build``, ``OUT/bench``, ``OUT/report``; a re-run skips what is up to date.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from .pipeline import DEMO_PIPELINE, PipelineResult, StageOutcome, load_pipeline, run_pipeline

__all__ = ["DEMO_PIPELINE", "demo"]


def demo(
    out: str | os.PathLike[str] = "edgeclas-demo",
    *,
    num_images: int | None = None,
    overrides: Sequence[str] = (),
    force: tuple[str, ...] = (),
    on_stage: Callable[[str, StageOutcome | None], None] | None = None,
) -> PipelineResult:
    """Run (or resume) the demo pipeline into ``out``; ``overrides`` are extra training ``-o`` options."""
    pipe = load_pipeline(DEMO_PIPELINE)
    if num_images is not None:
        pipe.stages["data"]["num"] = num_images
    pipe.stages["train"]["overrides"] = [*pipe.stages["train"]["overrides"], *overrides]
    return run_pipeline(pipe, out, force=force, on_stage=on_stage)
