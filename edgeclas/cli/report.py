"""``edgeclas report``: Markdown, HTML and JSON from a bench run, optionally compared with another run."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import cli, console, handle_errors, parse_csv


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--compare", "compare", default=None, type=click.Path(path_type=Path), metavar="OTHER_RUN",
              help="Baseline run: show the change per cell and mark regressions beyond noise.")
@click.option("--format", "formats", default="md,html", show_default=True, metavar="md,html,json")
@click.option("--out", "-o", default=None, type=click.Path(path_type=Path), help="Output folder (default: RUN_DIR).")
@click.option("--threshold", default=0.05, show_default=True, type=click.FloatRange(0, 10),
              help="Smallest relative p50 change called a regression (0.05 = 5 %).")
@click.option("--alpha", default=0.01, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Significance level of Welch's t-test.")
@click.option("--fail-on-regression", is_flag=True, help="Exit 8 when --compare finds a regression (for CI).")
@handle_errors
def report(run_dir, compare, formats, out, threshold, alpha, fail_on_regression) -> None:
    """Write report.md (for a PR comment) and a self-contained report.html with plots."""
    from ..errors import ValidationError
    from ..report import report as make_report

    res = make_report(run_dir, out, compare, parse_csv(formats), alpha=alpha, threshold=threshold)
    if res.warning:
        click.echo(f"warning: {res.warning}; edgeclas bench --resume sets them aside and runs those cells again",
                   err=True)
    c = console()
    c.print(f"{res.cells} cell(s), {res.failed} failed" + (
        f", {res.regressions} regression(s) vs {compare}" if res.regressions is not None else ""))
    for fmt, path in res.paths.items():
        c.print(f"{fmt}: {path}")
    if fail_on_regression and res.regressions:
        raise ValidationError(f"{res.regressions} regression(s) beyond noise vs {compare}",
                              hint=f"see {res.paths.get('md') or res.paths.get('html') or res.paths.get('json')}")
