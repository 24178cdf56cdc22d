"""``edgeclas search``: hyper-parameter search on Optuna over a recipe's ``-o`` keys."""

from __future__ import annotations

import math
from pathlib import Path

import click

from ._app import cli, console, handle_errors


def _value(v: float | None) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.4f}"


def _params(params: dict) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def print_trial(row) -> None:
    """One line per finished trial (module level: --jobs workers call it in their own processes)."""
    retry = f" (re-run of {row.retry_of})" if row.retry_of is not None else ""
    secs = f"{row.seconds:.1f} s" if row.seconds is not None else ""
    click.echo(f"trial {row.number}{retry}: {row.state.lower()} {_value(row.value)} after {row.epochs} "
               f"eval(s)  {_params(row.params)}  {secs}", err=True)


def _table(result, top: int) -> None:
    from rich.table import Table

    order = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}
    sign = -1 if result.direction == "maximize" else 1
    rows = sorted(result.trials, key=lambda t: (order.get(t.state, 5), sign * (t.value if t.value is not None else -sign * math.inf)))
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(result.counts.items(), key=lambda x: order.get(x[0], 5)))
    con = console()
    con.print(f"study {result.study} in {result.storage}: {counts or 'no trials'}  ({result.direction} {result.metric})")
    names = list(dict.fromkeys(k for t in rows for k in t.params))
    table = Table(show_edge=False)
    for col in ("trial", "state", result.metric, "evals", *names, "seconds", "run dir"):
        table.add_column(col, justify="right" if col not in ("state", "run dir") else "left")
    for t in rows[:top]:
        params = [f"{t.params[n]:.4g}" if isinstance(t.params.get(n), float) else str(t.params.get(n, "-")) for n in names]
        table.add_row(str(t.number) + (f"←{t.retry_of}" if t.retry_of is not None else ""), t.state.lower(),
                      _value(t.value), str(t.epochs), *params,
                      f"{t.seconds:.1f}" if t.seconds is not None else "-", Path(t.run_dir).name if t.run_dir else "-")
    con.print(table)
    if result.out:
        con.print(f"run dirs in {Path(result.out) / result.study}")
    if len(rows) > top:
        con.print(f"({len(rows) - top} more; --top N shows more)")


@cli.command()
@click.option("-c", "--config", "config", type=click.Path(dir_okay=False),
              help="Training recipe to search around (PaddleClas-style YAML).")
@click.option("--space", type=click.Path(dir_okay=False),
              help="Search space YAML: search_dict of search_key / replace_config / search_values or a range.")
@click.option("-o", "--override", "overrides", multiple=True, metavar="KEY.SUB=VALUE",
              help="Override a recipe value for every trial (repeatable); Global.output_dir places the search.")
@click.option("--trials", type=int, default=10, show_default=True,
              help="Trials the study should hold in total (re-running after a kill finishes the rest).")
@click.option("--jobs", type=int, default=1, show_default=True, help="Worker processes on this machine.")
@click.option("--storage", metavar="URL",
              help="Optuna RDB URL (sqlite:///…, postgresql://…, mysql+pymysql://…) shared by every worker and "
                   "machine. Default: sqlite:///OUT/search.db.")
@click.option("--study", help="Study name. Default: the recipe's file name.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Output directory (trials in OUT/STUDY/trial-NNNN). Default: the recipe's Global.output_dir.")
@click.option("--show", is_flag=True, help="Print the study's trials, best first, without running any.")
@click.option("--top", type=int, default=10, show_default=True, help="Rows of the table.")
@click.option("--export-best", "export_to", type=click.Path(dir_okay=False),
              help="Write the recipe with the best trial's values to this file.")
@handle_errors
def search(config: str | None, space: str | None, overrides: tuple[str, ...], trials: int, jobs: int,
           storage: str | None, study: str | None, out: str | None, show: bool, top: int,
           export_to: str | None) -> None:
    """Search hyper-parameters on Optuna; each trial a normal training run, pruned on its eval metrics.

    \b
      edgeclas search -c training/demo_clarity.yaml --space training/search/clarity.yaml --trials 8
      edgeclas search -c training/demo_clarity.yaml --show --export-best best.yaml
    """
    from .. import search as s
    from ..errors import ConfigError

    if show or (export_to and not space):
        if out is None and storage is None and config:
            from ..train.config import load_config

            out = load_config(config, list(overrides))["Global"]["output_dir"]
        result = s.show(storage, study or (Path(config).stem if config and not storage else None), out)
    else:
        if not config or not space:
            raise ConfigError("edgeclas search needs -c RECIPE and --space SPACE.yaml (or --show)")
        result = s.search(config, space, list(overrides), trials=trials, jobs=jobs, storage=storage, study=study,
                          out=out, progress=print_trial)
    _table(result, top)
    if export_to:
        path = s.export_best(result, export_to)
        console().print(f"best trial {result.best.number} written as a recipe: {path}")
