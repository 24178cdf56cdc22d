"""The root click group and the one place where errors become messages and exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable, Sequence, TypeVar

import click

from .. import __version__
from ..errors import EdgeclasError

__all__ = ["cli", "main", "handle_errors", "console", "parse_csv", "TableChoice", "TableList"]

F = TypeVar("F", bound=Callable[..., Any])


def console():
    """A rich console on stdout (imported lazily: rich is not needed to parse options)."""
    import shutil

    from rich.console import Console

    # Piped output (CI logs, `| tee`) has no terminal width; rich would fold tables at 80 columns.
    width = None if sys.stdout.isatty() else max(120, shutil.get_terminal_size((120, 24)).columns)
    return Console(highlight=False, soft_wrap=True, width=width)


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # registration order, not alphabetical


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgeclas")
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """edgeclas: train, convert, cross-build, deploy and benchmark PaddleClas classifiers on phones.

    \b
    Typical flow:
      edgeclas data sample --task clarity --out data/clarity
      edgeclas train -c training/pulc_clarity.yaml -o Global.output_dir=runs/clarity
      edgeclas export runs/clarity/best --out models/clarity
      edgeclas convert models/clarity --to onnx     (and --to nb)
      edgeclas verify models/clarity --images data/clarity/images
      edgeclas build --arch armv8 ; edgeclas deploy --device SERIAL ... ; edgeclas bench --devices all ...
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def handle_errors(fn: F) -> F:
    """Turn :class:`EdgeclasError` into ``error: …`` / ``hint: …`` on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context(silent=True)
        debug = bool(ctx and ctx.find_root().obj and ctx.find_root().obj.get("debug"))
        try:
            return fn(*args, **kwargs)
        except EdgeclasError as e:
            if debug:
                raise
            click.echo(f"error: {e.message}", err=True)
            if e.hint:
                click.echo(f"hint: {e.hint}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def parse_csv(value: str | None, cast: Callable[[str], Any] = str) -> list[Any]:
    """``"1,2,4"`` → ``[1, 2, 4]``; raises ``click.BadParameter`` naming the bad item."""
    if value is None or value == "":
        return []
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(cast(item))
        except ValueError:
            raise click.BadParameter(f"'{item}' is not a valid value") from None
    return out


class TableChoice(click.Choice):
    """A ``click.Choice`` whose choices are read from a table each time they are needed, so a row added
    after the CLI was imported (an engine registered by a plugin or a test) is offered and accepted too."""

    def __init__(self, values: Callable[[], Sequence[str]]) -> None:
        self._values = values
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self._values())

    @choices.setter
    def choices(self, _value: Any) -> None:
        pass  # click.Choice.__init__ assigns it; the table is the source


class TableList(click.ParamType):
    """A comma-separated list whose help shows a table's current values (``lite,onnxruntime``); the stage
    function validates the items, so the API and the CLI refuse the same values with the same message."""

    name = "list"

    def __init__(self, values: Callable[[], Sequence[str]]) -> None:
        self._values = values

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return ",".join(self._values())

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        return value if isinstance(value, list) else parse_csv(value)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="edgeclas")
