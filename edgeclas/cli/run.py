"""``edgeclas run PIPELINE.yaml``: every stage from data to report, skipping what is up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._app import cli, console, handle_errors, no_verify_option, parse_csv


def stage_printer() -> Any:
    """``on_stage`` callback: a line when a stage starts, and one with its outcome."""
    from rich.markup import escape

    con = console()
    marks = {"ran": "[green]done[/]", "skipped": "[dim]skipped[/]", "partial": "[yellow]partial[/]",
             "failed": "[red]failed[/]"}

    def on_stage(name: str, outcome: Any) -> None:
        if outcome is None:
            con.print(escape(name) if name.startswith(" ") or " " in name else f"[bold]» {name}[/]")
        else:
            con.print(f"  {marks.get(outcome.status, outcome.status)} {name} in {outcome.seconds:.1f} s: "
                      f"{escape(outcome.summary)}")

    return on_stage


def print_result(res: Any) -> None:
    con = console()
    total = sum(s.seconds for s in res.stages)
    con.print()
    if res.verify_table is not None:
        con.print(res.verify_table)
    table = _device_predictions(res.out / "deploy" / "result.json")
    if table is not None:
        con.print(table)
    con.print(f"[bold]where everything is[/] ({total:.0f} s this run): {res.out}")
    for sub in ("data", "runs", "model", "build", "bench", "report"):
        if (res.out / sub).exists():
            con.print(f"  {sub:7s} {res.out / sub}")
    for fmt, path in res.report.items():
        con.print(f"[bold]report ({fmt}):[/] {path}")


def _device_predictions(result_file: Path) -> Any:
    """The deploy stage's predictions as a table (read back from its result file, so a skipped stage shows too)."""
    import json

    from rich.markup import escape
    from rich.table import Table

    if not result_file.is_file():
        return None
    rec = json.loads(result_file.read_text(encoding="utf-8"))
    run = rec.get("run") or {}
    if not run.get("predictions"):
        return None
    device = rec.get("device") or {}
    truth = _true_labels(rec)
    table = Table(title=escape(f"predictions on {device.get('serial', '?')} ({device.get('model', '')}, "
                               f"clas_system {run.get('engine', '')} {run.get('engine_version', '')})"))
    for col in ("image", "class id", "label", "score", "true label"):
        table.add_column(col)
    post = ((rec.get("bundle") or {}).get("postprocess") or {}).get("name", "Topk")
    for p in run["predictions"]:
        answer = p.get("classes") if p.get("classes") is not None else p.get("topk") or []
        answer = answer[:1] if post == "Topk" else answer  # the top class; a thresholded model: all it decided
        image = str(p.get("image", ""))
        want = truth.get(image.split("/", 1)[-1] if image.startswith("./") else image)
        got = ", ".join(str(t.get("label", "")) for t in answer)
        mark = "" if want is None else (" [green]✓[/]" if got == want else " [red]✗[/]")
        table.add_row(escape(image), ", ".join(str(t.get("class_id", "")) for t in answer), escape(got),
                      ", ".join(f"{t.get('score', float('nan')):.4f}" for t in answer),
                      ("-" if want is None else escape(want)) + mark)
    return table


def _true_labels(rec: dict) -> dict[str, str]:
    """Bundle image → its label in the model's validation list, when it came from there (the demo's case)."""
    from ..data import read_list
    from ..errors import EdgeclasError
    from ..model_dir import ModelDir

    try:
        model = ModelDir.load((rec.get("model") or {}).get("path", ""))
        if model.val_list is None or model.dataset_root is None:
            return {}
        items = read_list(model.val_list, model.dataset_root, model.class_num, model.multilabel)
    except (EdgeclasError, OSError):
        return {}  # the model or its dataset moved: no truth column to show
    by_path = {str(it.path.resolve()): it.label for it in items}
    out = {}
    for rel, src in ((rec.get("bundle") or {}).get("image_sources") or {}).items():
        label = by_path.get(str(Path(src).resolve()))
        if label is not None:
            ids = [i for i, on in enumerate(label) if on] if isinstance(label, tuple) else [label]
            out[rel] = ", ".join(model.labels[i] for i in ids)
    return out


@cli.command("run")
@click.argument("pipeline", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "-o", default=None, type=click.Path(path_type=Path),
              help="Output folder (default: ./<pipeline name>). Re-running resumes / skips up-to-date stages.")
@click.option("--force", default="", metavar="STAGE[,STAGE…]", help="Run these stages even if up to date.")
@no_verify_option
@handle_errors
def run(pipeline: Path, out: Path | None, force: str, no_verify: bool) -> None:
    """Run a pipeline: data → train → export → convert → verify → build → deploy → bench → report."""
    from ..pipeline import run_pipeline

    print_result(run_pipeline(pipeline, out, force=tuple(parse_csv(force)), on_stage=stage_printer(),
                              verify=not no_verify))
