"""``edgeclas report``: Markdown (PR comments), self-contained HTML with plots, and JSON from a bench run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from ..fsutil import atomic_write_json, atomic_write_text

__all__ = ["FORMATS", "ReportResult", "report"]

FORMATS = ("md", "html", "json")


@dataclass
class ReportResult:
    run_dir: Path
    paths: dict[str, Path] = field(default_factory=dict)
    cells: int = 0
    failed: int = 0
    regressions: int | None = None  # None without --compare
    warning: str | None = None  # torn lines skipped in results.jsonl


def report(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    compare: str | os.PathLike[str] | None = None,
    formats: Sequence[str] = ("md", "html"),
    *,
    alpha: float = 0.01,
    threshold: float = 0.05,
) -> ReportResult:
    """Write ``report.md`` / ``report.html`` / ``report.json`` for ``run_dir`` into ``out`` (default: ``run_dir``)."""
    from .compare import compare_runs
    from .table import load_run

    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(f"--format: unknown format(s) {', '.join(bad) or '(none)'}", hint=f"choose from {', '.join(FORMATS)}")
    run = load_run(run_dir)
    changes = compare_name = None
    if compare is not None:
        other = load_run(compare)
        changes = compare_runs(other, run, alpha=alpha, threshold=threshold)
        compare_name = other.path.name
    out_dir = Path(out) if out is not None else run.path
    result = ReportResult(run_dir=run.path, cells=len(run.rows), failed=len(run.error_rows), warning=run.torn)
    if changes is not None:
        result.regressions = sum(c.verdict == "regression" for c in changes)
    if "md" in formats:
        from .markdown import render_markdown

        result.paths["md"] = atomic_write_text(out_dir / "report.md", render_markdown(run, changes, compare_name))
    if "html" in formats:
        from .html import render_html

        result.paths["html"] = atomic_write_text(out_dir / "report.html", render_html(run, changes, compare_name))
    if "json" in formats:
        body = {
            "run": str(run.path),
            "cells": [r.rec for r in run.rows],
            "superseded_records": run.superseded,
            "torn_lines": run.torn,
            "compare": None if changes is None else {"run": str(compare), "alpha": alpha, "threshold": threshold,
                                                     "changes": [c.to_dict() for c in changes]},
        }
        result.paths["json"] = atomic_write_json(out_dir / "report.json", body)
    return result
